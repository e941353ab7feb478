"""What a security reviewer checks, on every environment's synthesized JSON."""

from __future__ import annotations

import copy
import json
import re

import pytest

from config.aws_names import SECURITY_GROUP_TEXT, SECURITY_GROUP_TEXT_LENGTH
from modules.iam import SOURCE_ACCOUNT_DOCUMENTED
from modules.security.roles import SOURCE_ARNS_DOCUMENTED
from modules.security.security_groups import HOOK_INTERNET_EGRESS
from tests.conftest import SynthesizedStack, as_list, policy

#: Actions AWS does not let a policy scope to a resource: the only ones allowed on "*".
UNSCOPABLE_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "ecs:RegisterTaskDefinition",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetHealth",
    # A Lambda attached to a VPC manages its own network interfaces, and sends X-Ray traces.
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    # The optional load test runs CodeBuild in the VPC, which looks up the network it attaches to.
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # The ECS deploy action reads the service's current task definition, and lists its tasks
    # (authorised on container instances, which Fargate has none of; held to the cluster by condition).
    "ecs:DescribeTaskDefinition",
    "ecs:ListTasks",
    # No resource type in the Service Authorization Reference: both need "*".
    "logs:DescribeLogGroups",
    "codedeploy:PutLifecycleEventHookExecutionStatus",
}


def role_policies(stack: SynthesizedStack) -> dict[str, dict[str, object]]:
    """Every role policy of the environment and of the service in focus, by its path (the
    service's relative to it: role_policies/task)."""
    own = f"services/{stack.focused}/"
    return {
        r.path.removeprefix(own): policy(r.body["policy"])
        for r in stack.of_type("aws_iam_role_policy")
        if r.path.startswith(own) or not r.path.startswith("services/")
    }


def test_no_iam_policy_grants_every_action(any_service: SynthesizedStack) -> None:
    for path, document in role_policies(any_service).items():
        for statement in document["Statement"]:  # type: ignore[attr-defined]
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{path}: {action}"


def test_star_resources_only_for_actions_aws_cannot_scope(any_service: SynthesizedStack) -> None:
    for path, document in role_policies(any_service).items():
        for statement in document["Statement"]:  # type: ignore[attr-defined]
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= UNSCOPABLE_ACTIONS, f"{path}: {statement}"


def test_kms_wildcards_only_for_the_account_root_in_key_policies(stack: SynthesizedStack) -> None:
    root = f"arn:aws:iam::{stack.config.account_id}:root"
    for key in stack.of_type("aws_kms_key"):
        for statement in policy(key.body["policy"])["Statement"]:
            if "kms:*" in as_list(statement["Action"]):
                assert statement["Principal"] == {"AWS": root}, key.path
            assert statement["Principal"] != "*" and statement["Principal"] != {"AWS": "*"}


def test_every_key_rotates_and_has_an_explicit_policy(stack: SynthesizedStack) -> None:
    keys = stack.of_type("aws_kms_key")
    expected = {"keys/logs_key", "keys/data_key", "keys/artifacts_key", "keys/notifications_key"}
    # The DR region has its own set (a KMS key never leaves its region).
    regions = ("", "dr/") if stack.config.dr else ("",)
    assert {k.path for k in keys} == {prefix + key for prefix in regions for key in expected}
    for key in keys:
        assert key.body["enable_key_rotation"] is True
        assert key.body["deletion_window_in_days"] == 30
        assert policy(key.body["policy"])["Statement"]


def test_service_roles_trust_only_their_service_in_this_account(any_service: SynthesizedStack) -> None:
    """Where AWS documents that a service sends aws:SourceAccount, it is required; elsewhere it is
    enforced whenever present (a service that omits it could otherwise never assume the role).
    Where AWS documents aws:SourceArn for the role, the resources that use it are required too
    (aws_rules/trust.py checks each against the synthesized resources), and nowhere else: a
    condition on a key the service does not send would lock it out."""
    for role in any_service.of_type("aws_iam_role"):
        (statement,) = policy(role.body["assume_role_policy"])["Statement"]
        assert set(statement["Principal"]) == {"Service"}
        service = statement["Principal"]["Service"]
        operator = "StringEquals" if service in SOURCE_ACCOUNT_DOCUMENTED else "StringEqualsIfExists"
        purpose = role.path.rsplit("/", 1)[-1]  # roles/<purpose> or services/<key>/roles/<purpose>
        expected: dict[str, object] = {operator: {"aws:SourceAccount": any_service.config.account_id}}
        if purpose in SOURCE_ARNS_DOCUMENTED:
            sources = statement["Condition"]["ArnLike"]["aws:SourceArn"]
            assert sources and all(
                s.startswith("arn:aws:") and f":{any_service.config.account_id}:" in s for s in sources
            )
            expected["ArnLike"] = {"aws:SourceArn": sources}
        assert statement["Condition"] == expected, role.path


