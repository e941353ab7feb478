"""Each construct on its own, wired with fake ARNs: what it takes in is what it emits."""

from __future__ import annotations

import json
from typing import Any

from cdktf import TerraformStack
from cdktf import Testing as CdktfTesting

import modules  # noqa: F401  (installs the lazy provider loader first)
from modules.ecr import Ecr, EcrProps
from modules.security import PrivateApis, SecurityGroups, SecurityGroupsProps, ThroughNat
from modules.security.keys import EncryptionKeys, EncryptionKeysProps

FAKE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-4000-8000-000000000000"


def synth(build: Any) -> dict[str, Any]:
    stack = TerraformStack(CdktfTesting.app(), "unit")
    build(stack)
    document: dict[str, Any] = json.loads(CdktfTesting.synth(stack))
    return document


def test_ecr_uses_the_key_it_is_given() -> None:
    out = synth(
        lambda s: Ecr(s, "ecr", EcrProps(repository_name="team/app", kms_key_arn=FAKE_KEY, protected_tag="bootstrap"))
    )
    (repository,) = out["resource"]["aws_ecr_repository"].values()
    assert repository["name"] == "team/app"
    assert repository["encryption_configuration"] == [{"encryption_type": "KMS", "kms_key": FAKE_KEY}]


NAT = ThroughNat("test")


def _security_groups(
    redirect: bool = True, apis: PrivateApis | ThroughNat = NAT, service_https: tuple[str, ...] = ()
) -> SecurityGroupsProps:
    return SecurityGroupsProps(
        name_prefix="t",
        vpc_id="vpc-123",
        nat_public_cidrs=["198.51.100.7/32"],
        prod_listener_port=443,
        http_redirect=redirect,
        test_listener_port=8443,
        ingress_cidrs=["0.0.0.0/0"],
        test_ingress_cidrs=["192.0.2.0/24"],
        container_ports=[8080],
        task_apis=apis,
        service_https_cidrs=service_https,
    )


def test_security_groups_open_port_80_only_for_the_https_redirect() -> None:
    def build(s: TerraformStack, redirect: bool) -> None:
        SecurityGroups(s, "sg", _security_groups(redirect))

    for redirect in (True, False):
        out = synth(lambda s, r=redirect: build(s, r))  # type: ignore[misc]
        ports = sorted(
            (r["from_port"], r.get("cidr_ipv4"))
            for r in out["resource"]["aws_vpc_security_group_ingress_rule"].values()
            if r.get("cidr_ipv4")
        )
        expected = [(443, "0.0.0.0/0"), (8443, "198.51.100.7/32"), (8443, "192.0.2.0/24")]
        assert ports == sorted(expected + ([(80, "0.0.0.0/0")] if redirect else []))


def _group(out: dict[str, Any], name: str) -> str:
    (address,) = [k for k, g in out["resource"]["aws_security_group"].items() if g["name"] == name]
    return f"${{aws_security_group.{address}.id}}"


def _tasks_egress(out: dict[str, Any]) -> list[tuple[int, str]]:
    tasks = _group(out, "t-tasks")
    return sorted(
        (r["from_port"], r.get("cidr_ipv4") or r.get("prefix_list_id") or r["referenced_security_group_id"])
        for r in out["resource"]["aws_vpc_security_group_egress_rule"].values()
        if r["security_group_id"] == tasks
    )


def test_tasks_reach_aws_only_through_the_endpoints_they_are_given() -> None:
    private = synth(lambda s: SecurityGroups(s, "sg", _security_groups(apis=PrivateApis("sg-endpoints", "pl-s3"))))
    database = _group(private, "t-database")
    assert _tasks_egress(private) == [(443, "pl-s3"), (443, "sg-endpoints"), (5432, database)]
    nat = synth(lambda s: SecurityGroups(s, "sg", _security_groups(apis=ThroughNat("no endpoints"))))
    tasks = _group(nat, "t-tasks")
    (https,) = [
        r
        for r in nat["resource"]["aws_vpc_security_group_egress_rule"].values()
        if r["security_group_id"] == tasks and r["from_port"] == 443
    ]
    assert https["cidr_ipv4"] == "0.0.0.0/0" and https["description"] == "no endpoints"
    declared = synth(lambda s: SecurityGroups(s, "sg", _security_groups(service_https=("203.0.113.0/24",))))
    assert (443, "203.0.113.0/24") in _tasks_egress(declared)
    # The world declared while HTTPS goes through NAT anyway: one rule, not a duplicate AWS refuses.
    world = synth(lambda s: SecurityGroups(s, "sg", _security_groups(service_https=("0.0.0.0/0",))))
    assert [r for r in _tasks_egress(world) if r[0] == 443] == [(443, "0.0.0.0/0")]
    private_world = synth(
        lambda s: SecurityGroups(
            s, "sg", _security_groups(apis=PrivateApis("sg-endpoints", "pl-s3"), service_https=("0.0.0.0/0",))
        )
    )
    assert [r for r in _tasks_egress(private_world) if r[0] == 443] == [
        (443, "0.0.0.0/0"),
        (443, "pl-s3"),
        (443, "sg-endpoints"),
    ]


