"""Service roles held to the resources they act for: AWS sends aws:SourceArn when a service
assumes a role for one of its resources (where it documents so), and the trust policy's condition
must admit every resource of the stack that names the role.

A trust policy that names the wrong project, Region or name is accepted by IAM and fails only
when the service first assumes the role (a build that cannot start, flow logs that never arrive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aws_rules import iam, keys
from aws_rules.stack import Resource, Stack

#: A stand-in for an id AWS assigns at creation (a flow log's, a task's).
RUNTIME = "runtime-id"


@dataclass(frozen=True)
class RoleUser:
    """A resource type that names a role its service assumes, and the ARN the service sends."""

    resource_type: str
    role_argument: str
    source_arn: Callable[[Stack, Resource, str, str], str | None]


def _codebuild(stack: Stack, r: Resource, region: str, account: str) -> str:
    return f"arn:aws:codebuild:{region}:{account}:project/{iam.literal(stack, str(r.body['name']))}"


def _deployment_group(stack: Stack, r: Resource, region: str, account: str) -> str:
    application = iam.literal(stack, str(r.body["app_name"]))
    return f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:{application}/{r.body['deployment_group_name']}"


def _flow_log(stack: Stack, r: Resource, region: str, account: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:vpc-flow-log/{RUNTIME}"


def _instance(stack: Stack, r: Resource, region: str, account: str) -> str:
    return f"arn:aws:rds:{region}:{account}:db:{r.body['identifier']}"


def _task(stack: Stack, r: Resource, region: str, account: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:task/{RUNTIME}"


ROLE_USERS = (
    RoleUser("aws_codebuild_project", "service_role", _codebuild),
    RoleUser("aws_codedeploy_deployment_group", "service_role_arn", _deployment_group),
    RoleUser("aws_flow_log", "iam_role_arn", _flow_log),
    RoleUser("aws_rds_cluster_instance", "monitoring_role_arn", _instance),
    RoleUser("aws_ecs_task_definition", "task_role_arn", _task),
)


@dataclass(frozen=True)
class Untrusted:
    role: Resource
    user: Resource
    source_arn: str

    def __str__(self) -> str:
        return (
            f"{self.role.path} trusts no aws:SourceArn matching {self.source_arn}, which "
            f"{self.user.path} ({self.user.type}) sends when its service assumes it"
        )


def source_arn_patterns(role: Resource) -> list[str] | None:
    """The aws:SourceArn values a role's trust policy requires, or None if it requires none."""
    for statement in iam.statements(role.body.get("assume_role_policy", "{}")):
        for tests in statement.get("Condition", {}).values():
            for key, values in tests.items():
                if key.lower() == "aws:sourcearn":
                    return [str(v) for v in (values if isinstance(values, list) else [values])]
    return None


def untrusted(stack: Stack, table: tuple[RoleUser, ...] = ROLE_USERS) -> Iterator[Untrusted]:
    account = keys.account_root(stack).split(":")[4]
    for row in table:
        for user in stack.of_type(row.resource_type):
            role = iam.target(stack, user.body.get(row.role_argument))
            if role is None or role.type != "aws_iam_role":
                continue
            patterns = source_arn_patterns(role)
            if patterns is None:
                continue
            arn = row.source_arn(stack, user, stack.region_of(user), account)
            if arn is None:
                continue
            request = {"aws:SourceArn": arn}
            if not any(keys.conditions_hold({"ArnLike": {"aws:SourceArn": p}}, request) for p in patterns):
                yield Untrusted(role, user, arn)
