"""CodeDeploy lifecycle hook (AfterAllowTestTraffic): test green through the test listener.

Runs before any production traffic reaches green. It calls the app's readiness, version and a
short smoke scenario of its real API through the ALB's test listener, then reports Succeeded or
Failed to CodeDeploy; a failure stops the deployment and rolls back. Standard library and boto3
only (both in the Lambda runtime).

Environment: TEST_URL (e.g. https://<alb>:8443), CHECK_TIMEOUT_SECONDS (default 5).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger()
log.setLevel(logging.INFO)

#: Set by tests to a stubbed client; created on first use in Lambda.
CODEDEPLOY: Any = None


class CheckFailed(Exception):
    pass


def _codedeploy() -> Any:
    global CODEDEPLOY
    if CODEDEPLOY is None:
        import boto3

        CODEDEPLOY = boto3.client("codedeploy")
    return CODEDEPLOY


def _tls_context() -> ssl.SSLContext:
    # The certificate names the service's domain, not the ALB's DNS name the hook calls: the
    # chain is still verified, the host name is not.
    context = ssl.create_default_context()
    context.check_hostname = False
    return context


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310
    timeout = float(os.environ.get("CHECK_TIMEOUT_SECONDS", "5"))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_tls_context()) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
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


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    """CodeDeploy's hook event carries a hook execution id, and the result is reported through its
    API; ECS's lifecycle hook reads the result from the return value (hookStatus)."""
    base = os.environ["TEST_URL"].rstrip("/")
    deployment = event.get("DeploymentId") or event.get("executionDetails", {}).get("serviceArn", "ecs")
    try:
        passed = run_checks(base)
        status = "Succeeded"
        log.info(json.dumps({"message": "green passed", "checks": passed, "deployment": deployment}))
    except CheckFailed as failure:
        status = "Failed"
        log.error(json.dumps({"message": "green failed", "reason": str(failure), "deployment": deployment}))
    if "LifecycleEventHookExecutionId" not in event:
        return {"hookStatus": "SUCCEEDED" if status == "Succeeded" else "FAILED"}
    _codedeploy().put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status}