def test_key_policies_name_exactly_the_roles_they_are_given() -> None:
    pipeline_roles = ("arn:aws:iam::123456789012:role/p", "arn:aws:iam::123456789012:role/b")
    out = synth(
        lambda s: EncryptionKeys(
            s,
            "keys",
            EncryptionKeysProps(
                name_prefix="t",
                account_id="123456789012",
                partition="aws",
                region="eu-west-1",
                log_group_names=("/ecs/t/app",),
                data_created=("aurora_storage",),
                pipeline_role_arns=pipeline_roles,
                secret_reader_role_arns=("arn:aws:iam::123456789012:role/x",),
            ),
        )
    )
    policies = {k.split("_")[1]: json.loads(v["policy"]) for k, v in out["resource"]["aws_kms_key"].items()}
    artifacts = {s["Sid"]: s for s in policies["artifacts"]["Statement"]}
    assert artifacts["PipelineRolesUseKey"]["Principal"] == {"AWS": list(pipeline_roles)}
    data = {s["Sid"]: s for s in policies["data"]["Statement"]}
    assert data["TaskExecutionReadsDatabaseSecret"]["Principal"] == {"AWS": ["arn:aws:iam::123456789012:role/x"]}
    assert data["TaskExecutionReadsDatabaseSecret"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    # The deployer creates the cluster through RDS only, and RDS may grant itself the key only.
    assert data["AccountLetsRdsGrantItselfTheKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "rds.eu-west-1.amazonaws.com"},
        "Bool": {"kms:GrantIsForAWSResource": "true"},
    }
    assert set(data) == {
        "AccountAdministersKey",
        "AccountUsesKeyThroughRds",
        "AccountLetsRdsGrantItselfTheKey",
        "TaskExecutionReadsDatabaseSecret",
    }
    logs = {s["Sid"]: s for s in policies["logs"]["Statement"]}
    assert logs["CloudWatchLogsUseKeyForTheProjectsLogGroups"]["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": ["arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/t/app"]
        }
    }
    # Nobody uses the notifications key of a Region without the topic: administration only.
    assert [s["Sid"] for s in policies["notifications"]["Statement"]] == ["AccountAdministersKey"]


def test_traffic_shifting_uses_predefined_configs_and_creates_the_rest() -> None:
    from modules.traffic import PREDEFINED, TrafficShifting, deployment_config_name

    assert PREDEFINED[TrafficShifting("canary", 10, 15)] == "CodeDeployDefault.ECSCanary10Percent15Minutes"
    names: dict[str, str] = {}

    def build(s: TerraformStack) -> None:
        names["predefined"] = deployment_config_name(s, "t", TrafficShifting("linear", 10, 3))
        names["custom"] = deployment_config_name(s, "t", TrafficShifting("canary", 25, 10))

    out = synth(build)
    assert names["predefined"] == "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
    (config,) = out["resource"]["aws_codedeploy_deployment_config"].values()
    assert config["deployment_config_name"] == "t-canary-25pct-10min"
    assert config["traffic_routing_config"] == {
        "type": "TimeBasedCanary",
        "time_based_canary": {"percentage": 25, "interval": 10},
    }


def test_the_destroy_step_of_the_harness_lifts_every_guard() -> None:
    from tools.harness.terraform_offline import without_deletion_protection

    document = {
        "resource": {
            "aws_rds_cluster": {"db": {"deletion_protection": True, "lifecycle": {"prevent_destroy": True}}},
            "aws_lb": {"alb": {"enable_deletion_protection": True}},
        }
    }
    lifted = without_deletion_protection(document)
    assert lifted["resource"]["aws_rds_cluster"]["db"] == {
        "deletion_protection": False,
        "skip_final_snapshot": True,
        "lifecycle": {},
    }
    assert lifted["resource"]["aws_lb"]["alb"]["enable_deletion_protection"] is False
    assert document["resource"]["aws_rds_cluster"]["db"]["lifecycle"] == {"prevent_destroy": True}, "input untouched"


def test_the_load_balancing_algorithm_reaches_both_target_groups_only_when_configured() -> None:
    """A knob from the config section to the resource with no stack code: from_section copies it."""
    from config.schema import LoadBalancerConfig
    from modules.load_balancer import LoadBalancerSettings, ServiceRoute, ServiceRouteProps
    from modules.settings import from_section

    def groups(section: LoadBalancerConfig) -> list[dict[str, Any]]:
        def build(stack: TerraformStack) -> None:
            ServiceRoute(
                stack,
                "route",
                ServiceRouteProps(
                    blue_target_group_name="blue",
                    green_target_group_name="green",
                    vpc_id="vpc-1",
                    container_port=8080,
                    health_check_path="/ready",
                    settings=from_section(LoadBalancerSettings, section),
                ),
            )

        return list(synth(build)["resource"]["aws_lb_target_group"].values())

    chosen = groups(LoadBalancerConfig(load_balancing_algorithm="least_outstanding_requests"))
    assert [g["load_balancing_algorithm_type"] for g in chosen] == ["least_outstanding_requests"] * 2
    assert all("load_balancing_algorithm_type" not in g for g in groups(LoadBalancerConfig()))
