"""make timeline: worst-case release phases computed from the synthesized JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SynthesizedStack
from tests.two_services import with_second_service
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


def _service_resource(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    """The resource at ``path`` below the stack (the primary region's, not its DR copy)."""
    stack = document["//"]["metadata"]["stackName"]
    (body,) = [b for b in document["resource"][resource_type].values() if b["//"]["metadata"]["path"] == stack + path]
    return body


def test_each_service_is_timed_from_its_own_resources(prod: SynthesizedStack) -> None:
    document = with_second_service(prod.json)
    # api's build, health check, hook and shift differ from app's: each must be read from api's own.
    _service_resource(document, "aws_codebuild_project", "/services/api/codepipeline/build")["build_timeout"] = 30
    _service_resource(document, "aws_lb_target_group", "/services/api/route/green")["health_check"]["interval"] = 15
    _service_resource(document, "aws_lambda_function", "/services/api/deployment_hooks/test_traffic")["timeout"] = 300
    group = _service_resource(
        document, "aws_codedeploy_deployment_group", "/services/api/codepipeline/deployment_group"
    )
    group["deployment_config_name"] = "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
    api = {phase.name: phase.seconds for phase in timeline.phases(document, "api")}
    assert api["build and push the image (timeout)"] == 30 * 60
    assert api["green tasks pass the health check"] == 15 * 2
    assert api["test-listener checks (hook timeout)"] == 300
    assert api["shift production traffic (linear)"] == 9 * 3 * 60
    assert {phase.name: phase.seconds for phase in timeline.phases(document, "app")} == durations(prod)
    # Each service rolls back on its own: the table says which one to name.
    assert "`make rollback SERVICE=api`" in timeline.render(document, "api")


def test_with_several_services_the_timeline_refuses_to_guess(
    prod: SynthesizedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "cdk.tf.json"
    file.write_text(json.dumps(with_second_service(prod.json)))
    assert timeline.main([str(file)]) == 2
    assert "several services (api, app): name one with SERVICE=<key>" in capsys.readouterr().err
    assert timeline.main([str(file), "--service", "web"]) == 2
    assert "no service 'web'; its services: api, app" in capsys.readouterr().err
    assert timeline.main([str(file), "--service", "api"]) == 0
    assert capsys.readouterr().out.startswith("phase")


def test_a_single_service_stack_is_timed_without_naming_it(
    prod: SynthesizedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert timeline.main([str(prod.file)]) == 0
    table = capsys.readouterr().out
    assert table == timeline.render(prod.json, "app") + "\n"
    assert "`make rollback`" in table and "SERVICE=" not in table
