"""make rollback: each branch driven through botocore's Stubber (no AWS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber

from tests.conftest import ROOT
from tools import rollback

APP, GROUP = "bluegreen-prod-app", "bluegreen-prod-app"
REVISION = {"revisionType": "AppSpecContent", "appSpecContent": {"content": "version: 0.0", "sha256": "0" * 64}}


@pytest.fixture
def client() -> Iterator[tuple[object, Stubber]]:
    codedeploy = boto3.client("codedeploy", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(codedeploy) as stubber:
        yield codedeploy, stubber
        stubber.assert_no_pending_responses()


def listed(stubber: Stubber, statuses: list[str], ids: list[str]) -> None:
    stubber.add_response(
        "list_deployments",
        {"deployments": ids},
        {"applicationName": APP, "deploymentGroupName": GROUP, "includeOnlyStatuses": statuses},
    )


def test_in_flight_deployment_is_stopped_with_rollback(
    client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, ["d-INFLIGHT"])
    stubber.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-INFLIGHT", "autoRollbackEnabled": True}
    )
    assert rollback.main(["--env", "prod", "--yes"], client=codedeploy) == 0
    assert "stopped deployment d-INFLIGHT with automatic rollback" in capsys.readouterr().out


def test_without_one_in_flight_the_previous_success_is_redeployed(
    client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, [])
    listed(stubber, ["Succeeded"], ["d-NEW", "d-OLD"])
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    stubber.add_response(
        "batch_get_deployments",
        {"deploymentsInfo": [
            {"deploymentId": "d-OLD", "createTime": now - dt.timedelta(days=1), "revision": REVISION},
            {"deploymentId": "d-NEW", "createTime": now, "revision": {**REVISION, "appSpecContent": {"content": "new", "sha256": "1" * 64}}},  # noqa: E501
        ]},
        {"deploymentIds": ["d-NEW", "d-OLD"]},
    )  # fmt: skip
    stubber.add_response(
        "create_deployment",
        {"deploymentId": "d-ROLLBACK"},
        {"applicationName": APP, "deploymentGroupName": GROUP, "revision": REVISION, "description": ANY},
    )
    assert rollback.main(["--env", "prod", "--yes"], client=codedeploy) == 0
    assert "redeploying the revision of d-OLD as deployment d-ROLLBACK" in capsys.readouterr().out


def test_nothing_to_return_to_changes_nothing(
    client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, [])
    listed(stubber, ["Succeeded"], ["d-ONLY"])
    assert rollback.main(["--env", "prod", "--yes"], client=codedeploy) == 1
    assert "no earlier successful deployment" in capsys.readouterr().err


def test_declining_the_confirmation_changes_nothing(
    client: tuple[object, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, ["d-INFLIGHT"])
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert rollback.main(["--env", "prod"], client=codedeploy) == 1
    assert "cancelled; nothing was changed" in capsys.readouterr().err


def test_missing_credentials_fail_clearly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert rollback.main(["--env", "prod", "--yes"]) == 2
    assert "no AWS credentials: set AWS_PROFILE or AWS_* for account 333333333333" in capsys.readouterr().err


def test_after_hundreds_of_releases_every_page_is_read_and_the_newest_two_compared(
    client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    """ListDeployments pages, in no documented order; BatchGetDeployments takes 25 ids at most."""
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, [])
    ids = [f"d-{n:03d}" for n in range(60)]
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    first = {"applicationName": APP, "deploymentGroupName": GROUP, "includeOnlyStatuses": ["Succeeded"]}
    stubber.add_response("list_deployments", {"deployments": ids[:40], "nextToken": "page-2"}, first)
    stubber.add_response("list_deployments", {"deployments": ids[40:]}, {**first, "nextToken": "page-2"})
    for start in range(0, 60, 25):
        batch = ids[start : start + 25]
        # d-007 is the newest, d-042 the one before it: neither is at the end of the list.
        infos = [
            {
                "deploymentId": d,
                "createTime": now - dt.timedelta(hours={"d-007": 0, "d-042": 1}.get(d, 100 + int(d[2:]))),
                "revision": REVISION,
            }
            for d in batch
        ]
        stubber.add_response("batch_get_deployments", {"deploymentsInfo": infos}, {"deploymentIds": batch})
    stubber.add_response(
        "create_deployment",
        {"deploymentId": "d-ROLLBACK"},
        {"applicationName": APP, "deploymentGroupName": GROUP, "revision": REVISION, "description": ANY},
    )
    assert rollback.main(["--env", "prod", "--yes"], client=codedeploy) == 0
    assert "redeploying the revision of d-042" in capsys.readouterr().out


def test_an_ecs_native_environment_is_told_how_ecs_rolls_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert rollback.main(["--env", "sandbox", "--yes"]) == 2
    assert "stop-service-deployment --stop-type ROLLBACK" in capsys.readouterr().err


@pytest.fixture
def several_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """prod's settings as an environment ``shop`` of three services: web (the listener's default),
    api (routed by host and path) and worker (no route); ``--env shop`` reads it."""
    config = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    deployment = config.pop("deployment")
    del config["service"], config["dr"]
    config["pipeline"] = {"source_provider": config["pipeline"]["source_provider"]}
    config["database"]["engine_version"] = "16"  # without a global database a minor version is refused
    config |= {
        "environment": "shop",
        "services": {
            "web": {"source": {"repository": "shop/web"}, "deployment": deployment},
            "api": {"source": {"repository": "shop/api"}, "route": {"host": "api.example.com"}},
            "worker": {"source": {"repository": "shop/worker"}, "route": None},
        },
    }
    file = tmp_path / "shop.yaml"
    file.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(rollback, "config_path", lambda env: file if env == "shop" else ROOT / "config" / f"{env}.yaml")
    return "shop"


def test_the_named_service_is_rolled_back_and_no_other(
    several_services: str, client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    api = {"applicationName": "bluegreen-shop-api", "deploymentGroupName": "bluegreen-shop-api"}
    stubber.add_response(
        "list_deployments", {"deployments": ["d-API"]}, {**api, "includeOnlyStatuses": rollback.IN_FLIGHT}
    )
    stubber.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-API", "autoRollbackEnabled": True}
    )
    assert rollback.main(["--env", several_services, "--service", "api", "--yes"], client=codedeploy) == 0
    assert "stopped deployment d-API" in capsys.readouterr().out


def test_with_several_services_rollback_refuses_to_guess(
    several_services: str, client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, _ = client  # no call is stubbed: any call to CodeDeploy fails the test
    assert rollback.main(["--env", several_services, "--yes"], client=codedeploy) == 2
    assert "shop has several services (api, web, worker): name one with SERVICE=<key>" in capsys.readouterr().err
    assert rollback.main(["--env", several_services, "--service", "cart", "--yes"], client=codedeploy) == 2
    assert "shop has no service 'cart'; its services: api, web, worker" in capsys.readouterr().err


def test_a_service_without_a_route_is_told_how_ecs_rolls_it_back(
    several_services: str, client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, _ = client
    assert rollback.main(["--env", several_services, "--service", "worker", "--yes"], client=codedeploy) == 2
    err = capsys.readouterr().err
    assert "worker has no route" in err and "--service bluegreen-shop-worker" in err


def test_a_single_service_environment_needs_no_service_named_and_takes_app(
    client: tuple[object, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, stubber = client
    listed(stubber, rollback.IN_FLIGHT, ["d-INFLIGHT"])
    stubber.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-INFLIGHT", "autoRollbackEnabled": True}
    )
    assert rollback.main(["--env", "prod", "--service", "app", "--yes"], client=codedeploy) == 0
    assert "stopped deployment d-INFLIGHT" in capsys.readouterr().out
