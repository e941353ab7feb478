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

DEPLOYMENT_ID = "ecs-svc/9313423515462893900"
SERVICE_DEPLOYMENT = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/shop/shop-worker/EZe5RNVLH6PPzHXINuP28"

#: Answers like the CLI: register prints the new revision; update the new PRIMARY deployment's
#: id; list finds the service deployment once $LISTED_AFTER lists have run (the record appears a
#: moment after the update); describe prints the next of $STATUSES (the last one repeats).
#: Every call goes to calls.log; sleep returns at once, after a second of the step's clock.
FAKE_AWS = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$WORK/calls.log"
case "$2" in
  register-task-definition)
    file="${4#file://}"; cp "$file" "$WORK/registered.json"; echo "$NEW_REVISION" ;;
  update-service) echo "$DEPLOYMENT_ID" ;;
  list-service-deployments)
    n=$(grep -c 'list-service-deployments' "$WORK/calls.log")
    if [ "$n" -gt "$LISTED_AFTER" ]; then echo "$SERVICE_DEPLOYMENT"; else echo None; fi ;;
  describe-service-deployments)
    n=$(grep -c 'describe-service-deployments' "$WORK/calls.log"); set -- $STATUSES
    echo "${!n:-${@: -1}}" ;;
  *) echo "unexpected call: $*" >&2; exit 2 ;;
esac
"""
FAKE_SLEEP = "#!/usr/bin/env bash\nexec /bin/sleep 0.05\n"


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
    tmp_path: Path, *, statuses: str, listed_after: int = 0, wait_seconds: int = 1800
) -> subprocess.CompletedProcess[str]:
    """The step's commands in one bash, in a build directory holding the build's output."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / deploy_specs.IMAGE_DETAIL_FILE).write_text(json.dumps({"ImageURI": IMAGE}))
    (tmp_path / deploy_specs.TASKDEF_FILE).write_text(deploy_specs.taskdef_template(task()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("sleep", FAKE_SLEEP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "calls.log").write_text("")
    script = "\n".join(deploy_specs.release_buildspec(wait_seconds)["phases"]["build"]["commands"])
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WORK": str(tmp_path),
        "CLUSTER": "shop",
        "SERVICE": "shop-worker",
        "NEW_REVISION": NEW,
        "DEPLOYMENT_ID": DEPLOYMENT_ID,
        "SERVICE_DEPLOYMENT": SERVICE_DEPLOYMENT,
        "LISTED_AFTER": str(listed_after),
        "STATUSES": statuses,
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
    done = run_release(tmp_path, statuses="IN_PROGRESS SUCCESSFUL", listed_after=2)
    assert done.returncode == 0, done.stderr + done.stdout
    registered = json.loads((tmp_path / "registered.json").read_text())
    expected = json.loads(deploy_specs.taskdef_template(task()))
    expected["containerDefinitions"][0]["image"] = IMAGE
    # Everything Terraform defines (environment, CPU, memory, roles, tags) reaches the release.
    assert registered == expected
    log = calls(tmp_path)
    update = next(c for c in log if c.startswith("ecs update-service"))
    assert f"--task-definition {NEW}" in update and "--service shop-worker" in update
    # It follows the deployment of this update, found by its id, until that ends.
    assert "9313423515462893900" in next(c for c in log if c.startswith("ecs list-service-deployments"))
    assert [c for c in log if c.startswith("ecs describe-service-deployments")] == [
        f"ecs describe-service-deployments --service-deployment-arns {SERVICE_DEPLOYMENT}"
        " --query serviceDeployments[0].status --output text"
    ] * 2


@pytest.mark.parametrize("ending", ["ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED"])
def test_a_release_ecs_rolled_back_or_an_operator_stopped_fails_the_step(tmp_path: Path, ending: str) -> None:
    done = run_release(tmp_path, statuses=f"IN_PROGRESS ROLLBACK_IN_PROGRESS {ending}")
    assert done.returncode != 0
    assert f"the release did not succeed: {ending}" in done.stdout
    # ... having waited through the rollback to its end, not stopped at its start.
    assert len([c for c in calls(tmp_path) if c.startswith("ecs describe-service-deployments")]) == 3


def test_the_step_gives_up_at_its_bound(tmp_path: Path) -> None:
    running = run_release(tmp_path / "running", statuses="IN_PROGRESS", wait_seconds=2)
    assert running.returncode != 0 and "the release did not succeed: IN_PROGRESS" in running.stdout
    unrecorded = run_release(tmp_path / "unrecorded", statuses="SUCCESSFUL", listed_after=10**6, wait_seconds=2)
    assert unrecorded.returncode != 0
    assert f"ECS recorded no service deployment for {DEPLOYMENT_ID}" in unrecorded.stdout
    assert not any(c.startswith("ecs describe-service-deployments") for c in calls(tmp_path / "unrecorded"))
