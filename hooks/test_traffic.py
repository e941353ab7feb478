"""CodeDeploy lifecycle hook (AfterAllowTestTraffic): test green through the test listener.

Runs before any production traffic reaches green. It calls the app's readiness, version and a
short smoke scenario of its real API through the ALB's test listener, then reports Succeeded or
Failed to CodeDeploy; a failure stops the deployment and rolls back. Standard library and boto3
only (both in the Lambda runtime).

With a load test configured (LOAD_TEST_PROJECT), passing the smoke checks starts that CodeBuild
project instead of reporting success: green is judged when the build ends. Under CodeDeploy the
build's state-change event (EventBridge) invokes this function again, which reports the verdict
with the hook execution id the build carried; under ECS-native blue/green the function answers
IN_PROGRESS and ECS calls it again, with the build id in hookDetails, until the build ends.

Environment: TEST_URL (e.g. https://<alb>:8443), CHECK_TIMEOUT_SECONDS (default 5),
LOAD_TEST_PROJECT (optional).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from hooks.load_test import request

log = logging.getLogger()
log.setLevel(logging.INFO)

#: Set by tests to stubbed clients; created on first use in Lambda.
CODEDEPLOY: Any = None
CODEBUILD: Any = None
#: hookDetails key that carries the load test's build id between ECS's invocations.
BUILD_ID_KEY = "loadTestBuildId"
#: Seconds ECS waits before asking again while the load test runs.
ECS_CALLBACK_DELAY_SECONDS = 30


class CheckFailed(Exception):
    pass


def _client(name: str) -> Any:
    cached = globals()[name.upper()]
    if cached is None:
        import boto3

        cached = globals()[name.upper()] = boto3.client(name)
    return cached


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    try:
        return request(method, url, body, float(os.environ.get("CHECK_TIMEOUT_SECONDS", "5")))
    except OSError as error:
        raise CheckFailed(f"{method} {url}: {error}") from None


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


def check_ready(base: str) -> str:
    status, body = _call("GET", f"{base}/ready")
    _expect(status == 200, f"/ready answered {status} {body}")
    return "ready"


def check_version(base: str) -> str:
    status, body = _call("GET", f"{base}/version")
    _expect(status == 200 and isinstance(body, dict) and "version" in body, f"/version answered {status} {body}")
    return f"version {body['version']} ({body.get('commit')})"


def check_notes_round_trip(base: str) -> str:
    title = f"deployment smoke test {time.time_ns()}"
    status, created = _call("POST", f"{base}/notes", {"title": title, "body": "written by the test-traffic hook"})
    _expect(status == 201 and isinstance(created, dict), f"POST /notes answered {status}")
    status, read = _call("GET", f"{base}/notes/{created['id']}")
    _expect(status == 200 and read == created, f"GET /notes/{created['id']} answered {status} {read}")
    return "notes round trip"


CHECKS: list[Callable[[str], str]] = [check_ready, check_version, check_notes_round_trip]


def run_checks(base: str) -> list[str]:
    return [check(base) for check in CHECKS]


def start_load_test(project: str, carried: dict[str, str]) -> str:
    """Start the load test build; ``carried`` lands in its environment (and in its end event)."""
    overrides = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in carried.items()]
    build = _client("codebuild").start_build(projectName=project, environmentVariablesOverride=overrides)
    build_id: str = build["build"]["id"]
    return build_id


def load_test_status(build_id: str) -> str:
    """ECS hookStatus for the load test build: IN_PROGRESS until it ends, then its verdict."""
    builds = _client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    status = builds[0]["buildStatus"] if builds else "MISSING"
    if status == "IN_PROGRESS":
        return "IN_PROGRESS"
    return "SUCCEEDED" if status == "SUCCEEDED" else "FAILED"


def report(event: dict[str, Any], status: str) -> None:
    _client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )


def load_test_ended(event: dict[str, Any]) -> dict[str, str]:
    """CodeBuild's state-change event for a load test build: report its verdict to CodeDeploy."""
    detail = event["detail"]
    variables = {
        v["name"]: v["value"] for v in detail["additional-information"]["environment"]["environment-variables"]
    }
    if "HOOK_EXECUTION_ID" not in variables:  # started by ECS or by hand: nobody to report to
        return {"status": "Ignored"}
    status = "Succeeded" if detail["build-status"] == "SUCCEEDED" else "Failed"
    log.info(json.dumps({"message": "load test ended", "build": detail["build-id"], "status": status}))
    report(
        {"DeploymentId": variables["DEPLOYMENT_ID"], "LifecycleEventHookExecutionId": variables["HOOK_EXECUTION_ID"]},
        status,
    )
    return {"status": status}


def _ask_again_later(build_id: str) -> dict[str, Any]:
    """ECS calls the hook again after the delay, handing back hookDetails: the build to look at."""
    return {
        "hookStatus": "IN_PROGRESS",
        "callBackDelay": ECS_CALLBACK_DELAY_SECONDS,
        "hookDetails": {BUILD_ID_KEY: build_id},
    }


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """CodeDeploy's hook event carries a hook execution id, and the result is reported through its
    API; ECS's lifecycle hook reads the result from the return value (hookStatus)."""
    if event.get("source") == "aws.codebuild":
        return load_test_ended(event)
    ecs = "LifecycleEventHookExecutionId" not in event
    build_id = (event.get("hookDetails") or {}).get(BUILD_ID_KEY)
    if ecs and build_id:
        status = load_test_status(build_id)
        return _ask_again_later(build_id) if status == "IN_PROGRESS" else {"hookStatus": status}

    base = os.environ["TEST_URL"].rstrip("/")
    deployment = event.get("DeploymentId") or event.get("executionDetails", {}).get("serviceArn", "ecs")
    try:
        passed = run_checks(base)
        status = "Succeeded"
        log.info(json.dumps({"message": "green passed", "checks": passed, "deployment": deployment}))
    except CheckFailed as failure:
        status = "Failed"
        log.error(json.dumps({"message": "green failed", "reason": str(failure), "deployment": deployment}))

    project = os.environ.get("LOAD_TEST_PROJECT")
    if status == "Succeeded" and project:
        carried = (
            {}
            if ecs
            else {"DEPLOYMENT_ID": event["DeploymentId"], "HOOK_EXECUTION_ID": event["LifecycleEventHookExecutionId"]}
        )
        try:
            build_id = start_load_test(project, carried)
        except Exception as error:  # any failure to start must fail the deployment, not leave it waiting
            status = "Failed"
            log.error(
                json.dumps({"message": "load test did not start", "reason": str(error), "deployment": deployment})
            )
        else:
            log.info(json.dumps({"message": "load test started", "build": build_id, "deployment": deployment}))
            if ecs:
                return _ask_again_later(build_id)
            return {"status": "LoadTestStarted", "build": build_id}

    if ecs:
        return {"hookStatus": "SUCCEEDED" if status == "Succeeded" else "FAILED"}
    report(event, status)
    return {"status": status}
