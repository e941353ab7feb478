"""The test-traffic hook against the real app on loopback; CodeDeploy's API through botocore's Stubber."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from hooks import test_traffic as hook
from tests.app_support import ServiceProcess, free_port

EVENT = {"DeploymentId": "d-GREEN1234", "LifecycleEventHookExecutionId": "hook-execution-1"}


@pytest.fixture
def codedeploy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("codedeploy", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(hook, "CODEDEPLOY", client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_report(stubber: Stubber, status: str) -> None:
    stubber.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
        {
            "deploymentId": EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
            "status": status,
        },
    )


def test_healthy_green_passes_and_is_reported(
    green: ServiceProcess, codedeploy: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", green.url)
    expect_report(codedeploy, "Succeeded")
    assert hook.handler(EVENT, None) == {"status": "Succeeded"}
    assert any(e.get("path") == "/notes" and e.get("status") == 201 for e in green.logs())


def test_green_that_is_not_ready_fails_the_deployment(
    green: ServiceProcess, codedeploy: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", green.url)
    green.process.send_signal(signal.SIGTERM)  # draining: still serving, /ready answers 503
    time.sleep(0.5)
    expect_report(codedeploy, "Failed")
    assert hook.handler(EVENT, None) == {"status": "Failed"}


def test_unreachable_green_fails_within_the_timeout(codedeploy: Stubber, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CHECK_TIMEOUT_SECONDS", "2")
    expect_report(codedeploy, "Failed")
    started = time.monotonic()
    assert hook.handler(EVENT, None) == {"status": "Failed"}
    assert time.monotonic() - started < 10


def test_as_an_ecs_lifecycle_hook_the_result_is_returned(
    green: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS-native blue/green reads hookStatus from the return value; CodeDeploy's API is not called."""
    monkeypatch.setenv("TEST_URL", green.url)
    monkeypatch.setattr(hook, "CODEDEPLOY", object())  # any call on it would raise
    ecs_event = {
        "executionDetails": {"serviceArn": "arn:aws:ecs:eu-west-1:1:service/c/s"},
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
    }
    assert hook.handler(ecs_event, None) == {"hookStatus": "SUCCEEDED"}
    monkeypatch.setenv("TEST_URL", f"http://127.0.0.1:{free_port()}")
    assert hook.handler(ecs_event, None) == {"hookStatus": "FAILED"}


# --- With a load test configured: the hook starts it and green is judged when it ends ---

PROJECT = "bluegreen-staging-load-test"
BUILD_ID = f"{PROJECT}:0b7c0a1e-1111-2222-3333-444455556666"


@pytest.fixture
def codebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("codebuild", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(hook, "CODEBUILD", client)
    monkeypatch.setenv("LOAD_TEST_PROJECT", PROJECT)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_start(stubber: Stubber, carried: dict[str, str]) -> None:
    overrides = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in carried.items()]
    stubber.add_response(
        "start_build",
        {"build": {"id": BUILD_ID}},
        {"projectName": PROJECT, "environmentVariablesOverride": overrides},
    )


def build_ended(status: str, variables: dict[str, str]) -> dict[str, object]:
    """CodeBuild's EventBridge event, as the rule delivers it to the hook."""
    return {
        "source": "aws.codebuild",
        "detail-type": "CodeBuild Build State Change",
        "detail": {
            "build-status": status,
            "project-name": PROJECT,
            "build-id": f"arn:aws:codebuild:eu-west-1:1:build/{BUILD_ID}",
            "additional-information": {
                "environment": {
                    "environment-variables": [
                        {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()
                    ]
                }
            },
        },
    }


CARRIED = {"DEPLOYMENT_ID": EVENT["DeploymentId"], "HOOK_EXECUTION_ID": EVENT["LifecycleEventHookExecutionId"]}


def test_passing_smoke_checks_start_the_load_test_and_leave_the_verdict_to_it(
    green: ServiceProcess, codedeploy: Stubber, codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No status is reported yet: CodeDeploy keeps green behind the test listener while it runs."""
    monkeypatch.setenv("TEST_URL", green.url)
    expect_start(codebuild, CARRIED)
    assert hook.handler(EVENT, None) == {"status": "LoadTestStarted", "build": BUILD_ID}


@pytest.mark.parametrize(
    ("build_status", "reported"),
    [("SUCCEEDED", "Succeeded"), ("FAILED", "Failed"), ("STOPPED", "Failed"), ("TIMED_OUT", "Failed")],
)
def test_the_load_tests_end_is_reported_to_codedeploy(codedeploy: Stubber, build_status: str, reported: str) -> None:
    expect_report(codedeploy, reported)
    assert hook.handler(build_ended(build_status, {"TEST_URL": "x", **CARRIED}), None) == {"status": reported}


def test_a_build_nobody_waits_for_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hook, "CODEDEPLOY", object())  # any call on it would raise
    assert hook.handler(build_ended("FAILED", {"TEST_URL": "x"}), None) == {"status": "Ignored"}


def test_failing_smoke_checks_fail_without_starting_the_load_test(
    codedeploy: Stubber, codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CHECK_TIMEOUT_SECONDS", "2")
    expect_report(codedeploy, "Failed")  # and no start_build: the stubber would reject it
    assert hook.handler(EVENT, None) == {"status": "Failed"}


def test_a_load_test_that_cannot_start_fails_the_deployment_at_once(
    green: ServiceProcess, codedeploy: Stubber, codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", green.url)
    codebuild.add_client_error("start_build", "AccountLimitExceededException", "too many concurrent builds")
    expect_report(codedeploy, "Failed")
    assert hook.handler(EVENT, None) == {"status": "Failed"}


def test_under_ecs_the_hook_polls_the_load_test_until_it_ends(
    green: ServiceProcess, codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS calls again while the answer is IN_PROGRESS, handing back hookDetails."""
    monkeypatch.setenv("TEST_URL", green.url)
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    ecs_event: dict[str, object] = {"executionDetails": {"serviceArn": "arn:aws:ecs:eu-west-1:1:service/c/s"}}
    expect_start(codebuild, {})
    first = hook.handler(ecs_event, None)
    assert first == {"hookStatus": "IN_PROGRESS", "callBackDelay": 30, "hookDetails": {"loadTestBuildId": BUILD_ID}}
    again = {**ecs_event, "hookDetails": first["hookDetails"]}
    for build_status, answer in [("IN_PROGRESS", "IN_PROGRESS"), ("SUCCEEDED", "SUCCEEDED"), ("FAILED", "FAILED")]:
        codebuild.add_response(
            "batch_get_builds", {"builds": [{"id": BUILD_ID, "buildStatus": build_status}]}, {"ids": [BUILD_ID]}
        )
        assert hook.handler(again, None)["hookStatus"] == answer