def test_roles_are_scoped_to_their_own_resources(codedeploy_stack: SynthesizedStack) -> None:
    stack = codedeploy_stack
    policies = role_policies(stack)
    ecr = stack.service().one("aws_ecr_repository", "ecr/repository").ref("arn")
    secret = stack.database_secret
    execution = {s["Sid"]: s for s in policies["role_policies/task_execution"]["Statement"]}  # type: ignore[index]
    assert execution["PullImages"]["Resource"] == [ecr]
    assert execution["ReadDatabaseSecret"]["Resource"] == [secret]
    codedeploy = {s["Sid"]: s for s in policies["role_policies/codedeploy"]["Statement"]}  # type: ignore[index]
    assert set(codedeploy["SwapListeners"]["Resource"]) == {
        stack.one("aws_lb_listener", "load_balancer/prod_listener").ref("arn"),
        stack.one("aws_lb_listener", "load_balancer/test_listener").ref("arn"),
    }
    for passing in ("codedeploy", "codepipeline"):
        statement = {s["Sid"]: s for s in policies[f"role_policies/{passing}"]["Statement"]}["PassTaskRolesToEcs"]  # type: ignore[index]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_the_application_task_role_may_only_sign_in_as_the_apps_database_user(any_service: SynthesizedStack) -> None:
    (statement,) = role_policies(any_service)["role_policies/task"]["Statement"]  # type: ignore[index]
    cluster = any_service.one("aws_rds_cluster", "database/cluster")
    user = any_service.config.database_identity(any_service.focused).user
    assert statement["Action"] == ["rds-db:connect"]
    assert statement["Resource"] == [
        f"arn:aws:rds-db:{any_service.config.region}:{any_service.config.account_id}:dbuser:"
        f"{cluster.ref('cluster_resource_id')}/{user}"
    ]
    assert user not in (any_service.config.database.master_username, any_service.config.database.owner_role)
    task_role = any_service.service().one("aws_iam_role", "roles/task").ref("name")
    assert all(a.body["role"] != task_role for a in any_service.of_type("aws_iam_role_policy_attachment"))
    assert cluster.body["iam_database_authentication_enabled"] is True


def test_only_alb_listeners_are_open_to_the_internet(stack: SynthesizedStack) -> None:
    lb = stack.config.load_balancer
    for rule in stack.of_type("aws_vpc_security_group_ingress_rule"):
        if rule.body.get("cidr_ipv4") == "0.0.0.0/0":
            region = "dr/" if rule.path.startswith("dr/") else ""
            alb_sg = stack.one("aws_security_group", f"{region}security_groups/alb_sg").ref("id")
            assert rule.body["security_group_id"] == alb_sg
            assert rule.body["from_port"] == rule.body["to_port"] in {lb.effective_prod_port, 80}
    assert not stack.of_type("aws_security_group_rule")


def test_test_listener_is_reachable_from_the_vpc_only(stack: SynthesizedStack) -> None:
    """In-VPC callers reach the internet-facing ALB through NAT: the ALB sees the NAT's address."""
    port = stack.config.load_balancer.test_listener_port
    sources = {
        r.body.get("cidr_ipv4")
        for r in stack.of_type("aws_vpc_security_group_ingress_rule")
        if r.body["from_port"] == port
    }
    nat_addresses = {f"{eip.ref('public_ip')}/32" for eip in stack.of_type("aws_eip")}
    assert sources == nat_addresses
    assert len(nat_addresses) == len(stack.of_type("aws_nat_gateway"))


def test_security_groups_chain_alb_to_tasks_to_database(stack: SynthesizedStack) -> None:
    sg = {
        name: stack.one("aws_security_group", f"security_groups/{name}_sg").ref("id")
        for name in ("alb", "tasks", "database")
    }
    ingress = {
        r.path.split("/")[1]: r.body
        for r in stack.of_type("aws_vpc_security_group_ingress_rule")
        if r.path.startswith("security_groups/")
    }
    tasks_in = [b for b in ingress.values() if b["security_group_id"] == sg["tasks"]]
    db_in = [b for b in ingress.values() if b["security_group_id"] == sg["database"]]
    assert [(b["referenced_security_group_id"], b["from_port"]) for b in tasks_in] == [
        (sg["alb"], stack.spec.container_port)
    ]
    assert [(b["referenced_security_group_id"], b["from_port"]) for b in db_in] == [(sg["tasks"], 5432)]
    for rule in list(stack.of_type("aws_vpc_security_group_ingress_rule")) + list(
        stack.of_type("aws_vpc_security_group_egress_rule")
    ):
        assert rule.body["ip_protocol"] != "-1", f"{rule.path} allows every protocol"
        assert rule.body.get("description"), f"{rule.path} has no description"


