"""The test-traffic hook against the real app on loopback; CodeDeploy's API through botocore's Stubber."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hooks import test_traffic as hook
from tests.app_support import ServiceProcess, free_port
from tests.test_load_test import TestCA, tls_front

EVENT = {"DeploymentId": "d-GREEN1234", "LifecycleEventHookExecutionId": "hook-execution-1"}


@pytest.fixture(autouse=True)
def cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a fresh Lambda environment: nothing resolved yet, no name configured."""
    monkeypatch.setattr(hook, "_TEST_HOSTNAME", None)
    for name in ("TEST_HOSTNAME", "TEST_CERTIFICATE_ARN", "LOAD_TEST_PROJECT", "LOAD_TEST_INITIATOR"):
        monkeypatch.delenv(name, raising=False)


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
BUILD_ARN = f"arn:aws:codebuild:eu-west-1:111122223333:build/{BUILD_ID}"
#: How CodeBuild names the hook as a build's initiator: its role's name and its session (the function).
INITIATOR = "bluegreen-staging-test-hook/bluegreen-staging-test-traffic"


@pytest.fixture
def codebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("codebuild", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(hook, "CODEBUILD", client)
    monkeypatch.setenv("LOAD_TEST_PROJECT", PROJECT)
    monkeypatch.setenv("LOAD_TEST_INITIATOR", INITIATOR)
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
    """CodeBuild's EventBridge event, as the rule delivers it to the hook (or as anyone could forge it)."""
    return {
        "source": "aws.codebuild",
        "detail-type": "CodeBuild Build State Change",
        "detail": {
            "build-status": status,
            "project-name": PROJECT,
            "build-id": BUILD_ARN,
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


def build_record(
    status: str,
    variables: dict[str, str] | None = None,
    project: str = PROJECT,
    initiator: str = INITIATOR,
) -> dict[str, Any]:
    """The build as CodeBuild's BatchGetBuilds tells it."""
    carried = CARRIED if variables is None else variables
    return {
        "id": BUILD_ID,
        "arn": BUILD_ARN,
        "projectName": project,
        "initiator": initiator,
        "buildStatus": status,
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [
                {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in {"TEST_URL": "x", **carried}.items()
            ],
        },
    }


def expect_read_back(stubber: Stubber, build: dict[str, Any] | None, build_id: str = BUILD_ARN) -> None:
    answer = {"builds": [build]} if build else {"builds": [], "buildsNotFound": [build_id]}
    stubber.add_response("batch_get_builds", answer, {"ids": [build_id]})


def test_passing_smoke_checks_start_the_load_test_and_leave_the_verdict_to_it(
    green: ServiceProcess, codedeploy: Stubber, codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No status is reported yet: CodeDeploy keeps green behind the test listener while it runs."""
    monkeypatch.setenv("TEST_URL", green.url)
    expect_start(codebuild, CARRIED)
    assert hook.handler(EVENT, None) == {"status": "LoadTestStarted", "build": BUILD_ID}


@pytest.mark.parametrize(
    ("build_status", "reported"),
    [
        ("SUCCEEDED", "Succeeded"),
        ("FAILED", "Failed"),
        ("FAULT", "Failed"),
        ("STOPPED", "Failed"),
        ("TIMED_OUT", "Failed"),
    ],
)
def test_the_load_tests_end_is_read_back_and_reported_to_codedeploy(
    codedeploy: Stubber, codebuild: Stubber, build_status: str, reported: str
) -> None:
    expect_read_back(codebuild, build_record(build_status))
    expect_report(codedeploy, reported)
    assert hook.handler(build_ended(build_status, {"TEST_URL": "x", **CARRIED}), None) == {"status": reported}


def test_the_verdict_is_codebuilds_not_the_events(codedeploy: Stubber, codebuild: Stubber) -> None:
    """An event that claims success for a build CodeBuild says failed reports the failure."""
    expect_read_back(codebuild, build_record("FAILED"))
    expect_report(codedeploy, "Failed")
    assert hook.handler(build_ended("SUCCEEDED", {"TEST_URL": "x", **CARRIED}), None) == {"status": "Failed"}


def test_the_ids_reported_are_codebuilds_not_the_events(codedeploy: Stubber, codebuild: Stubber) -> None:
    expect_read_back(codebuild, build_record("SUCCEEDED"))
    expect_report(codedeploy, "Succeeded")  # EVENT's ids, which only the build carries
    forged = {"DEPLOYMENT_ID": "d-SOMEONEELSE", "HOOK_EXECUTION_ID": "another-hook-execution"}
    assert hook.handler(build_ended("SUCCEEDED", forged), None) == {"status": "Succeeded"}


@pytest.mark.parametrize(
    ("build", "why"),
    [
        (build_record("SUCCEEDED", project="someone-elses-project"), "another project's build"),
        (build_record("SUCCEEDED", initiator="intruder-role/session"), "started by someone else"),
        (build_record("SUCCEEDED", initiator=f"{INITIATOR}-copy"), "an initiator that merely starts alike"),
        (build_record("SUCCEEDED", {"TEST_URL": "x"}), "started for no deployment (ECS, or by hand)"),
        (build_record("SUCCEEDED", {"DEPLOYMENT_ID": EVENT["DeploymentId"]}), "half the ids"),
        (build_record("IN_PROGRESS"), "still running: the verdict is not in"),
        (None, "a build CodeBuild does not know"),
    ],
)
def test_a_build_the_hook_did_not_start_for_a_deployment_is_ignored(
    codebuild: Stubber, monkeypatch: pytest.MonkeyPatch, build: dict[str, Any] | None, why: str
) -> None:
    """Nothing is reported (the stubbed CodeDeploy client would refuse any call); the log says why."""
    monkeypatch.setattr(hook, "CODEDEPLOY", object())  # any call on it would raise
    expect_read_back(codebuild, build)
    assert hook.handler(build_ended("SUCCEEDED", CARRIED), None) == {"status": "Ignored"}, why


def test_without_its_own_identity_configured_the_hook_trusts_no_build(
    codebuild: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    monkeypatch.delenv("LOAD_TEST_INITIATOR")
    assert hook.handler(build_ended("SUCCEEDED", CARRIED), None) == {"status": "Ignored"}  # CodeBuild not asked
    assert hook.handler({"hookDetails": {"loadTestBuildId": BUILD_ID}}, None) == {"hookStatus": "FAILED"}


def test_an_event_that_names_no_build_is_ignored(codebuild: Stubber, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    assert hook.handler({"source": "aws.codebuild", "detail": {"build-status": "SUCCEEDED"}}, None) == {
        "status": "Ignored"
    }


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
        expect_read_back(codebuild, build_record(build_status, {}), BUILD_ID)
        assert hook.handler(again, None)["hookStatus"] == answer


@pytest.mark.parametrize(
    "build",
    [
        build_record("SUCCEEDED", {}, project="someone-elses-project"),
        build_record("SUCCEEDED", {}, initiator="intruder-role/session"),
        None,
    ],
)
def test_under_ecs_a_build_the_hook_did_not_start_fails_the_hook(
    codebuild: Stubber, build: dict[str, Any] | None
) -> None:
    """hookDetails only name a build: the hook checks whose it is before it reads the verdict."""
    expect_read_back(codebuild, build, BUILD_ID)
    ecs_event = {"executionDetails": {"serviceArn": "arn:aws:ecs:eu-west-1:1:service/c/s"}}
    assert hook.handler({**ecs_event, "hookDetails": {"loadTestBuildId": BUILD_ID}}, None) == {"hookStatus": "FAILED"}


# --- TLS: green's certificate is verified for the service's host name, not for the ALB's ---

SERVICE_NAME = "notes.example.test"
CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:111122223333:certificate/8f7e6d5c-1111-2222-3333-444455556666"


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestCA:
    """A CA this Lambda trusts as it trusts the system's (SSL_CERT_FILE replaces the store)."""
    authority = TestCA.create(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.file))
    return authority


@pytest.fixture
def acm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("acm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(hook, "ACM", client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_green_is_verified_for_test_hostname_and_the_load_test_is_given_the_name(
    green: ServiceProcess,
    ca: TestCA,
    tmp_path: Path,
    codedeploy: Stubber,
    codebuild: Stubber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOSTNAME", SERVICE_NAME)
    with tls_front(green.port, *ca.issue(SERVICE_NAME, tmp_path)) as front:
        monkeypatch.setenv("TEST_URL", front.url)
        expect_start(codebuild, {**CARRIED, "TEST_HOSTNAME": SERVICE_NAME})
        assert hook.handler(EVENT, None) == {"status": "LoadTestStarted", "build": BUILD_ID}
    assert set(front.server_names) == {SERVICE_NAME}
    assert front.hosts == [f"{SERVICE_NAME}:{front.port}"] * 4  # ready, version, write, read back


@pytest.mark.parametrize(
    ("certificate_for", "test_hostname"),
    [("other.example.test", SERVICE_NAME), (SERVICE_NAME, None)],
    ids=["a certificate for another name", "no name: the ALB's address is checked"],
)
def test_a_certificate_that_is_not_for_the_name_fails_the_deployment(
    green: ServiceProcess,
    ca: TestCA,
    tmp_path: Path,
    codedeploy: Stubber,
    monkeypatch: pytest.MonkeyPatch,
    certificate_for: str,
    test_hostname: str | None,
) -> None:
    if test_hostname:
        monkeypatch.setenv("TEST_HOSTNAME", test_hostname)
    with tls_front(green.port, *ca.issue(certificate_for, tmp_path)) as front:
        monkeypatch.setenv("TEST_URL", front.url)
        expect_report(codedeploy, "Failed")
        assert hook.handler(EVENT, None) == {"status": "Failed"}
    assert front.hosts == []  # refused at the handshake: green never saw a request


def test_the_name_defaults_to_the_certificates_asked_from_acm_once_per_cold_start(
    green: ServiceProcess,
    ca: TestCA,
    tmp_path: Path,
    acm: Stubber,
    codebuild: Stubber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wildcard certificate is tested through a name inside it; the second call asks ACM nothing."""
    monkeypatch.setenv("TEST_CERTIFICATE_ARN", CERTIFICATE_ARN)
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    acm.add_response(
        "describe_certificate",
        {"Certificate": {"CertificateArn": CERTIFICATE_ARN, "DomainName": "*.example.test"}},
        {"CertificateArn": CERTIFICATE_ARN},
    )
    ecs_event = {"executionDetails": {"serviceArn": "arn:aws:ecs:eu-west-1:1:service/c/s"}}
    with tls_front(green.port, *ca.issue("*.example.test", tmp_path)) as front:
        monkeypatch.setenv("TEST_URL", front.url)
        for _ in range(2):
            expect_start(codebuild, {"TEST_HOSTNAME": "deployment-check.example.test"})
            assert hook.handler(ecs_event, None)["hookStatus"] == "IN_PROGRESS"
    assert set(front.server_names) == {"deployment-check.example.test"}


def test_test_hostname_wins_over_the_certificate(
    codedeploy: Stubber, acm: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOSTNAME", SERVICE_NAME)
    monkeypatch.setenv("TEST_CERTIFICATE_ARN", CERTIFICATE_ARN)
    assert hook.green_hostname() == SERVICE_NAME  # and ACM is not asked: the stubber holds no answer


def test_a_certificate_acm_will_not_describe_fails_the_deployment_at_once(
    codedeploy: Stubber, acm: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", "https://127.0.0.1:1")
    monkeypatch.setenv("TEST_CERTIFICATE_ARN", CERTIFICATE_ARN)
    acm.add_client_error("describe_certificate", "AccessDeniedException", "not allowed")
    expect_report(codedeploy, "Failed")
    assert hook.handler(EVENT, None) == {"status": "Failed"}
