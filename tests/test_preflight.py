"""`make preflight` refuses, from a plan's JSON, what AWS refuses mid-apply or what loses data.

Each rule has a refused case and a passing one, on plans shaped as `terraform show -json` writes
them. tests/test_emulator.py runs the same review on real plans against an applied stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aws_rules.updates import review
from tests.conftest import SynthesizedStack
from tests.two_services import with_second_service
from tools import preflight

SERVICE = "aws_ecs_service.ecs_service_A3298475"
NETWORK = {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"], "assign_public_ip": False}


def change(address: str, actions: list[str], before: Any = None, after: Any = None, **extra: Any) -> dict[str, Any]:
    resource_type = address.split(".")[0]
    body = {"actions": actions, "before": before, "after": after, **extra}
    return {"address": address, "type": resource_type, "change": body}


def service(controller: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "arn:svc",
        "deployment_controller": [{"type": controller}],
        "network_configuration": [NETWORK],
        **fields,
    }


def plan(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"resource_changes": list(changes)}


def test_a_code_deploy_service_refuses_network_updates() -> None:
    moved = {**NETWORK, "subnets": ["subnet-9"]}
    refused = review(
        plan(change(SERVICE, ["update"], service("CODE_DEPLOY"), service("CODE_DEPLOY", network_configuration=[moved])))
    )
    (refusal,) = refused
    assert refusal.address == SERVICE and "subnets and security groups" in refusal.what
    assert "CODE_DEPLOY" in refusal.what and "release through the pipeline" in refusal.fix


def test_ecs_native_applies_network_updates_itself() -> None:
    moved = {**NETWORK, "subnets": ["subnet-9"]}
    assert (
        review(plan(change(SERVICE, ["update"], service("ECS"), service("ECS", network_configuration=[moved])))) == []
    )


def test_a_desired_count_update_of_a_code_deploy_service_passes() -> None:
    before, after = service("CODE_DEPLOY", desired_count=2), service("CODE_DEPLOY", desired_count=3)
    assert review(plan(change(SERVICE, ["update"], before, after))) == []


@pytest.mark.parametrize(
    "resource_type",
    ["aws_rds_cluster", "aws_kms_key", "aws_s3_bucket", "aws_ecr_repository", "aws_secretsmanager_secret"],
)
def test_replacing_or_destroying_what_holds_data_is_refused(resource_type: str) -> None:
    address = f"{resource_type}.x"
    replaced = review(plan(change(address, ["delete", "create"], {"id": "1"}, {}, replace_paths=[["name"]])))
    (refusal,) = replaced
    assert refusal.what.startswith("replaces") and "(forced by: name)" in refusal.fix
    (destroyed,) = review(plan(change(address, ["delete"], {"id": "1"}, None)))
    assert destroyed.what.startswith("destroys")
    assert review(plan(change(address, ["update"], {"id": "1"}, {"id": "1"}))) == []


def test_a_release_that_replaces_the_task_definition_passes() -> None:
    """A new image is a new task definition revision: the controller deploys it; nothing is lost."""
    task = change("aws_ecs_task_definition.t", ["delete", "create"], {"family": "f"}, {"family": "f"})
    assert review(plan(task, change("aws_codebuild_project.b", ["update"], {}, {}))) == []


def test_replacing_a_target_group_in_use_is_refused() -> None:
    (refusal,) = review(plan(change("aws_lb_target_group.blue", ["delete", "create"], {"id": "tg"}, {})))
    assert "ResourceInUse" in refusal.what and "beside the old one" in refusal.fix
    assert review(plan(change("aws_lb_target_group.blue", ["update"], {"id": "tg"}, {"id": "tg"}))) == []


def test_replacing_the_subnets_a_code_deploy_service_runs_in_is_refused() -> None:
    keep = change(SERVICE, ["no-op"], service("CODE_DEPLOY"), service("CODE_DEPLOY"))
    subnet = change(
        "aws_subnet.private_0", ["delete", "create"], {"id": "subnet-1"}, {}, replace_paths=[["cidr_block"]]
    )
    (refusal,) = review(plan(keep, subnet))
    assert refusal.address == "aws_subnet.private_0" and SERVICE in refusal.what
    assert "DependencyViolation" in refusal.what and "(forced by: cidr_block)" in refusal.fix
    elsewhere = change("aws_subnet.public_0", ["delete", "create"], {"id": "subnet-7"}, {})
    assert review(plan(keep, elsewhere)) == []


def test_the_cli_exits_1_with_each_refusal_and_accepts_a_named_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan(change("aws_rds_cluster.db", ["delete"], {"id": "db"}, None))))
    assert preflight.main(["--plan", str(file)]) == 1
    assert "aws_rds_cluster.db: destroys the database" in capsys.readouterr().out
    assert preflight.main(["--plan", str(file), "--accept", "aws_rds_cluster.db"]) == 0
    assert "accepted: aws_rds_cluster.db" in capsys.readouterr().out


def test_the_cli_says_why_it_could_not_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.main(["--plan", str(tmp_path / "missing.json")]) == 2
    assert "could not plan" in capsys.readouterr().err


def addresses(document: dict[str, Any]) -> dict[str, str]:
    """Construct path below the stack -> the resource's address, as the plan names it."""
    return {
        body["//"]["metadata"]["path"].split("/", 1)[1]: f"{resource_type}.{identifier}"
        for resource_type, bodies in document["resource"].items()
        for identifier, body in bodies.items()
    }