def test_only_the_hooks_reach_the_internet_where_the_vpc_has_endpoints_and_each_rule_says_why(
    stack: SynthesizedStack,
) -> None:
    """What must stay open to 0.0.0.0/0, and why: the hooks call the ALB's public test listener
    (through NAT) and AWS APIs that have no endpoint here; the tasks only without endpoints."""
    internet = {
        (r.path.rsplit("/", 1)[1], r.body["from_port"]): r.body["description"]
        for r in stack.of_type("aws_vpc_security_group_egress_rule")
        if r.body.get("cidr_ipv4") == "0.0.0.0/0"
    }
    hooks = {
        ("hook_out_test_listener", stack.config.load_balancer.test_listener_port): HOOK_INTERNET_EGRESS[
            "test_listener"
        ],
        ("hook_out_https", 443): HOOK_INTERNET_EGRESS["https"],
    }
    if stack.config.networking.interface_endpoints:
        assert internet == hooks
    else:
        tasks = internet.pop(("tasks_out_https", 443))
        assert internet == hooks and "through NAT: no interface endpoints in this VPC" in tasks
    egress = stack.of_type("aws_vpc_security_group_egress_rule")
    in_dr = {r.path.split("/")[-1] for r in egress if r.path.startswith("dr/")}
    assert not in_dr or in_dr == {"alb_out_tasks", "tasks_out_db", "tasks_out_endpoints", "tasks_out_s3"}


def _ec2_refuses(text: str) -> bool:
    return not re.fullmatch(f"[{SECURITY_GROUP_TEXT}]{{1,{SECURITY_GROUP_TEXT_LENGTH}}}", text)


def test_security_group_and_rule_descriptions_use_only_what_ec2_accepts(stack: SynthesizedStack) -> None:
    texts = [g.body["description"] for g in stack.of_type("aws_security_group")] + [
        r.body["description"]
        for kind in ("ingress", "egress")
        for r in stack.of_type(f"aws_vpc_security_group_{kind}_rule")
    ]
    assert len(texts) > 10
    assert [t for t in texts if _ec2_refuses(t)] == []


@pytest.mark.parametrize("text", ["To the tasks' container port", "x" * 256, "caf\u00e9", ""])
def test_ec2_refuses_apostrophes_accents_and_overlong_descriptions(text: str) -> None:
    assert _ec2_refuses(text)


def test_every_vpc_endpoint_has_a_policy_in_every_region(stack: SynthesizedStack) -> None:
    endpoints = stack.of_type("aws_vpc_endpoint")
    assert [e.path for e in endpoints if not e.body.get("policy")] == []
    regions = {e.path.startswith("dr/") for e in endpoints}
    assert regions == {False} | ({True} if stack.config.dr is not None and stack.config.dr.runs_compute else set())


def test_the_s3_gateway_admits_ecrs_layer_bucket_and_only_the_accounts_own_buckets(stack: SynthesizedStack) -> None:
    """Fargate downloads image layers from ECR's bucket with URLs ECR signs, so that statement
    names no principal; every other S3 request through the gateway must come from the account
    and go to the account's buckets.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-minimum-s3-perms"""
    account = stack.config.account_id
    for gateway in (e for e in stack.of_type("aws_vpc_endpoint") if e.body["vpc_endpoint_type"] == "Gateway"):
        region = gateway.body["service_name"].split(".")[2]
        layers, own = policy(gateway.body["policy"])["Statement"]
        assert layers["Action"] == ["s3:GetObject"] and "Condition" not in layers
        assert layers["Resource"] == [f"arn:aws:s3:::prod-{region}-starport-layer-bucket/*"]
        assert own["Condition"] == {"StringEquals": {"aws:PrincipalAccount": account, "s3:ResourceAccount": account}}
        assert not [a for a in own["Action"] if "Delete" in a or "Policy" in a or a.endswith("*")]


