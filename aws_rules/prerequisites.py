"""Rule 2: what AWS checks when a resource is created, beyond what it references.

Each row names a resource type, when the rule applies, what must exist before it (as a function
finding the candidates in the stack: any one of them, reached by reference or ``depends_on``,
satisfies the rule) and the AWS document that says so. An emulator accepts every one of these
orders; AWS refuses them, or the resource's first action (a pipeline's first run, a service's
first tasks) fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_rules import iam
from aws_rules.stack import Resource, Stack

#: ELB access-log delivery: a regional ELB account (older regions) or the log delivery service.
ELB_DELIVERY = ("arn:aws", "elasticloadbalancing.amazonaws.com", ":root")


@dataclass(frozen=True)
class Requirement:
    """What one resource needs first, and the resources of the stack that would provide it."""

    what: str
    candidates: tuple[Resource, ...]


@dataclass(frozen=True)
class Prerequisite:
    name: str
    resource_type: str
    #: What must exist first, in words (the failure message repeats it).
    needs: str
    source: str
    applies: Callable[[Resource], bool]
    requirements: Callable[[Stack, Resource], list[Requirement]]


@dataclass(frozen=True)
class Missing:
    rule: Prerequisite
    resource: Resource
    requirement: Requirement

    def __str__(self) -> str:
        where = (
            f"depend on one of {[c.path for c in self.requirement.candidates]}"
            if self.requirement.candidates
            else "nothing in the stack provides it"
        )
        return (
            f"{self.resource.path} ({self.resource.type}) is created without waiting for {self.requirement.what} "
            f"[{self.rule.name}: {self.rule.source}]: {where}"
        )


def _get(body: dict[str, Any], *path: str | int) -> Any:
    node: Any = body
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and len(node) > part else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _role_allowing(
    stack: Stack, role_reference: Any, what: str, actions: tuple[str, ...], on: Resource | None = None
) -> list[Requirement]:
    """The role's inline policies that allow ``actions`` (on a resource naming ``on``, when given)."""
    role = iam.target(stack, role_reference)
    policies = iam.role_policies(stack, role) if role else []
    return [Requirement(f"{what} ({', '.join(actions)})", tuple(iam.allowing(policies, actions, on)))]


def _role_with_managed(stack: Stack, role_reference: Any, policy_name: str) -> list[Requirement]:
    role = iam.target(stack, role_reference)
    policies = iam.role_policies(stack, role) if role else []
    return [Requirement(f"its role's {policy_name} attachment", tuple(iam.managed(policies, policy_name)))]


def _bucket_policy_admitting(
    stack: Stack, bucket_reference: Any, principal: Callable[[str], bool], who: str
) -> list[Requirement]:
    bucket = iam.target(stack, bucket_reference)
    found = [
        policy
        for policy in stack.of_type("aws_s3_bucket_policy")
        if bucket is not None
        and iam.refers_to(policy.body.get("bucket"), bucket)
        and any(
            iam.allows({"Statement": [s]}, "s3:PutObject") and any(principal(p) for p in iam.principals(s))
            for s in iam.statements(policy.body["policy"])
        )
    ]
    return [Requirement(f"the bucket policy that lets {who} write", tuple(found))]


def _forwarders(stack: Stack, target_group_reference: str) -> tuple[Resource, ...]:
    """Listeners and listener rules that forward to a target group."""
    group = iam.target(stack, target_group_reference)
    if group is None:
        return ()

    def forwards(actions: Any) -> bool:
        return any(iam.refers_to(_get(a, "target_group_arn"), group) for a in _items(actions))

    listeners = [r for r in stack.of_type("aws_lb_listener") if forwards(r.body.get("default_action"))]
    rules = [r for r in stack.of_type("aws_lb_listener_rule") if forwards(r.body.get("action"))]
    return tuple(listeners + rules)


def _ecs_target_groups(stack: Stack, service: Resource) -> list[Requirement]:
    requirements = []
    for balancer in _items(service.body.get("load_balancer")):
        groups = [
            balancer.get("target_group_arn"),
            _get(balancer, "advanced_configuration", "alternate_target_group_arn"),
        ]
        for group in filter(None, groups):
            requirements.append(Requirement(f"a listener forwarding to {group}", _forwarders(stack, group)))
    return requirements


