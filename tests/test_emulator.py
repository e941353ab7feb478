"""Every environment applied into an AWS emulator (moto), re-planned with no changes, destroyed.

What a real account already holds (the ACM certificate, the CodeConnections connection) is created
in the emulator first; moto's defects that the real provider trips over are patched in the harness
(tools/harness/emulator_patches.py), never in the product. Skipped, with the reason shown, where Terraform,
the provider mirror or moto is missing. The logs of each step (and moto's) are kept in the test's
temporary folder: tail -f <tmp>/emulator-<env>*/terraform/apply.log to watch a run.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aws_rules.updates import review
from config import shipped_environments
from tools.harness.emulator_cycle import Cycle, Emulator, Target, plan_diff, synthesize
from tools.harness.terraform_offline import Toolchain, find_toolchain, needs_newer_provider

pytestmark = pytest.mark.slow

ENVIRONMENTS = shipped_environments()
#: The environment whose applied stack also proves `make preflight` on real plans.
PREFLIGHT_ENVIRONMENT = "dev"


def _one(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    (body,) = [
        b for b in document["resource"][resource_type].values() if b["//"]["metadata"]["path"].endswith("/" + path)
    ]
    return body


def preflight_reads_real_plans(cycle: Cycle) -> None:
    """Plans against the applied stack, as an operator would make them, reviewed by preflight."""
    moved = copy.deepcopy(cycle.document)
    _one(moved, "aws_subnet", "networking/private_0")["cidr_block"] = "10.10.240.0/20"
    refused = {r.address: r for r in review(cycle.plan_of(moved, "preflight-subnets"))}
    (subnet,) = [a for a in refused if a.startswith("aws_subnet.networking_private_0")]
    assert (
        "aws_ecs_service.services_app_ecs_service" in refused[subnet].what
        and "DependencyViolation" in refused[subnet].what
    )

    renamed = copy.deepcopy(cycle.document)
    _one(renamed, "aws_rds_cluster", "database/cluster")["database_name"] = "renamed"
    refused = {r.address: r for r in review(cycle.plan_of(renamed, "preflight-database"))}
    (cluster,) = [a for a in refused if a.startswith("aws_rds_cluster.database_cluster")]
    assert refused[cluster].what.startswith("replaces the database") and "database_name" in refused[cluster].fix

    released = copy.deepcopy(cycle.document)
    task = _one(released, "aws_ecs_task_definition", "services/app/ecs/task_definition")
    task["container_definitions"] = task["container_definitions"].replace(":bootstrap", ":abc123-7")
    plan = cycle.plan_of(released, "preflight-image")
    replaced = [c["address"] for c in plan["resource_changes"] if "delete" in c["change"]["actions"]]
    assert [a.split(".")[0] for a in replaced] == ["aws_ecs_task_definition"], replaced
    assert review(plan) == [], "a new image is a release, not a refused change"


@dataclass(frozen=True)
class Running:
    target: Target
    emulator: Emulator
    folder: Path


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    found = find_toolchain()
    if isinstance(found, str):
        pytest.skip(f"the emulator cycle needs Terraform and a provider mirror: {found}")
    if importlib.util.find_spec("moto") is None:
        pytest.skip("the emulator cycle needs moto[server] (not importable in this environment)")
    return found


@pytest.fixture(scope="module")
def targets(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Target]:
    """Every environment synthesized once (one process), pointed at an existing connection."""
    return synthesize(ENVIRONMENTS, tmp_path_factory.mktemp("emulator-synth"))


@pytest.fixture(params=ENVIRONMENTS, ids=ENVIRONMENTS)
def running(
    request: pytest.FixtureRequest,
    targets: dict[str, Target],
    tmp_path_factory: pytest.TempPathFactory,
    record_property: pytest.RecordProperty,
) -> Iterator[Running]:
    """A fresh emulator on a free loopback port, for the environment's account; stopped afterwards."""
    target = targets[request.param]
    toolchain = request.getfixturevalue("toolchain")
    reason = needs_newer_provider(json.loads(target.stack.read_text()), toolchain.provider_version)
    if reason:
        pytest.skip(f"{target.env}: {reason}")
    folder = tmp_path_factory.mktemp(f"emulator-{target.env}")
    emulator = Emulator(target.account_id, folder / "moto.log")
    emulator.start()
    try:
        patches = emulator.patches()
        print(f"\n{target.env}: emulator on {emulator.endpoint}, patches: {', '.join(patches) or 'none'}")
        record_property("emulator_patches", ",".join(patches))
        yield Running(target, emulator, folder)
    finally:
        emulator.stop()


def test_apply_then_replan_shows_no_changes_then_destroy(
    running: Running, toolchain: Toolchain, record_property: pytest.RecordProperty
) -> None:
    cycle = Cycle(toolchain, running.target, running.emulator, running.folder / "terraform")
    try:
        init = cycle.prepare()
        assert init.returncode == 0, init.tail()

        apply = cycle.apply()
        assert apply.returncode == 0, f"terraform apply failed (log: {apply.log}):\n{apply.tail()}"

        replan = cycle.replan()
        assert replan.returncode == 0, (
            f"re-plan after apply is not empty (exit {replan.returncode}; log: {replan.log}):\n"
            f"{plan_diff(replan.log.read_text()) or replan.tail()}"
        )

        if running.target.env == PREFLIGHT_ENVIRONMENT:
            preflight_reads_real_plans(cycle)

        destroy = cycle.destroy()
        assert destroy.returncode == 0, f"terraform {destroy.name} failed (log: {destroy.log}):\n{destroy.tail()}"
    finally:
        print(cycle.result.summary())
        record_property("emulator_cycle", cycle.result.summary())