#: What each interface endpoint carries: the calls Fargate makes for the tasks (and the load
#: test's build writes its log), as in AmazonECSTaskExecutionRolePolicy and ECS's secrets docs.
_ECR_PULL = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
}
ENDPOINT_ACTIONS = {
    "ecr.api": _ECR_PULL,
    "ecr.dkr": _ECR_PULL,
    "logs": {"logs:CreateLogStream", "logs:PutLogEvents"},
    "secretsmanager": {"secretsmanager:GetSecretValue"},
    "ssm": {"ssm:GetParameters"},
}


def test_interface_endpoints_admit_only_the_task_execution_role_and_the_calls_it_makes(
    stack: SynthesizedStack,
) -> None:
    execution = stack.service().one("aws_iam_role", "roles/task_execution").ref("arn")
    load_test = [
        r.ref("arn") for r in stack.service().of_type("aws_iam_role") if stack.service().local(r) == "roles/load_test"
    ]
    interfaces = [e for e in stack.of_type("aws_vpc_endpoint") if e.body["vpc_endpoint_type"] == "Interface"]
    assert bool(interfaces) is stack.config.networking.interface_endpoints
    for endpoint in interfaces:
        service = endpoint.body["service_name"].split(".", 3)[3]
        admitted = {execution, *(load_test if service == "logs" and not endpoint.path.startswith("dr/") else ())}
        for statement in policy(endpoint.body["policy"])["Statement"]:
            assert statement["Effect"] == "Allow" and set(statement["Principal"]["AWS"]) <= admitted, endpoint.path
            assert set(statement["Action"]) <= ENDPOINT_ACTIONS[service], endpoint.path


def test_default_security_group_allows_nothing(stack: SynthesizedStack) -> None:
    default = stack.one("aws_default_security_group").body
    assert default["ingress"] == [] and default["egress"] == []


def test_tasks_and_database_live_in_private_subnets(any_service: SynthesizedStack) -> None:
    service = any_service.service().one("aws_ecs_service").body["network_configuration"]
    assert service["assign_public_ip"] is False
    assert all("networking_private_" in s for s in service["subnets"])
    group = any_service.one("aws_db_subnet_group").body
    assert all("networking_database_" in s for s in group["subnet_ids"])
    for instance in any_service.of_type("aws_rds_cluster_instance"):
        assert instance.body["publicly_accessible"] is False
    for subnet in any_service.of_type("aws_subnet"):
        assert subnet.body["map_public_ip_on_launch"] is False


def test_database_subnets_have_no_route_out(stack: SynthesizedStack) -> None:
    table = stack.one("aws_route_table", "networking/database_rt").ref("id")
    assert all(route.body["route_table_id"] != table for route in stack.of_type("aws_route"))


def test_no_secret_is_written_into_code_or_state(any_service: SynthesizedStack) -> None:
    cluster = any_service.one("aws_rds_cluster").body
    assert "master_password" not in cluster
    if any_service.config.dr is not None and any_service.config.dr.global_database:
        # RDS cannot manage a global member's password: generated at apply, sent write-only.
        assert cluster["master_password_wo"].startswith("${ephemeral.aws_secretsmanager_random_password.")
    else:
        assert cluster["manage_master_user_password"] is True and "master_password_wo" not in cluster
    text = any_service.file.read_text()
    assert not re.search(r'"(master_)?password"\s*:', text, re.I)
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    (container,) = json.loads(any_service.service().one("aws_ecs_task_definition").body["container_definitions"])
    # The service signs in with IAM tokens: it receives no database secret at all.
    assert [s["name"] for s in container["secrets"]] == sorted(any_service.spec.secrets)
    assert not any(re.search("PASSWORD|SECRET", e["name"]) for e in container["environment"])


