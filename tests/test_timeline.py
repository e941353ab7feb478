"""make timeline: worst-case release phases computed from the synthesized JSON."""

from __future__ import annotations

from tests.conftest import SynthesizedStack
from tools import timeline


def durations(stack: SynthesizedStack) -> dict[str, int]:
    return {phase.name: phase.seconds for phase in timeline.phases(stack.json)}


def test_prod_timeline(prod: SynthesizedStack) -> None:
    assert durations(prod) == {
        "build and push the image (timeout)": 20 * 60,
        "green tasks pass the health check": 10 * 2,
        "test-listener checks (hook timeout)": 60,  # prod runs no load test: no such phase
        "wait for an operator to continue": 60 * 60,
        "shift production traffic (canary)": 5 * 60,
        "drain blue's connections": 30,
        "keep blue for instant rollback": 60 * 60,
    }


def test_custom_linear_shift_is_read_from_the_created_config(synthesized: dict[str, SynthesizedStack]) -> None:
    staging = durations(synthesized["staging"])
    # 20% every 2 minutes: 20, 40, 60, 80, 100 -> four waits of 2 minutes.
    assert staging["shift production traffic (linear)"] == 4 * 2 * 60
    # A 120-second load test: its build may take 2 minutes plus 5 for provisioning and reporting.
    assert staging["load test through the test listener"] == (2 + 5) * 60
    assert "wait for an operator to continue" not in staging


def test_all_at_once_shifts_in_one_step_and_the_table_sums(synthesized: dict[str, SynthesizedStack]) -> None:
    dev = synthesized["dev"]
    assert durations(dev)["shift production traffic (all_at_once)"] == 0
    table = timeline.render(dev.json)
    total = sum(durations(dev).values())
    assert "total" in table and f"{total // 60} min {total % 60:02d} s" in table
    assert table.splitlines()[-1].startswith("rollback: instant")


def test_step_arithmetic() -> None:
    assert timeline.shift_seconds("linear", 10, 1) == 9 * 60
    assert timeline.shift_seconds("linear", 33, 1) == 3 * 60  # 33, 66, 99, 100
    assert timeline.shift_seconds("canary", 10, 15) == 15 * 60


def test_ecs_native_timeline_reads_the_service_configuration(ecs_stack: SynthesizedStack) -> None:
    phases = durations(ecs_stack)
    # sandbox: 25% every minute -> three waits of a minute; blue kept for the 2-minute bake.
    assert phases["shift production traffic (linear)"] == 3 * 60
    assert phases["keep blue for instant rollback"] == 2 * 60