def _capacity_providers(stack: Stack, service: Resource) -> list[Requirement]:
    cluster = iam.target(stack, service.body.get("cluster"))
    found = tuple(
        r
        for r in stack.of_type("aws_ecs_cluster_capacity_providers")
        if cluster is not None and iam.refers_to(r.body.get("cluster_name"), cluster)
    )
    return [Requirement("the cluster's capacity provider association", found)]


def _ecs_execution_role(stack: Stack, service: Resource) -> list[Requirement]:
    task = iam.target(stack, service.body.get("task_definition"))
    if task is None:
        return []
    containers = iam.json_document(task.body.get("container_definitions", "[]"))
    groups = [_get(c, "logConfiguration", "options", "awslogs-group") for c in _items(containers)]
    log_group = next((g for g in map(lambda ref: iam.target(stack, ref), groups) if g is not None), None)
    return _role_allowing(
        stack,
        task.body.get("execution_role_arn"),
        "the task execution role's policy",
        ("logs:PutLogEvents",),
        on=log_group,
    ) + _role_allowing(
        stack, task.body.get("execution_role_arn"), "the task execution role's policy", ("ecr:BatchGetImage",)
    )


def _task_network(stack: Stack, service: Resource) -> list[Requirement]:
    """Its groups' egress rules, and the interface endpoints those rules lead to (the gateway
    endpoint is referenced by its prefix-list rule already)."""
    groups = _items(_get(service.body, "network_configuration", "security_groups"))
    rules = [
        r for r in stack.of_type("aws_vpc_security_group_egress_rule") if r.body.get("security_group_id") in groups
    ]
    targets = {r.body.get("referenced_security_group_id") for r in rules}
    endpoints = [
        e
        for e in stack.of_type("aws_vpc_endpoint")
        if e.body.get("vpc_endpoint_type") == "Interface" and targets & set(_items(e.body.get("security_group_ids")))
    ]
    return [Requirement(f"its tasks' egress rule {r.path}", (r,)) for r in rules] + [
        Requirement(f"the endpoint {e.path} its tasks reach AWS through", (e,)) for e in endpoints
    ]


def _ecs_native_roles(stack: Stack, service: Resource) -> list[Requirement]:
    requirements = []
    for balancer in _items(service.body.get("load_balancer")):
        role = _get(balancer, "advanced_configuration", "role_arn")
        if role:
            requirements += _role_allowing(
                stack, role, "the ECS infrastructure role's policy", ("elasticloadbalancing:ModifyRule",)
            )
    for hook in _items(_get(service.body, "deployment_configuration", "lifecycle_hook")):
        requirements += _role_allowing(
            stack, hook.get("role_arn"), "the hook invoker's policy", ("lambda:InvokeFunction",)
        )
    return requirements


def _global_secondary(stack: Stack, cluster: Resource) -> list[Requirement]:
    primaries = [
        other
        for other in stack.of_type("aws_rds_cluster")
        if other.address != cluster.address
        and other.body.get("global_cluster_identifier") == cluster.body.get("global_cluster_identifier")
        and _is_primary(other)
    ]
    instances = tuple(
        instance
        for instance in stack.of_type("aws_rds_cluster_instance")
        for primary in primaries
        if iam.refers_to(instance.body.get("cluster_identifier"), primary)
    )
    return [Requirement("an instance of the global database's primary cluster", instances)]


def _is_primary(cluster: Resource) -> bool:
    """A global database member with credentials of its own (the secondary replicates them)."""
    return "master_username" in cluster.body


def _topic_policies(stack: Stack, rule: Resource) -> list[Requirement]:
    requirements = []
    for target in _items(rule.body.get("target")):
        topic = iam.target(stack, target.get("address"))
        found = tuple(
            policy
            for policy in stack.of_type("aws_sns_topic_policy")
            if topic is not None
            and iam.refers_to(policy.body.get("arn"), topic)
            and any(
                "codestar-notifications.amazonaws.com" in iam.principals(s)
                for s in iam.statements(policy.body["policy"])
            )
        )
        requirements.append(Requirement("the topic policy that lets CodeStar Notifications publish", found))
    return requirements


