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

The build's end is never taken on the event's word: the function reads the build back from
CodeBuild (BatchGetBuilds) and reports only for a build of its own project, started by its own
identity (LOAD_TEST_INITIATOR), carrying the deployment's ids, with a final status; the verdict and
the ids come from CodeBuild's answer. Anything else is logged and ignored.

Green's certificate is verified for the service's host name, not the ALB's DNS name the URL
names: TEST_HOSTNAME, or else the domain of TEST_CERTIFICATE_ARN's certificate (read from ACM once
per cold start; a wildcard "*.example.com" becomes "deployment-check.example.com"). The load test
build receives the same name.

Environment: TEST_URL (e.g. https://<alb>:8443), CHECK_TIMEOUT_SECONDS (default 5),
TEST_HOSTNAME or TEST_CERTIFICATE_ARN (optional), LOAD_TEST_PROJECT and LOAD_TEST_INITIATOR
("<hook role name>/<function name>", how CodeBuild names the hook as a build's initiator;
required with a load test).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hooks.load_test import request

log = logging.getLogger()
log.setLevel(logging.INFO)

#: Set by tests to stubbed clients; created on first use in Lambda.
CODEDEPLOY: Any = None
CODEBUILD: Any = None
ACM: Any = None
#: The host name green's certificate is verified for, once resolved (per cold start).
_TEST_HOSTNAME: str | None = None
#: A wildcard certificate's domain is tested through this name inside it.
WILDCARD_LABEL = "deployment-check"
#: CodeBuild's final build statuses; anything else (IN_PROGRESS) has no verdict yet.
FINAL_BUILD_STATUSES = frozenset({"SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"})
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
        from botocore.config import Config

        # Bounded: a hook that hangs on an API call leaves the deployment waiting for an hour.
        config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
        cached = globals()[name.upper()] = boto3.client(name, config=config)
    return cached


def _log(level: int, message: str, **fields: Any) -> None:
    log.log(level, json.dumps({"message": message, **fields}, default=str))


def green_hostname() -> str | None:
    """The name green's certificate must be valid for: TEST_HOSTNAME, else the domain of the
    certificate TEST_CERTIFICATE_ARN names (asked once per cold start), else None (the URL's host)."""
    global _TEST_HOSTNAME
    configured = os.environ.get("TEST_HOSTNAME", "").strip()
    if configured:
        return configured
    arn = os.environ.get("TEST_CERTIFICATE_ARN", "").strip()
    if not arn:
        return None
    if _TEST_HOSTNAME is None:
        domain: str = _client("acm").describe_certificate(CertificateArn=arn)["Certificate"]["DomainName"]
        _TEST_HOSTNAME = f"{WILDCARD_LABEL}.{domain[2:]}" if domain.startswith("*.") else domain
        _log(logging.INFO, "test host name from the certificate", certificate=arn, name=_TEST_HOSTNAME)
    return _TEST_HOSTNAME


def _call(
    method: str, url: str, body: dict[str, Any] | None = None, tls_name: str | None = None, route: str | None = None
) -> tuple[int, Any]:
    try:
        return request(method, url, body, float(os.environ.get("CHECK_TIMEOUT_SECONDS", "5")), tls_name, route=route)
    except OSError as error:
        raise CheckFailed(f"{method} {url}: {error}") from None


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


@dataclass(frozen=True)
class Green:
    """Green behind the test listener: its URL, and the name its certificate is verified for."""

    base: str
    tls_name: str | None = None
    #: The service's key where the test listener routes on it (TEST_ROUTE); None: the default route.
    route: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return _call(method, self.base + path, body, self.tls_name, self.route)


def check_ready(green: Green) -> str:
    status, body = green.call("GET", "/ready")
    _expect(status == 200, f"/ready answered {status} {body}")
    return "ready"


def check_version(green: Green) -> str:
    status, body = green.call("GET", "/version")
    _expect(status == 200 and isinstance(body, dict) and "version" in body, f"/version answered {status} {body}")
    return f"version {body['version']} ({body.get('commit')})"


def check_notes_round_trip(green: Green) -> str:
    title = f"deployment smoke test {time.time_ns()}"
    status, created = green.call("POST", "/notes", {"title": title, "body": "written by the test-traffic hook"})
    _expect(status == 201 and isinstance(created, dict), f"POST /notes answered {status}")
    status, read = green.call("GET", f"/notes/{created['id']}")
    _expect(status == 200 and read == created, f"GET /notes/{created['id']} answered {status} {read}")
    return "notes round trip"


CHECKS: list[Callable[[Green], str]] = [check_ready, check_version, check_notes_round_trip]


def run_checks(green: Green) -> list[str]:
    return [check(green) for check in CHECKS]


def start_load_test(project: str, carried: dict[str, str]) -> str:
    """Start the load test build; ``carried`` lands in its environment (and in its end event)."""
    overrides = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in carried.items()]
    build = _client("codebuild").start_build(projectName=project, environmentVariablesOverride=overrides)
    build_id: str = build["build"]["id"]
    return build_id