def test_everything_that_stores_data_is_encrypted_with_a_customer_key(stack: SynthesizedStack) -> None:
    keys = {k.path: k.ref("arn") for k in stack.of_type("aws_kms_key")}

    def key(resource_path: str, purpose: str) -> str:
        """The key of that purpose in the resource's own region."""
        return keys[f"{'dr/' if resource_path.startswith('dr/') else ''}keys/{purpose}_key"]

    for cluster in stack.of_type("aws_rds_cluster"):
        assert cluster.body["storage_encrypted"] is True
        assert cluster.body["kms_key_id"] == key(cluster.path, "data")
    cluster = stack.one("aws_rds_cluster").body
    if cluster.get("manage_master_user_password"):
        assert cluster["master_user_secret_kms_key_id"] == keys["keys/data_key"]
    for secret in stack.of_type("aws_secretsmanager_secret"):
        assert secret.body["kms_key_id"] == keys["keys/data_key"]
        assert all(r["kms_key_id"] == keys["dr/keys/data_key"] for r in secret.body.get("replica", []))
    ecr = stack.service().one("aws_ecr_repository").body
    assert ecr["encryption_configuration"] == [{"encryption_type": "KMS", "kms_key": keys["keys/artifacts_key"]}]
    for group in stack.of_type("aws_cloudwatch_log_group"):
        assert group.body["kms_key_id"] == key(group.path, "logs"), group.path
    for instance in stack.of_type("aws_rds_cluster_instance"):
        assert instance.body["performance_insights_kms_key_id"] == key(instance.path, "data")
    for vault in stack.of_type("aws_backup_vault"):
        assert vault.body["kms_key_arn"] == key(vault.path, "data")


