"""Disaster recovery in a second region: each posture, where its resources land, how they connect.

Shipped configs cover two postures (staging: backup_restore, prod: pilot_light); warm_standby is
prod's config with that posture, synthesized once per session in the same process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, get_args

import pytest
import yaml

from config import EnvironmentConfig
from config.schema import DisasterRecoveryConfig
from tests.conftest import ROOT, Resource, SynthesizedStack, policy, synthesize_configs


@pytest.fixture(scope="session")
def warm_standby(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    data = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    data["dr"] = {**data["dr"], "posture": "warm_standby", "standby_tasks": 2}
    config = EnvironmentConfig.model_validate(data)
    return synthesize_configs({"prod-warm": config}, tmp_path_factory.mktemp("warm"))["prod-warm"]


@pytest.fixture
def pilot_light(synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    stack = synthesized["prod"]
    assert stack.config.dr is not None and stack.config.dr.posture == "pilot_light"
    return stack


@pytest.fixture
def backup_restore(synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    stack = synthesized["staging"]
    assert stack.config.dr is not None and stack.config.dr.posture == "backup_restore"
    return stack


@pytest.fixture(params=["backup_restore", "pilot_light", "warm_standby"])
def dr_stack(request: pytest.FixtureRequest) -> SynthesizedStack:
    stack: SynthesizedStack = request.getfixturevalue(request.param)
    return stack


def in_dr(resource: Resource) -> bool:
    return resource.path.startswith("dr/")


def test_each_resource_lands_in_its_region_by_provider_alias(dr_stack: SynthesizedStack) -> None:
    dr = dr_stack.config.dr
    assert dr is not None
    providers = dr_stack.json["provider"]["aws"]
    assert [(p.get("alias"), p["region"]) for p in providers] == [
        (None, dr_stack.config.region),
        ("dr", dr.region),
    ]
    assert all(p["allowed_account_ids"] == [dr_stack.config.account_id] for p in providers)
    resources = list(dr_stack.all_resources())
    assert any(in_dr(r) for r in resources)
    for resource in resources:
        expected = "aws.dr" if in_dr(resource) else None
        assert resource.body.get("provider") == expected, resource.path


def test_every_posture_replicates_images_encrypted_in_the_dr_region(dr_stack: SynthesizedStack) -> None:
    dr, names = dr_stack.config.dr, dr_stack.config.names
    assert dr is not None
    (rule,) = dr_stack.one("aws_ecr_replication_configuration").body["replication_configuration"]["rule"]
    assert rule["destination"] == [{"region": dr.region, "registry_id": dr_stack.config.account_id}]
    repository = dr_stack.one("aws_ecr_repository")
    assert repository.body["name"] == names.service("app").ecr_repository
    assert rule["repository_filter"] == [{"filter": repository.ref("name"), "filter_type": "PREFIX_MATCH"}]
    template = dr_stack.one("aws_ecr_repository_creation_template", "dr/replica_repository/template")
    assert in_dr(template) and template.body["applied_for"] == ["REPLICATION"]
    # ECR applies a template to repositories under "<prefix>/": the replica's name must be there.
    assert names.service("app").ecr_repository.startswith(template.body["prefix"] + "/")
    assert template.body["image_tag_mutability"] == "IMMUTABLE"
    dr_key = dr_stack.one("aws_kms_key", "dr/keys/artifacts_key")
    assert template.body["encryption_configuration"] == [{"encryption_type": "KMS", "kms_key": dr_key.ref("arn")}]
    creator = dr_stack.one("aws_iam_role", "roles/ecr_replica_creator")
    assert template.body["custom_role_arn"] == creator.ref("arn")
    assert json.loads(creator.body["assume_role_policy"])["Statement"][0]["Principal"] == {
        "Service": "ecr.amazonaws.com"
    }
    grants = next(
        s for s in policy(dr_key.body["policy"])["Statement"] if s["Sid"] == "ServiceRolesGrantKeyToAwsResources"
    )
    assert grants["Principal"] == {"AWS": [creator.ref("arn")]}
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_backup_restore_copies_daily_backups_and_runs_nothing_there(backup_restore: SynthesizedStack) -> None:
    dr = backup_restore.config.dr
    assert dr is not None
    (rule,) = backup_restore.one("aws_backup_plan").body["rule"]
    dr_vault = backup_restore.one("aws_backup_vault", "dr/backup_vault/vault")
    primary_vault = backup_restore.one("aws_backup_vault", "backup_vault/vault")
    assert rule["target_vault_name"] == primary_vault.ref("name")
    assert rule["copy_action"] == [
        {"destination_vault_arn": dr_vault.ref("arn"), "lifecycle": {"delete_after": dr.backup_copy_retention_days}}
    ]
    assert dr_vault.body["kms_key_arn"] == backup_restore.one("aws_kms_key", "dr/keys/data_key").ref("arn")
    selection = backup_restore.one("aws_backup_selection").body
    assert selection["resources"] == [backup_restore.one("aws_rds_cluster").ref("arn")]
    assert selection["iam_role_arn"] == backup_restore.one("aws_iam_role", "roles/backup").ref("arn")
    # Nothing runs in the DR region: no VPC, no ALB, no cluster, no global database.
    for resource_type in ("aws_vpc", "aws_lb", "aws_ecs_service", "aws_rds_cluster"):
        assert not [r for r in backup_restore.of_type(resource_type) if in_dr(r)], resource_type
    assert not backup_restore.of_type("aws_rds_global_cluster")
    # RDS keeps managing (and rotating) the password of a regional cluster.
    assert backup_restore.one("aws_rds_cluster").body["manage_master_user_password"] is True


def global_members(stack: SynthesizedStack) -> tuple[Resource, Resource, Resource]:
    (primary,) = [c for c in stack.of_type("aws_rds_cluster") if not in_dr(c)]
    (secondary,) = [c for c in stack.of_type("aws_rds_cluster") if in_dr(c)]
    return stack.one("aws_rds_global_cluster"), primary, secondary


@pytest.mark.parametrize("posture", ["pilot_light", "warm_standby"])
def test_the_dr_cluster_is_a_member_of_the_global_database(posture: str, request: pytest.FixtureRequest) -> None:
    stack: SynthesizedStack = request.getfixturevalue(posture)
    global_cluster, primary, secondary = global_members(stack)
    assert global_cluster.body["storage_encrypted"] is True
    assert global_cluster.body["engine_version"] == stack.config.database.engine_version
    assert primary.body["global_cluster_identifier"] == global_cluster.ref("id")
    assert secondary.body["global_cluster_identifier"] == global_cluster.ref("id")
    # The secondary replicates: no credentials or database of its own, its own region's key.
    for key in ("master_username", "master_password", "master_password_wo", "database_name"):
        assert key not in secondary.body
    assert secondary.body["kms_key_id"] == stack.one("aws_kms_key", "dr/keys/data_key").ref("arn")
    assert secondary.body["storage_encrypted"] is True
    assert "replication_source_identifier" in secondary.body["lifecycle"]["ignore_changes"]
    dr_instances = [i for i in stack.of_type("aws_rds_cluster_instance") if in_dr(i)]
    assert len(dr_instances) == (1 if posture == "warm_standby" else 0)
    assert all(i.body["cluster_identifier"] == secondary.ref("id") for i in dr_instances)


def test_a_global_databases_password_is_generated_write_only(pilot_light: SynthesizedStack) -> None:
    """RDS cannot manage a global member's password: Secrets Manager generates it at apply time
    and it is sent write-only, so it is in no plan and no state; the secret replicates to DR."""
    _, primary, _ = global_members(pilot_light)
    assert "manage_master_user_password" not in primary.body and "master_password" not in primary.body
    (name,) = pilot_light.json["ephemeral"]["aws_secretsmanager_random_password"]
    reference = f"ephemeral.aws_secretsmanager_random_password.{name}.random_password"
    assert primary.body["master_password_wo"] == f"${{{reference}}}"
    assert primary.body["master_password_wo_version"] == pilot_light.config.database.password_version
    version = pilot_light.one("aws_secretsmanager_secret_version").body
    assert "secret_string" not in version and reference in version["secret_string_wo"]
    assert f'"username" = "{pilot_light.config.database.master_username}"' in version["secret_string_wo"]
    secret = pilot_light.one("aws_secretsmanager_secret")
    assert version["secret_id"] == secret.ref("id")
    dr = pilot_light.config.dr
    assert dr is not None
    assert secret.body["replica"] == [
        {"region": dr.region, "kms_key_id": pilot_light.one("aws_kms_key", "dr/keys/data_key").ref("arn")}
    ]
    assert {key for key in primary.body if "password" in key} == {"master_password_wo", "master_password_wo_version"}


def dr_service(stack: SynthesizedStack) -> tuple[dict[str, Any], dict[str, Any]]:
    (service,) = [s.body for s in stack.of_type("aws_ecs_service") if in_dr(s)]
    (task,) = [t.body for t in stack.of_type("aws_ecs_task_definition") if in_dr(t)]
    (container,) = json.loads(task["container_definitions"])
    return service, container


@pytest.mark.parametrize(("posture", "tasks"), [("pilot_light", 0), ("warm_standby", 2)])
def test_the_dr_service_waits_at_its_postures_size(posture: str, tasks: int, request: pytest.FixtureRequest) -> None:
    stack: SynthesizedStack = request.getfixturevalue(posture)
    service, container = dr_service(stack)
    assert service["desired_count"] == tasks
    # Operators roll it after a failover (README): a plain rolling service, its task definition theirs.
    assert service["deployment_controller"] == {"type": "ECS"}
    assert service["lifecycle"]["ignore_changes"] == ["task_definition"]
    dr = stack.config.dr
    assert dr is not None
    registry = f"{stack.config.account_id}.dkr.ecr.{dr.region}.amazonaws.com"
    assert container["image"].startswith(f"{registry}/{stack.config.names.service('app').ecr_repository}:")
    _, _, secondary = global_members(stack)
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["DB_HOST"] == secondary.ref("endpoint")
    assert container["logConfiguration"]["options"]["awslogs-region"] == dr.region
    # The app signs in to the DR cluster as its own user with IAM tokens: no secret to replicate.
    assert container["secrets"] == []
    assert (environment["DB_USER"], environment["DB_AUTH"]) == (stack.config.database.app_username, "iam")
    dr_alb = [b for b in stack.of_type("aws_lb") if in_dr(b)]
    assert len(dr_alb) == 1 and dr_alb[0].body["load_balancer_type"] == "application"
    assert not [g for g in stack.of_type("aws_security_group") if in_dr(g) and "test_hook" in g.path]


def test_dr_roles_reach_only_the_dr_copies(pilot_light: SynthesizedStack) -> None:
    dr = pilot_light.config.dr
    assert dr is not None
    document = policy(
        pilot_light.service().one("aws_iam_role_policy", "dr_role_policies/task_execution").body["policy"]
    )
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    account = pilot_light.config.account_id
    assert set(by_sid) == {"PullReplicaImages", "WriteDrContainerLogs"}, "the DR tasks read no secret"
    repository = f"arn:aws:ecr:{dr.region}:{account}:repository/"
    assert by_sid["PullReplicaImages"]["Resource"] == [
        repository + pilot_light.config.names.service("app").ecr_repository
    ]
    (connect,) = policy(pilot_light.service().one("aws_iam_role_policy", "dr_role_policies/task").body["policy"])[
        "Statement"
    ]
    _, _, secondary = global_members(pilot_light)
    assert connect["Action"] == ["rds-db:connect"] and connect["Resource"] == [
        f"arn:aws:rds-db:{dr.region}:{account}:dbuser:{secondary.ref('cluster_resource_id')}/"
        f"{pilot_light.config.database.app_username}"
    ]
    (dr_log_group,) = [
        g for g in pilot_light.of_type("aws_cloudwatch_log_group") if g.path == "dr/services/app/ecs/log_group"
    ]
    assert by_sid["WriteDrContainerLogs"]["Resource"] == [f"{dr_log_group.ref('arn')}:*"]


def test_dns_fails_over_from_the_primary_alb_to_the_dr_alb(pilot_light: SynthesizedStack) -> None:
    dr = pilot_light.config.dr
    assert dr is not None and dr.failover is not None
    (primary_alb,) = [b for b in pilot_light.of_type("aws_lb") if not in_dr(b)]
    (dr_alb,) = [b for b in pilot_light.of_type("aws_lb") if in_dr(b)]
    records = {r.body["failover_routing_policy"]["type"]: r.body for r in pilot_light.of_type("aws_route53_record")}
    assert set(records) == {"PRIMARY", "SECONDARY"}
    for role, alb in (("PRIMARY", primary_alb), ("SECONDARY", dr_alb)):
        record = records[role]
        assert (record["zone_id"], record["name"], record["type"]) == (
            dr.failover.hosted_zone_id,
            dr.failover.record_name,
            "A",
        )
        assert record["alias"] == {
            "name": alb.ref("dns_name"),
            "zone_id": alb.ref("zone_id"),
            "evaluate_target_health": True,
        }
        check = pilot_light.resolve(record["health_check_id"]).body
        assert (check["fqdn"], check["type"], check["resource_path"]) == (
            alb.ref("dns_name"),
            "HTTPS",
            dr.failover.health_check_path,
        )
        assert check["port"] == pilot_light.config.load_balancer.effective_prod_port


def test_dr_region_gets_the_same_guarantees(pilot_light: SynthesizedStack) -> None:
    """Built by the same constructs: encrypted logs, flow logs, an emptied default group, WAF."""
    dr_groups = [g for g in pilot_light.of_type("aws_cloudwatch_log_group") if in_dr(g)]
    assert dr_groups and all(g.body["kms_key_id"].startswith("${aws_kms_key.dr_keys_") for g in dr_groups)
    assert [f for f in pilot_light.of_type("aws_flow_log") if in_dr(f)]
    assert [w for w in pilot_light.of_type("aws_wafv2_web_acl_association") if in_dr(w)]
    (dr_vpc,) = [v for v in pilot_light.of_type("aws_vpc") if in_dr(v)]
    dr = pilot_light.config.dr
    assert dr is not None and dr_vpc.body["cidr_block"] == str(dr.networking.vpc_cidr)
    subnets = [s.body for s in pilot_light.of_type("aws_subnet") if in_dr(Resource("aws_subnet", "", s.body))]
    assert {s["availability_zone"] for s in subnets} == set(pilot_light.config.dr_availability_zones)


def test_warm_standby_passes_the_checkov_gate(warm_standby: SynthesizedStack) -> None:
    result = subprocess.run(  # the shipped postures are gated in tests/test_checkov.py
        [
            sys.executable,
            "-m",
            "tools.checkov_gate",
            str(warm_standby.file.parent.parent),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    report = json.loads(result.stdout)
    summary = (report[0] if isinstance(report, list) else report)["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0 and summary["passed"] > 100, result.stdout[-2000:]


def test_each_posture_adds_more_in_the_dr_region(
    backup_restore: SynthesizedStack, pilot_light: SynthesizedStack, warm_standby: SynthesizedStack
) -> None:
    def count(stack: SynthesizedStack) -> int:
        return sum(1 for r in stack.all_resources() if in_dr(r))

    assert count(backup_restore) < count(pilot_light) < count(warm_standby)


def test_a_posture_runs_a_standby_exactly_when_it_replicates_the_database() -> None:
    """modules/recovery.py builds the standby where the global cluster exists; for that to be
    right, each posture must run compute in the DR region exactly when it replicates there."""
    postures = get_args(DisasterRecoveryConfig.model_fields["posture"].annotation)
    assert set(postures) == {"backup_restore", "pilot_light", "warm_standby"}
    for posture in postures:
        dr = DisasterRecoveryConfig.model_construct(posture=posture)
        assert dr.runs_compute == dr.global_database, posture
