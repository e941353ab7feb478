"""The release step of a service the ECS controller deploys, run against a stand-in `aws` CLI.

CodePipeline's ECS action copies the revision the service runs and swaps its image, so it would
never carry a change Terraform made to the task definition. The release step registers the
build's taskdef.json instead; these tests run its commands, as CodeBuild runs them (one bash,
stopping at the first failing command), with an `aws` on PATH that records each call and answers
as ECS would in the case at hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modules import deploy_specs

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="the release step's commands use jq")

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/worker:0123456789ab-7"
NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-worker:8"
OLD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-worker:7"

#: Answers like the CLI: register prints the new revision; wait exits with the next of
#: $STABLE_ANSWERS (the last one repeats); describe prints $PRIMARY. Every call goes to calls.log.
FAKE_AWS = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$WORK/calls.log"
case "$2" in
  register-task-definition)
    file="${4#file://}"; cp "$file" "$WORK/registered.json"; echo "$NEW_REVISION" ;;
  update-service) echo "arn:aws:ecs:eu-west-1:123456789012:service/shop/shop-worker" ;;
  wait)
    n=$(grep -c ' wait ' "$WORK/calls.log"); set -- $STABLE_ANSWERS
    answer=${!n:-${@: -1}}; exit "$answer" ;;
  describe-services) echo "$PRIMARY" ;;
  *) echo "unexpected call: $*" >&2; exit 2 ;;
esac
"""


def task() -> deploy_specs.TaskSpec:
    container = deploy_specs.ContainerSpec(
        name="worker",
        port=8080,
        environment={"QUEUE": "orders", "FEATURE": "on"},
        secrets={},
        log_group_name="/ecs/shop-worker",
        region="eu-west-1",
        stop_timeout_seconds=30,
        readonly_root_filesystem=True,
    )
    return deploy_specs.TaskSpec(
        family="shop-worker",
        cpu=256,
        memory=512,
        cpu_architecture="ARM64",
        execution_role_arn="arn:aws:iam::123456789012:role/shop-worker-task-execution",
        task_role_arn="arn:aws:iam::123456789012:role/shop-worker-task",
        container=container,
        tags={"Service": "worker"},
    )


def run_release(
    tmp_path: Path, *, stable: str, primary: str, wait_minutes: int = 30
) -> subprocess.CompletedProcess[str]:
    """The step's commands in one bash, in a build directory holding the build's output."""
    (tmp_path / deploy_specs.IMAGE_DETAIL_FILE).write_text(json.dumps({"ImageURI": IMAGE}))
    (tmp_path / deploy_specs.TASKDEF_FILE).write_text(deploy_specs.taskdef_template(task()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    (tmp_path / "calls.log").write_text("")
    script = "\n".join(deploy_specs.release_buildspec(wait_minutes)["phases"]["build"]["commands"])
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WORK": str(tmp_path),
        "CLUSTER": "shop",
        "SERVICE": "shop-worker",
        "NEW_REVISION": NEW,
        "STABLE_ANSWERS": stable,
        "PRIMARY": primary,
    }
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_a_release_registers_the_stacks_task_definition_with_the_built_image(tmp_path: Path) -> None:
    done = run_release(tmp_path, stable="0", primary=NEW)
    assert done.returncode == 0, done.stderr + done.stdout
    registered = json.loads((tmp_path / "registered.json").read_text())
    expected = json.loads(deploy_specs.taskdef_template(task()))
    expected["containerDefinitions"][0]["image"] = IMAGE
    # Everything Terraform defines (environment, CPU, memory, roles, tags) reaches the release.
    assert registered == expected
    update = next(c for c in calls(tmp_path) if c.startswith("ecs update-service"))
    assert f"--task-definition {NEW}" in update and "--service shop-worker" in update


def test_a_release_ecs_rolled_back_fails_the_step(tmp_path: Path) -> None:
    done = run_release(tmp_path, stable="0", primary=OLD)
    assert done.returncode != 0
    assert f"rolled the release back to {OLD}" in done.stdout


def test_the_step_waits_again_while_the_deployment_runs_and_gives_up_at_its_bound(tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    (tmp_path / "stuck").mkdir()
    slow = run_release(tmp_path / "slow", stable="255 255 0", primary=NEW)
    assert slow.returncode == 0, slow.stderr + slow.stdout
    assert len([c for c in calls(tmp_path / "slow") if c.startswith("ecs wait")]) == 3
    stuck = run_release(tmp_path / "stuck", stable="255", primary=NEW, wait_minutes=25)
    assert stuck.returncode != 0 and "did not become stable" in stuck.stdout
    # 25 minutes are three waits of ten; then no describe, no success.
    waits = [c for c in calls(tmp_path / "stuck") if c.startswith("ecs wait")]
    assert len(waits) == 3
    assert not any(c.startswith("ecs describe-services") for c in calls(tmp_path / "stuck"))