def _replication_templates(stack: Stack, replication: Resource) -> list[Requirement]:
    requirements = []
    for rule in _items(_get(replication.body, "replication_configuration", "rule")):
        for destination in _items(rule.get("destination")):
            region = destination.get("region")
            found = tuple(
                template
                for template in stack.of_type("aws_ecr_repository_creation_template")
                if stack.region_of(template) == region and "REPLICATION" in template.body.get("applied_for", [])
            )
            requirements.append(Requirement(f"the repository creation template for replicas in {region}", found))
    return requirements


def _is_elb_delivery(principal: str) -> bool:
    return principal == "logdelivery.elasticloadbalancing.amazonaws.com" or (
        principal.startswith("arn:aws") and principal.endswith(":root") and ":iam::" in principal
    )


#: The table. Add a row when the stack gains a resource AWS checks at create time.
PREREQUISITES: tuple[Prerequisite, ...] = (
    Prerequisite(
        "lambda-vpc-role-manages-network-interfaces",
        "aws_lambda_function",
        "its role's permission to create and delete network interfaces",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions",
        lambda r: "vpc_config" in r.body,
        lambda s, r: _role_allowing(
            s,
            r.body.get("role"),
            "its role's network interface permissions",
            ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"),
        ),
    ),
    Prerequisite(
        "lambda-tracing-role-sends-traces",
        "aws_lambda_function",
        "its role's permission to send X-Ray traces",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html#services-xray-permissions",
        lambda r: _get(r.body, "tracing_config", "mode") == "Active",
        lambda s, r: _role_allowing(
            s,
            r.body.get("role"),
            "its role's tracing permissions",
            ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        ),
    ),
    Prerequisite(
        "alb-access-log-bucket-admits-delivery",
        "aws_lb",
        "the access-log bucket's policy (the ALB test-writes when logging is turned on)",
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html",
        lambda r: _get(r.body, "access_logs", "enabled") is True,
        lambda s, r: _bucket_policy_admitting(
            s, _get(r.body, "access_logs", "bucket"), _is_elb_delivery, "ELB log delivery"
        ),
    ),
    Prerequisite(
        "s3-access-log-target-admits-logging",
        "aws_s3_bucket_logging",
        "the target bucket's policy admitting S3 server access logging",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html",
        lambda r: True,
        lambda s, r: _bucket_policy_admitting(
            s, r.body.get("target_bucket"), lambda p: p == "logging.s3.amazonaws.com", "S3 server access logging"
        ),
    ),
    Prerequisite(
        "ecs-service-target-groups-are-behind-a-listener",
        "aws_ecs_service",
        "a listener (or rule) forwarding to each of its target groups",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
        lambda r: "load_balancer" in r.body,
        _ecs_target_groups,
    ),
    Prerequisite(
        "ecs-service-capacity-providers-are-associated",
        "aws_ecs_service",
        "the cluster's capacity providers (a strategy may only name associated ones)",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html",
        lambda r: "capacity_provider_strategy" in r.body,
        _capacity_providers,
    ),
    Prerequisite(
        "ecs-service-tasks-can-start",
        "aws_ecs_service",
        "the task execution role's policy (its tasks start at once and pull, log, read secrets)",
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
        lambda r: True,
        _ecs_execution_role,
    ),
    Prerequisite(
        "ecs-service-tasks-reach-aws",
        "aws_ecs_service",
        "its tasks' egress rules and the endpoints they lead to (the first tasks pull, log and read "
        "secrets at once; with HTTPS held to the endpoints there is no other way out)",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html",
        lambda r: _get(r.body, "network_configuration", "security_groups") is not None,
        _task_network,
    ),
    Prerequisite(
        "ecs-native-roles-can-shift-and-hook",
        "aws_ecs_service",
        "the policies of the roles ECS uses for blue/green (listener rules, lifecycle hooks)",
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-implementation.html",
        lambda r: _get(r.body, "deployment_configuration", "strategy") is not None,
        _ecs_native_roles,
    ),
    Prerequisite(
        "rds-monitoring-role-has-its-policy",
        "aws_rds_cluster_instance",
        "the monitoring role's AmazonRDSEnhancedMonitoringRole attachment",
        "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html",
        lambda r: bool(r.body.get("monitoring_interval")) and "monitoring_role_arn" in r.body,
        lambda s, r: _role_with_managed(s, r.body.get("monitoring_role_arn"), "AmazonRDSEnhancedMonitoringRole"),
    ),
    Prerequisite(
        "global-database-secondary-after-the-primarys-instance",
        "aws_rds_cluster",
        "an available instance of the primary cluster",
        "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-getting-started.html",
        lambda r: bool(r.body.get("global_cluster_identifier")) and not _is_primary(r),
        _global_secondary,
    ),
    Prerequisite(
        "codebuild-vpc-role-describes-the-network",
        "aws_codebuild_project",
        "its role's VPC permissions (CodeBuild checks them when the project is created)",
        "https://docs.aws.amazon.com/codebuild/latest/userguide/vpc-support.html",
        lambda r: "vpc_config" in r.body,
        lambda s, r: _role_allowing(
            s,
            r.body.get("service_role"),
            "its role's VPC permissions",
            (
                "ec2:CreateNetworkInterface",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
                "ec2:CreateNetworkInterfacePermission",
            ),
        ),
    ),
    Prerequisite(
        "codedeploy-role-describes-the-ecs-service",
        "aws_codedeploy_deployment_group",
        "its service role's policy (CodeDeploy checks it against the ECS service and load balancer)",
        "https://docs.aws.amazon.com/codedeploy/latest/userguide/getting-started-create-service-role.html",
        lambda r: "ecs_service" in r.body,
        lambda s, r: _role_allowing(
            s,
            r.body.get("service_role_arn"),
            "its service role's policy",
            ("ecs:DescribeServices", "elasticloadbalancing:DescribeTargetGroups"),
        ),
    ),
    Prerequisite(
        "pipeline-role-can-run-the-first-execution",
        "aws_codepipeline",
        "its role's policy (a pipeline starts running as soon as it is created)",
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-about-starting.html",
        lambda r: True,
        lambda s, r: _role_allowing(s, r.body.get("role_arn"), "its role's policy", ("s3:PutObject",)),
    ),
    Prerequisite(
        "notification-rule-topic-admits-codestar",
        "aws_codestarnotifications_notification_rule",
        "the SNS topic policy admitting CodeStar Notifications",
        "https://docs.aws.amazon.com/dtconsole/latest/userguide/set-up-sns.html",
        lambda r: any(t.get("type") == "SNS" for t in _items(r.body.get("target"))),
        _topic_policies,
    ),
    Prerequisite(
        "flow-log-role-can-deliver",
        "aws_flow_log",
        "its role's policy (delivery starts when the flow log is created)",
        "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html",
        lambda r: "iam_role_arn" in r.body,
        lambda s, r: _role_allowing(
            s,
            r.body.get("iam_role_arn"),
            "its role's policy",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            on=iam.target(s, r.body.get("log_destination")),
        ),
    ),
    Prerequisite(
        "backup-selection-role-has-its-policy",
        "aws_backup_selection",
        "the backup role's AWSBackupServiceRolePolicyForBackup attachment",
        "https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html",
        lambda r: True,
        lambda s, r: _role_with_managed(s, r.body.get("iam_role_arn"), "AWSBackupServiceRolePolicyForBackup"),
    ),
    Prerequisite(
        "ecr-replication-after-its-creation-template",
        "aws_ecr_replication_configuration",
        "the destination region's repository creation template (applied when a replica is created)",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html",
        lambda r: True,
        _replication_templates,
    ),
    Prerequisite(
        "ecr-creation-template-role-can-create",
        "aws_ecr_repository_creation_template",
        "its custom role's policy",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html",
        lambda r: "custom_role_arn" in r.body,
        lambda s, r: _role_allowing(
            s, r.body.get("custom_role_arn"), "its custom role's policy", ("ecr:CreateRepository",)
        ),
    ),
)


def missing(stack: Stack, rules: tuple[Prerequisite, ...] = PREREQUISITES) -> Iterator[Missing]:
    """Every resource created before something AWS checks at that moment."""
    for rule in rules:
        for resource in stack.of_type(rule.resource_type):
            if not rule.applies(resource):
                continue
            for requirement in rule.requirements(stack, resource):
                if not any(stack.depends_on(resource.address, c.address) for c in requirement.candidates):
                    yield Missing(rule, resource, requirement)