def test_every_service_of_the_plan_is_reviewed_and_counted(
    prod: SynthesizedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan is the whole stack's: each service's refusals are found, whichever one is released,
    and the report says which services (and whether the platform) the apply would touch."""
    stack = tmp_path / "cdk.tf.json"
    document = with_second_service(prod.json)
    stack.write_text(json.dumps(document))
    at = addresses(document)
    moved = {**NETWORK, "subnets": ["subnet-9"]}
    updates = [
        change(
            at[f"services/{key}/ecs/service"],
            ["update"],
            service("CODE_DEPLOY"),
            service("CODE_DEPLOY", network_configuration=[moved]),
        )
        for key in ("api", "app")
    ]
    task = change(at["services/app/ecs/task_definition"], ["delete", "create"], {"family": "f"}, {"family": "f"})
    platform = change(at["load_balancer/alb"], ["update"], {"id": "alb"}, {"id": "alb"})
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan(*updates, task, platform)))
    assert preflight.main(["--plan", str(file), "--stack", str(stack)]) == 1
    out = capsys.readouterr().out
    assert "changes by service: api 1 (1 refused), app 2 (1 refused), platform 1" in out
    for key in ("api", "app"):
        assert f"{at[f'services/{key}/ecs/service']}: updates its subnets and security groups" in out


def test_a_service_the_plan_leaves_alone_is_counted_as_untouched(
    prod: SynthesizedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "cdk.tf.json"
    document = with_second_service(prod.json)
    stack.write_text(json.dumps(document))
    task = addresses(document)["services/api/ecs/task_definition"]
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan(change(task, ["delete", "create"], {"family": "f"}, {"family": "f"}))))
    assert preflight.main(["--plan", str(file), "--stack", str(stack)]) == 0
    assert "changes by service: api 1, app 0, platform 0" in capsys.readouterr().out


def test_a_single_service_stack_is_reviewed_without_naming_it(
    prod: SynthesizedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = addresses(prod.json)["database/cluster"]
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(plan(change(database, ["delete"], {"id": "db"}, None))))
    assert preflight.main(["--plan", str(file), "--stack", str(prod.file)]) == 1
    out = capsys.readouterr().out
    assert "changes by service: app 0, platform 1 (1 refused)" in out and f"{database}: destroys the database" in out