def test_buckets_are_private_versioned_and_tls_only(stack: SynthesizedStack) -> None:
    buckets = stack.of_type("aws_s3_bucket")
    # Access logs and each service's artifacts; the DR region's ALB has its own access-log bucket.
    dr_logs = 1 if stack.config.dr and stack.config.dr.runs_compute else 0
    assert len(buckets) == 1 + len(stack.config.all_services) + dr_logs
    for block in stack.of_type("aws_s3_bucket_public_access_block"):
        assert all(
            block.body[k] is True
            for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        )
    assert len(stack.of_type("aws_s3_bucket_public_access_block")) == len(buckets)
    for versioning in stack.of_type("aws_s3_bucket_versioning"):
        assert versioning.body["versioning_configuration"]["status"] == "Enabled"
    for bucket_policy in stack.of_type("aws_s3_bucket_policy"):
        deny = policy(bucket_policy.body["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ecr_is_immutable_scanned_and_pruned(any_service: SynthesizedStack) -> None:
    repository = any_service.service().one("aws_ecr_repository").body
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"] == {"scan_on_push": True}
    rules = json.loads(any_service.service().one("aws_ecr_lifecycle_policy").body["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["tagged", "untagged", "any"]
    # The image the any_service's own task definition names outlives any number of releases.
    assert rules[0]["selection"]["tagPatternList"] == [any_service.spec.initial_image_tag]
    assert rules[0]["selection"]["countNumber"] >= 1


def test_public_alb_is_hardened_and_behind_waf(stack: SynthesizedStack) -> None:
    alb = stack.one("aws_lb").body
    assert alb["drop_invalid_header_fields"] is True
    assert alb["access_logs"]["enabled"] is True
    association = stack.one("aws_wafv2_web_acl_association").body
    assert association["resource_arn"] == stack.one("aws_lb").ref("arn")
    rules = [
        r["statement"]["managed_rule_group_statement"]["name"]
        for r in stack.one("aws_wafv2_web_acl").body["rule"]
        if "managed_rule_group_statement" in r["statement"]
    ]
    assert "AWSManagedRulesKnownBadInputsRuleSet" in rules


def test_vpc_flow_logs_capture_all_traffic(stack: SynthesizedStack) -> None:
    flow = stack.one("aws_flow_log").body
    assert flow["traffic_type"] == "ALL"
    assert flow["vpc_id"] == stack.one("aws_vpc").ref("id")


def test_stack_can_only_be_applied_to_its_own_account(stack: SynthesizedStack) -> None:
    providers = stack.json["provider"]["aws"]
    assert len(providers) == (2 if stack.config.dr else 1)  # the DR region's has alias "dr"
    for provider in providers:
        assert provider["allowed_account_ids"] == [stack.config.account_id]
        assert provider["default_tags"][0]["tags"]["environment"] == stack.env


def test_state_is_remote_encrypted_and_locked(stack: SynthesizedStack) -> None:
    backend = stack.json["terraform"]["backend"]["s3"]
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    assert backend["key"] == f"bluegreen/{stack.env}/terraform.tfstate"


def test_production_data_survives_mistakes(prod: SynthesizedStack) -> None:
    cluster = prod.one("aws_rds_cluster").body
    assert cluster["deletion_protection"] is True
    assert cluster["skip_final_snapshot"] is False and cluster["final_snapshot_identifier"]
    assert cluster["backup_retention_period"] >= 7
    instances = prod.in_region("aws_rds_cluster_instance", dr=False)
    assert len(instances) >= 2
    assert len({i.body["availability_zone"] for i in instances}) == len(instances), "instances share an AZ"
    assert prod.one("aws_lb").body["enable_deletion_protection"] is True
    assert len(prod.in_region("aws_nat_gateway", dr=False)) == 3


def test_production_data_cannot_be_destroyed_by_terraform(synthesized: dict[str, SynthesizedStack]) -> None:
    guarded = ("aws_rds_cluster", "aws_kms_key", "aws_ecr_repository")
    for env, stack in synthesized.items():
        for resource_type in guarded:
            for resource in stack.of_type(resource_type):
                prevent = resource.body.get("lifecycle", {}).get("prevent_destroy", False)
                assert prevent is stack.config.production, f"{env}: {resource.path}"


def test_backups_and_final_snapshots_per_environment(stack: SynthesizedStack) -> None:
    cluster = stack.one("aws_rds_cluster").body
    assert cluster["backup_retention_period"] == stack.config.database.backup_retention_days
    assert cluster["skip_final_snapshot"] is stack.config.database.skip_final_snapshot
    assert cluster["deletion_protection"] is stack.config.database.deletion_protection
    assert ("final_snapshot_identifier" in cluster) is (not stack.config.database.skip_final_snapshot)


def test_flow_log_role_writes_only_to_the_flow_log_group(stack: SynthesizedStack) -> None:
    group = stack.one("aws_cloudwatch_log_group", "networking/flow_log_group").ref("arn")
    find, deliver = policy(stack.platform.one("aws_iam_role_policy", "role_policies/flow_logs").body["policy"])[
        "Statement"
    ]
    assert find["Action"] == ["logs:DescribeLogGroups"] and find["Resource"] == ["*"]
    assert deliver["Resource"] == [group, f"{group}:*"]
    assert stack.one("aws_flow_log").body["log_destination"] == group


# --- The database master secret's resource policy ---


def master_secret_policy_problems(stack: SynthesizedStack) -> list[str]:
    """The master secret admits its readers (each service's migration task's execution role),
    refuses every other role of the stack, blocks public policies, and refuses nobody outside the
    stack's roles (the deployer, who reads a stack-created secret back on refresh, and the
    account's admins)."""
    secret = stack.database_secret
    policies = [p for p in stack.of_type("aws_secretsmanager_secret_policy") if p.body["secret_arn"] == secret]
    if len(policies) != 1:
        return [f"{len(policies)} resource policies on the master secret {secret}, not 1"]
    body = policies[0].body
    problems = [] if body.get("block_public_policy") is True else ["block_public_policy is not set"]
    statements = {s["Sid"]: s for s in policy(body["policy"])["Statement"]}
    readers = {
        stack.service(key).one("aws_iam_role", "roles/task_execution").ref("arn") for key in stack.config.all_services
    }
    roles = {r.ref("arn") for r in stack.of_type("aws_iam_role")}
    read = statements.get("ReadersOfTheMasterSecret", {})
    admitted = read.get("Principal", {}).get("AWS") if isinstance(read.get("Principal"), dict) else None
    if read.get("Effect") != "Allow" or sorted(as_list(admitted)) != sorted(readers):
        problems.append(f"the reader statement admits {read.get('Principal')}, not the execution roles")
    refuse = statements.get("NoOtherRoleOfTheStack", {})
    refused = set(as_list(refuse.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn", [])))
    if refuse.get("Effect") != "Deny" or refuse.get("Action") != ["secretsmanager:*"]:
        problems.append("the refusal is not a Deny of every Secrets Manager action")
    if refused != roles - readers:
        problems.append(f"refuses {sorted(refused)}, not exactly the stack's other roles {sorted(roles - readers)}")
    if set(refuse.get("Condition", {})) != {"ArnEquals"}:
        problems.append(f"the refusal has other conditions: {refuse.get('Condition')}")
    if set(statements) != {"ReadersOfTheMasterSecret", "NoOtherRoleOfTheStack"}:
        problems.append(f"unexpected statements {sorted(statements)}")
    return problems


def test_the_master_secret_admits_its_reader_and_refuses_the_stacks_other_roles(stack: SynthesizedStack) -> None:
    assert master_secret_policy_problems(stack) == []


def test_a_master_secret_policy_that_lets_another_role_read_is_reported(prod: SynthesizedStack) -> None:
    document = json.loads(json.dumps(prod.json))
    (body,) = document["resource"]["aws_secretsmanager_secret_policy"].values()
    parsed = json.loads(body["policy"])
    deny = next(s for s in parsed["Statement"] if s["Effect"] == "Deny")
    hook = prod.service().one("aws_iam_role", "roles/test_hook").ref("arn")
    deny["Condition"]["ArnEquals"]["aws:PrincipalArn"].remove(hook)
    body["policy"] = json.dumps(parsed)
    broken = SynthesizedStack(prod.env, prod.config, document, prod.file)
    assert any("not exactly the stack's other roles" in p for p in master_secret_policy_problems(broken))


def test_only_the_migration_task_receives_the_master_secret(stack: SynthesizedStack) -> None:
    """Since the app signs in with IAM tokens, the only reader is the migration task: its
    definition (registered by the migration step) is the only one naming the master secret."""
    secret = stack.database_secret
    readers = [
        p.path
        for p in stack.of_type("aws_iam_role_policy")
        if any(
            secret in as_list(s["Resource"]) and "secretsmanager:GetSecretValue" in as_list(s["Action"])
            for s in policy(p.body["policy"])["Statement"]
        )
    ]
    assert sorted(readers) == sorted(
        f"{stack.service(key).prefix}role_policies/task_execution" for key in stack.config.all_services
    )
    (container,) = json.loads(stack.service().one("aws_ecs_task_definition").body["container_definitions"])
    assert secret not in json.dumps(container)
    project = (
        stack.service().one("aws_codebuild_project", "migrations/project").body["environment"]["environment_variable"]
    )
    template = next(v["value"] for v in project if v["name"] == "MIGRATE_TASKDEF")
    assert secret in template


# --- aws:SourceArn beside aws:SourceAccount in resource policies ---


def topic_publishers_outside_its_policy(stack: SynthesizedStack) -> list[str]:
    """Every alarm that notifies the topic is one the topic policy's CloudWatch statement admits."""
    from aws_rules.keys import conditions_hold

    topic = stack.one("aws_sns_topic").ref("arn")
    (topic_policy,) = [p for p in stack.of_type("aws_sns_topic_policy") if p.body["arn"] == topic]
    statements = {s["Sid"]: s for s in policy(topic_policy.body["policy"])["Statement"]}
    alarms = statements["AlarmsPublish"]
    problems = []
    for alarm in stack.service().of_type("aws_cloudwatch_metric_alarm"):
        if topic not in alarm.body.get("alarm_actions", []) + alarm.body.get("ok_actions", []):
            continue
        arn = f"arn:aws:cloudwatch:{stack.config.region}:{stack.config.account_id}:alarm:{alarm.body['alarm_name']}"
        context = {"aws:SourceArn": arn, "aws:SourceAccount": stack.config.account_id}
        if not conditions_hold(alarms["Condition"], context):
            problems.append(f"{alarm.path} ({arn}) cannot publish to the topic")
    return problems


def test_the_topic_admits_this_stacks_alarms_and_notification_rules_only(stack: SynthesizedStack) -> None:
    (topic_policy,) = stack.of_type("aws_sns_topic_policy")
    statements = {s["Sid"]: s for s in policy(topic_policy.body["policy"])["Statement"]}
    assert statements["AlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statements["AlarmsPublish"]["Condition"]["StringEquals"] == {"aws:SourceAccount": stack.config.account_id}
    assert statements["NotificationRulesPublish"]["Principal"] == {"Service": "codestar-notifications.amazonaws.com"}
    assert statements["NotificationRulesPublish"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": stack.config.account_id}
    }
    assert topic_publishers_outside_its_policy(stack) == []


def test_an_alarm_the_topic_policy_does_not_name_is_reported(prod: SynthesizedStack) -> None:
    document = json.loads(json.dumps(prod.json))
    alarm = next(iter(document["resource"]["aws_cloudwatch_metric_alarm"].values()))
    alarm["alarm_name"] = "someone-elses-alarm"
    broken = SynthesizedStack(prod.env, prod.config, document, prod.file)
    assert any("someone-elses-alarm" in p for p in topic_publishers_outside_its_policy(broken))


def server_access_logs_outside_the_log_bucket_policy(stack: SynthesizedStack) -> list[str]:
    """Every bucket logging into a log bucket is named by that bucket's S3 log delivery statement."""
    from aws_rules.keys import conditions_hold

    buckets = {b.ref("id"): b for b in stack.of_type("aws_s3_bucket")}
    problems = []
    for logging in stack.of_type("aws_s3_bucket_logging"):
        source = buckets[logging.body["bucket"]]
        target = logging.body["target_bucket"].replace(".bucket}", ".id}")
        (bucket_policy,) = [p for p in stack.of_type("aws_s3_bucket_policy") if p.body["bucket"] == target]
        statements = [
            s
            for s in policy(bucket_policy.body["policy"])["Statement"]
            if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
        ]
        context = {
            "aws:SourceArn": f"arn:aws:s3:::{source.body['bucket']}",
            "aws:SourceAccount": stack.config.account_id,
        }
        if not any(conditions_hold(s.get("Condition", {}), context) for s in statements):
            problems.append(f"{source.path} logs into {target}, whose policy does not admit its delivery")
        if any("aws:SourceArn" not in json.dumps(s.get("Condition", {})) for s in statements):
            problems.append(f"{target}: S3 log delivery is admitted for any source bucket")
    return problems


def test_s3_log_delivery_is_admitted_for_exactly_the_buckets_that_log_there(stack: SynthesizedStack) -> None:
    assert server_access_logs_outside_the_log_bucket_policy(stack) == []


def test_a_bucket_logging_where_delivery_is_not_admitted_for_it_is_reported(dev: SynthesizedStack) -> None:
    document = json.loads(json.dumps(dev.json))
    bucket = next(
        b
        for b in document["resource"]["aws_s3_bucket"].values()
        if b["//"]["metadata"]["path"].endswith("artifacts/bucket")
    )
    bucket["bucket"] = "renamed-artifacts"
    broken = SynthesizedStack(dev.env, dev.config, document, dev.file)
    assert any("whose policy does not admit" in p for p in server_access_logs_outside_the_log_bucket_policy(broken))


@pytest.fixture(scope="module")
def with_secrets(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    """prod, its tasks reading a Secrets Manager secret of another account and an SSM parameter of
    its own, both in the primary region (so in neither of the DR region's endpoints)."""
    import yaml

    from config import EnvironmentConfig
    from tests.conftest import ROOT, synthesize_configs

    data = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    data["service"]["secrets"] = {
        "API_KEY": "arn:aws:secretsmanager:eu-west-1:999999999999:secret:shared/api-key-AbCdEf",
        "FLAG": "arn:aws:ssm:eu-west-1:333333333333:parameter/app/flag",
    }
    config = EnvironmentConfig.model_validate(data)
    return synthesize_configs({"prod-secrets": config}, tmp_path_factory.mktemp("secrets"))["prod-secrets"]


def test_tasks_read_their_secrets_through_the_endpoints_of_their_region_or_else_through_nat(
    with_secrets: SynthesizedStack,
) -> None:
    from aws_rules.network import broad_endpoint_statements, needless_internet_egress, stuck
    from aws_rules.stack import Stack

    endpoints = {e.path: e.body for e in with_secrets.of_type("aws_vpc_endpoint")}
    assert "networking/endpoint_ssm" in endpoints and "dr/networking/endpoint_ssm" not in endpoints
    assert "dr/networking/endpoint_secretsmanager" not in endpoints
    (read,) = policy(endpoints["networking/endpoint_secretsmanager"]["policy"])["Statement"]
    assert read["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:333333333333:secret:*",
        "arn:aws:secretsmanager:eu-west-1:999999999999:secret:shared/api-key-AbCdEf",
    ]
    (parameters,) = policy(endpoints["networking/endpoint_ssm"]["policy"])["Statement"]
    assert parameters["Action"] == ["ssm:GetParameters"]
    assert parameters["Resource"] == ["arn:aws:ssm:eu-west-1:333333333333:parameter/*"]
    internet = {
        r.path: r.body["description"]
        for r in with_secrets.of_type("aws_vpc_security_group_egress_rule")
        if r.body.get("cidr_ipv4") == "0.0.0.0/0" and "tasks" in r.path
    }
    assert list(internet) == ["dr/security_groups/tasks_out_https"]
    assert "another region" in internet["dr/security_groups/tasks_out_https"]
    stack = Stack(with_secrets.json)
    assert list(broad_endpoint_statements(stack)) == [] and list(needless_internet_egress(stack)) == []
    assert [str(s) for s in stuck(stack)] == []
    # Control: without the other account's secret named, its endpoint refuses that read.
    narrowed = copy.deepcopy(with_secrets.json)
    (manager,) = [
        e for e in narrowed["resource"]["aws_vpc_endpoint"].values() if e["service_name"].endswith(".secretsmanager")
    ]
    manager["policy"] = manager["policy"].replace("999999999999", "111111111111")
    (refused,) = stuck(Stack(narrowed))
    assert refused.resource.endswith("shared/api-key-AbCdEf") and "does not admit" in refused.why