def own_build(build_id: str) -> tuple[dict[str, Any] | None, str]:
    """The build as CodeBuild tells it, if it is one this function started for the load test;
    otherwise None and why not. Nothing here comes from the caller but the id to look up."""
    project = os.environ.get("LOAD_TEST_PROJECT", "")
    initiator = os.environ.get("LOAD_TEST_INITIATOR", "")
    if not project or not initiator:
        return None, "LOAD_TEST_PROJECT and LOAD_TEST_INITIATOR must both be set"
    builds = _client("codebuild").batch_get_builds(ids=[build_id]).get("builds") or []
    if len(builds) != 1:
        return None, "CodeBuild does not know the build"
    build: dict[str, Any] = builds[0]
    if build.get("projectName") != project:
        return None, f"the build belongs to project {build.get('projectName')!r}, not {project!r}"
    if build.get("initiator") != initiator:
        return None, f"the build was started by {build.get('initiator')!r}, not by this hook ({initiator!r})"
    return build, ""


def build_variables(build: dict[str, Any]) -> dict[str, str]:
    variables = (build.get("environment") or {}).get("environmentVariables") or []
    return {v["name"]: v.get("value", "") for v in variables if isinstance(v, dict) and "name" in v}


def load_test_status(build_id: str) -> str:
    """ECS hookStatus for the load test build: IN_PROGRESS until it ends, then its verdict.

    A build this function did not start for the load test fails the hook."""
    build, refused = own_build(build_id)
    if build is None:
        _log(logging.ERROR, "load test build refused", build=build_id, reason=refused)
        return "FAILED"
    status = build.get("buildStatus")
    if status == "IN_PROGRESS":
        return "IN_PROGRESS"
    verdict = "SUCCEEDED" if status == "SUCCEEDED" else "FAILED"
    _log(logging.INFO, "load test ended", build=build_id, build_status=status, verdict=verdict)
    return verdict


def report(event: dict[str, Any], status: str) -> None:
    _client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )


def load_test_ended(event: dict[str, Any]) -> dict[str, str]:
    """CodeBuild's state-change event for a load test build: report its verdict to CodeDeploy.

    The event only names the build; the build itself is read back from CodeBuild, and only one
    this function started for a deployment, and that has ended, is reported."""
    build_id = (event.get("detail") or {}).get("build-id")
    if not isinstance(build_id, str) or not build_id:
        _log(logging.WARNING, "build event ignored", reason="the event names no build")
        return {"status": "Ignored"}
    build, refused = own_build(build_id)
    if build is None:
        _log(logging.WARNING, "build event ignored", build=build_id, reason=refused)
        return {"status": "Ignored"}
    variables = build_variables(build)
    deployment, execution = variables.get("DEPLOYMENT_ID"), variables.get("HOOK_EXECUTION_ID")
    if not deployment or not execution:  # started by ECS's path: nobody to report to
        _log(logging.INFO, "build event ignored", build=build_id, reason="the build carries no deployment")
        return {"status": "Ignored"}
    build_status = build.get("buildStatus")
    if build_status not in FINAL_BUILD_STATUSES:
        _log(logging.WARNING, "build event ignored", build=build_id, reason=f"the build is {build_status}")
        return {"status": "Ignored"}
    status = "Succeeded" if build_status == "SUCCEEDED" else "Failed"
    _log(
        logging.INFO,
        "load test ended",
        build=build_id,
        build_status=build_status,
        status=status,
        deployment=deployment,
    )
    report({"DeploymentId": deployment, "LifecycleEventHookExecutionId": execution}, status)
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
        status = load_test_status(str(build_id))
        return _ask_again_later(build_id) if status == "IN_PROGRESS" else {"hookStatus": status}

    deployment = event.get("DeploymentId") or event.get("executionDetails", {}).get("serviceArn", "ecs")
    tls_name: str | None = None
    try:
        tls_name = green_hostname()
        passed = run_checks(Green(os.environ["TEST_URL"].rstrip("/"), tls_name, os.environ.get("TEST_ROUTE") or None))
        status = "Succeeded"
        log.info(json.dumps({"message": "green passed", "checks": passed, "deployment": deployment}))
    except CheckFailed as failure:
        status = "Failed"
        log.error(json.dumps({"message": "green failed", "reason": str(failure), "deployment": deployment}))
    except Exception as error:  # e.g. ACM refused: fail the deployment now rather than leave it waiting
        status = "Failed"
        _log(logging.ERROR, "green not tested", reason=f"{type(error).__name__}: {error}", deployment=deployment)

    project = os.environ.get("LOAD_TEST_PROJECT")
    if status == "Succeeded" and project:
        carried = (
            {}
            if ecs
            else {"DEPLOYMENT_ID": event["DeploymentId"], "HOOK_EXECUTION_ID": event["LifecycleEventHookExecutionId"]}
        )
        if tls_name:
            carried["TEST_HOSTNAME"] = tls_name
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
