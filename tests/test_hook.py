"""The test-traffic hook against the real app on loopback; CodeDeploy's API through botocore's Stubber."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from hooks import test_traffic as hook
from tests.app_support import Database, ServiceProcess, free_port, start_service

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


@pytest.fixture
def green(postgres: Database, database: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = start_service(postgres, database, tmp_path, DRAIN_SECONDS="5", APP_VERSION="2.0.0")
    yield service
    service.stop()


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
