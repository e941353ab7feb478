"""Every environment applied into an AWS emulator (moto), re-planned with no changes, destroyed.

What a real account already holds (the ACM certificate, the CodeConnections connection) is created
in the emulator first; moto's defects that the real provider trips over are patched in the harness
(tools/harness/emulator_patches.py), never in the product. Skipped, with the reason shown, where Terraform,
the provider mirror or moto is missing. Two cycles run at once (PARALLEL_CYCLES), each with its
own emulator. The logs of each step (and moto's) are kept in the session's temporary folder:
tail -f <tmp>/emulator-<env>*/terraform/apply.log to watch a run.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import traceback
from concurrent.futures import ThreadPoolExecutor
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


#: Cycles run two at a time: a cycle spends about half its time waiting on the provider's polls
#: (dev: 126 s of CPU in 255 s), so two share this machine's two cores well.
PARALLEL_CYCLES = 2


@dataclass(frozen=True)
class Outcome:
    summary: str
    patches: tuple[str, ...]
    #: What went wrong, with the step's log tail; None when every step passed.
    failure: str | None


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


def newer_provider_needed(target: Target, toolchain: Toolchain) -> str | None:
    return needs_newer_provider(json.loads(target.stack.read_text()), toolchain.provider_version)


def cycle_steps(cycle: Cycle, env: str) -> str | None:
    """apply, re-plan, (preflight,) destroy; the first failure, or None."""
    init = cycle.prepare()
    if init.returncode != 0:
        return f"terraform init failed:\n{init.tail()}"
    apply = cycle.apply()
    if apply.returncode != 0:
        return f"terraform apply failed (log: {apply.log}):\n{apply.tail()}"
    replan = cycle.replan()
    if replan.returncode != 0:
        return (
            f"re-plan after apply is not empty (exit {replan.returncode}; log: {replan.log}):\n"
            f"{plan_diff(replan.log.read_text()) or replan.tail()}"
        )
    if env == PREFLIGHT_ENVIRONMENT:
        try:
            preflight_reads_real_plans(cycle)
        except AssertionError:
            return f"preflight on the applied stack:\n{traceback.format_exc()}"
    destroy = cycle.destroy()
    if destroy.returncode != 0:
        return f"terraform {destroy.name} failed (log: {destroy.log}):\n{destroy.tail()}"
    return None


def run_cycle(toolchain: Toolchain, target: Target, emulator: Emulator, folder: Path) -> Outcome:
    """One environment's cycle in its own, already listening, emulator; stops it at the end. Any
    error is the environment's own outcome (its test reports it), never the other cycles'."""
    try:
        cycle = Cycle(toolchain, target, emulator, folder / "terraform")
        try:
            failure = cycle_steps(cycle, target.env)
        except Exception:
            failure = traceback.format_exc()
        return Outcome(cycle.result.summary(), tuple(emulator.patches()), failure)
    except Exception:
        return Outcome(f"{target.env}: the cycle did not start", (), traceback.format_exc())
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def cycles(
    request: pytest.FixtureRequest,
    toolchain: Toolchain,
    targets: dict[str, Target],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Outcome]:
    """The cycles of the environments this session tests, PARALLEL_CYCLES at a time. Each has a
    fresh emulator on a free loopback port for its account, started here one after another (so
    no two pick the same port); the logs stay in emulator-<env>*/ of the session's temp folder."""
    selected = {
        item.callspec.params["env"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "env" in item.callspec.params
    }
    runnable = [e for e in ENVIRONMENTS if e in selected and not newer_provider_needed(targets[e], toolchain)]
    started: dict[str, tuple[Emulator, Path]] = {}
    try:
        for env in runnable:
            folder = tmp_path_factory.mktemp(f"emulator-{env}")
            emulator = Emulator(targets[env].account_id, folder / "moto.log")
            emulator.start()
            started[env] = (emulator, folder)
    except BaseException:
        for emulator, _ in started.values():
            emulator.stop()
        raise
    with ThreadPoolExecutor(PARALLEL_CYCLES) as pool:
        futures = {
            env: pool.submit(run_cycle, toolchain, targets[env], emulator, folder)
            for env, (emulator, folder) in started.items()
        }
        return {env: future.result() for env, future in futures.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply_then_replan_shows_no_changes_then_destroy(
    env: str,
    toolchain: Toolchain,
    targets: dict[str, Target],
    cycles: dict[str, Outcome],
    record_property: pytest.RecordProperty,
) -> None:
    reason = newer_provider_needed(targets[env], toolchain)
    if reason:
        pytest.skip(f"{env}: {reason}")
    outcome = cycles[env]
    print(f"\n{outcome.summary}\npatches: {', '.join(outcome.patches) or 'none'}")
    record_property("emulator_patches", ",".join(outcome.patches))
    record_property("emulator_cycle", outcome.summary)
    assert outcome.failure is None, outcome.failure
