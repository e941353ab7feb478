"""Read a plan before applying it: refuse what AWS would refuse mid-apply, or what loses data.

    make preflight ENV=prod                 # plan against AWS (credentials for the account), review
    make preflight ENV=prod ARGS=--offline  # plan with the local provider mirror and no state (no AWS)
    python -m tools.preflight --plan plan.json   # review `terraform show -json <planfile>` output

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--env", help="environment to synthesize and plan (config/<env>.yaml)")
    source.add_argument("--plan", type=Path, help="a plan's JSON (terraform show -json <planfile>)")
    parser.add_argument("--offline", action="store_true", help="plan with the local provider mirror (no AWS)")
    parser.add_argument("--accept", action="append", default=[], metavar="ADDRESS", help="accept this refusal")
    args = parser.parse_args(argv)
    try:
        if args.plan is not None:
            plan = json.loads(args.plan.read_text())
        else:
            (stack_file,) = stack_files([args.env]).values()
            plan = plan_offline(stack_file) if args.offline else plan_against_aws(stack_file)
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"preflight: could not plan: {error}", file=sys.stderr)
        return 2
    refused, accepted = report(plan, set(args.accept))
    changes = [c for c in plan.get("resource_changes", []) if c.get("change", {}).get("actions") != ["no-op"]]
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
