"""Read a plan before applying it: refuse what AWS would refuse mid-apply, or what loses data.

    make preflight ENV=prod                 # plan against AWS (credentials for the account), review
    make preflight ENV=prod ARGS=--offline  # plan with the local provider mirror and no state (no AWS)
    python -m tools.preflight --plan plan.json   # review `terraform show -json <planfile>` output
    python -m tools.preflight --plan plan.json --stack cdk.tf.json   # ... and say whose each change is

The plan is the whole stack's, so every service's changes are reviewed, whichever is released;
the report counts them by service (and the platform's) to show what an apply touches.

Refused (aws_rules/updates.py): updates of what a CODE_DEPLOY service's controller owns;
replacing or destroying a stateful resource (database, key, bucket, repository, secret, ...);
replacing a target group, parameter group or subnet group still in use; replacing the subnets
or security groups the service's tasks run in. Each refusal says what to do instead. A refusal
that is meant (a planned teardown) is accepted by naming it: ``--accept <address>``.
Exit status: 0 reviewed and clear, 1 refused, 2 could not plan.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from aws_rules.updates import Refusal, review
from tools.harness.terraform_offline import Workspace, find_toolchain, offline_document, stack_files
from tools.stack_json import addresses_by_service


def plan_against_aws(stack_file: Path) -> dict[str, Any]:
    """``terraform plan`` of the synthesized stack with the account's credentials and state."""
    folder = stack_file.parent

    def run(*args: str) -> str:
        done = subprocess.run(["terraform", *args], cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"terraform {args[0]} failed:\n{done.stderr or done.stdout}")
        return done.stdout

    run("init", "-input=false")
    run("plan", "-input=false", "-lock=false", "-out=preflight.plan")
    plan: dict[str, Any] = json.loads(run("show", "-json", "preflight.plan"))
    return plan


def plan_offline(stack_file: Path) -> dict[str, Any]:
    """``terraform plan`` with the mirrored provider, dummy credentials and an empty state."""
    toolchain = find_toolchain()
    if isinstance(toolchain, str):
        raise RuntimeError(f"cannot plan offline: {toolchain}")
    workspace = Workspace(toolchain, Path(tempfile.mkdtemp(prefix="preflight-")))
    document = json.loads(stack_file.read_text())
    workspace.write(offline_document(document, toolchain.provider_version, plan=True), stack_file.parent)
    for step in (workspace.init(), workspace.plan()):
        if step.returncode != 0:
            raise RuntimeError(step.stderr or step.stdout)
    return workspace.show_plan()


def report(plan: dict[str, Any], accepted: set[str]) -> tuple[list[Refusal], list[Refusal]]:
    """(refused, accepted) refusals of a plan."""
    refusals = review(plan)
    return [r for r in refusals if r.address not in accepted], [r for r in refusals if r.address in accepted]


def by_service(changes: list[dict[str, Any]], refused: list[Refusal], owners: dict[str, str | None]) -> str:
    """Where the planned changes fall: each service (every one the stack has, changed or not),
    then the platform, so a reviewer sees which services an apply touches and which it leaves."""
    keys = sorted({key for key in owners.values() if key is not None})
    counts: dict[str | None, list[int]] = {key: [0, 0] for key in [*keys, None]}
    refused_addresses = {r.address for r in refused}
    for change in changes:
        # An address the stack does not have (a destroy of something removed from it) is counted as the platform's.
        count = counts.setdefault(owners.get(change["address"]), [0, 0])
        count[0] += 1
        count[1] += change["address"] in refused_addresses
    parts = [f"{key if key else 'platform'} {n}" + (f" ({r} refused)" if r else "") for key, (n, r) in counts.items()]
    return "changes by service: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--env", help="environment to synthesize and plan (config/<env>.yaml)")
    source.add_argument("--plan", type=Path, help="a plan's JSON (terraform show -json <planfile>)")
    parser.add_argument("--offline", action="store_true", help="plan with the local provider mirror (no AWS)")
    parser.add_argument("--accept", action="append", default=[], metavar="ADDRESS", help="accept this refusal")
    parser.add_argument(
        "--stack", type=Path, help="with --plan: the stack's cdk.tf.json, to say which service each change is of"
    )
    args = parser.parse_args(argv)
    try:
        if args.plan is not None:
            plan = json.loads(args.plan.read_text())
            stack_file = args.stack
        else:
            (stack_file,) = stack_files([args.env]).values()
            plan = plan_offline(stack_file) if args.offline else plan_against_aws(stack_file)
        # Every service's changes are reviewed (the plan is the whole stack's); the stack says whose each is.
        owners = addresses_by_service(json.loads(stack_file.read_text())) if stack_file else None
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"preflight: could not plan: {error}", file=sys.stderr)
        return 2
    refused, accepted = report(plan, set(args.accept))
    changes = [c for c in plan.get("resource_changes", []) if c.get("change", {}).get("actions") != ["no-op"]]
    if owners is not None:
        print(f"preflight: {by_service(changes, refused, owners)}")
    for refusal in accepted:
        print(f"accepted: {refusal}")
    if refused:
        print(f"preflight: {len(refused)} of {len(changes)} planned change(s) refused; nothing was applied:")
        for refusal in refused:
            print(f"  {refusal}")
        return 1
    print(f"preflight: {len(changes)} planned change(s) reviewed; none that AWS refuses or that loses data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
