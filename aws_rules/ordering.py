"""Rule 1: an argument that names another resource of the stack reaches it by reference.

Terraform orders API calls only by references and ``depends_on``. An argument that spells out
another resource's name (or an ARN built from it) as a literal string lets Terraform call AWS
before that resource exists, and AWS refuses: ``PutMetricFilter`` for a log group that is not
there yet fails with ResourceNotFoundException, and the provider does not retry it.

A resource's *identity* is the argument AWS knows it by (its name); every other string argument
of every resource, JSON documents inside strings included (container definitions, policies), is
searched for another resource's identity, in the same region.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_rules.stack import Resource, Stack, strings

#: The argument each resource type is known to AWS by (data: add a type when the stack gains one).
IDENTITY = {
    "aws_appautoscaling_policy": "name",
    "aws_appautoscaling_scheduled_action": "name",
    "aws_backup_plan": "name",
    "aws_backup_selection": "name",
    "aws_backup_vault": "name",
    "aws_cloudwatch_event_rule": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_cloudwatch_log_metric_filter": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_codebuild_project": "name",
    "aws_codeconnections_connection": "name",
    "aws_codedeploy_app": "name",
    "aws_codedeploy_deployment_config": "deployment_config_name",
    "aws_codedeploy_deployment_group": "deployment_group_name",
    "aws_codepipeline": "name",
    "aws_codestarnotifications_notification_rule": "name",
    "aws_db_parameter_group": "name",
    "aws_db_subnet_group": "name",
    "aws_ecr_repository": "name",
    "aws_ecs_cluster": "name",
    "aws_ecs_service": "name",
    "aws_ecs_task_definition": "family",
    "aws_iam_policy": "name",
    "aws_iam_role": "name",
    "aws_iam_role_policy": "name",
    "aws_kms_alias": "name",
    "aws_lambda_function": "function_name",
    "aws_lb": "name",
    "aws_lb_target_group": "name",
    "aws_rds_cluster": "cluster_identifier",
    "aws_rds_cluster_instance": "identifier",
    "aws_rds_cluster_parameter_group": "name",
    "aws_rds_global_cluster": "global_cluster_identifier",
    "aws_s3_bucket": "bucket",
    "aws_secretsmanager_secret": "name",
    "aws_security_group": "name",
    "aws_sns_topic": "name",
    "aws_wafv2_ip_set": "name",
    "aws_wafv2_web_acl": "name",
}

#: Arguments that hold labels, not references to resources (names of metrics, statements, ...).
NOT_REFERENCES = frozenset(
    {
        "//",
        "depends_on",
        "provider",
        "lifecycle",
        "tags",
        "tags_all",
        "description",
        "alarm_description",
        "metric_name",
        "namespace",
        "statement_id",
        "Sid",
        "label",
        "id",
        "rule_name",
        "set_identifier",
        "CustomData",
    }
)

#: When several resources share a name, the argument's key says which kind it names; without a
#: hint every resource of that name must be reached (an IAM role is often named like its user).
KEY_NAMES = {
    "alarm_names": "aws_cloudwatch_metric_alarm",
    "awslogs-group": "aws_cloudwatch_log_group",
    "log_group": "aws_cloudwatch_log_group",
    "log_group_name": "aws_cloudwatch_log_group",
    "group_name": "aws_cloudwatch_log_group",
    "family": "aws_ecs_task_definition",
    "project-name": "aws_codebuild_project",
    "ProjectName": "aws_codebuild_project",
    "valueFrom": "aws_secretsmanager_secret",
}

#: Condition keys whose values AWS compares with the request context when a policy is evaluated
#: (who calls, for which resource, under which encryption context), never resolves when the
#: policy is created: a name there needs no dependency, and often cannot have one (the resource
#: names the role or key whose policy names it). Only these keys, only inside a policy's
#: Condition: a name in Resource, Principal or any other condition is still checked.
CONTEXT_CONDITION_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:principalarn", "kms:encryptioncontext:")
_CONDITION_VALUE = re.compile(r"(?:^|\.)Condition\.[A-Za-z]+\.([^.\[]+)(?:\[\d+\])?$")


def context_condition(inner_path: str) -> bool:
    """Whether a path inside a JSON policy document is the value of a request-context condition."""
    found = _CONDITION_VALUE.search(inner_path)
    return found is not None and found[1].lower().startswith(CONTEXT_CONDITION_KEYS)


#: What an ARN may carry after a name: a wildcard suffix (Secrets Manager's six random
#: characters, a log group's streams, objects under a prefix).
_ARN_SUFFIX = re.compile(r"(-\?{6}|:\*|/\*|\*)$")


@dataclass(frozen=True)
class LiteralName:
    """``resource`` spells ``target``'s name in ``argument`` without reaching it."""

    resource: Resource
    argument: str
    target: Resource

    def __str__(self) -> str:
        name = self.target.body.get(IDENTITY[self.target.type])
        return (
            f"{self.resource.path} ({self.resource.type}).{self.argument} names {self.target.path} "
            f"({self.target.type}) as the literal {name!r}: reference the resource instead, or depend on it"
        )


def identity(resource: Resource) -> str | None:
    """The literal name a resource is known by, or None (unnamed, or named by a reference)."""
    key = IDENTITY.get(resource.type)
    value = resource.body.get(key) if key else None
    return value if isinstance(value, str) and value and "${" not in value else None


def regions_of(stack: Stack, resource: Resource) -> set[str]:
    """Where a resource exists under its name: its region, and its replicas' (secrets)."""
    regions = {stack.region_of(resource)}
    regions.update(str(r["region"]) for r in resource.body.get("replica", []) if isinstance(r, dict))
    return regions


@dataclass(frozen=True)
class _Candidate:
    name: str
    #: The region an ARN pins the name to; None: the resource's own region.
    region: str | None = None
    #: The resource types it can name; empty: any.
    types: tuple[str, ...] = ()


def _candidates(text: str, key: str) -> Iterator[_Candidate]:
    """Names a string may spell, with what the string says of their region and kind."""
    hinted = (KEY_NAMES[key],) if key in KEY_NAMES else ()
    if not text.startswith("arn:"):
        yield _Candidate(text, None, hinted)
        return
    parts = text.split(":", 5)
    if len(parts) != 6:
        return
    region = parts[3] or None
    # Else the resource types of the ARN's service: arn:aws:ecs:... names an aws_ecs_* resource.
    types = ARN_SERVICES.get(parts[2]) or tuple(t for t in IDENTITY if t.startswith(f"aws_{parts[2]}_"))
    tail = _ARN_SUFFIX.sub("", parts[5])
    if parts[2] == "s3":  # arn:aws:s3:::bucket/key: the bucket is the first segment
        yield _Candidate(tail.split("/", 1)[0], region, types)
        return
    yield _Candidate(tail, region, types)
    for index in [m.start() for m in re.finditer("[/:]", tail)]:
        yield _Candidate(tail[index + 1 :], region, types)


#: ARN service -> the resource types it can name.
ARN_SERVICES = {
    "logs": ("aws_cloudwatch_log_group",),
    "secretsmanager": ("aws_secretsmanager_secret",),
    "s3": ("aws_s3_bucket",),
    "iam": ("aws_iam_role",),
    "codebuild": ("aws_codebuild_project",),
    "lambda": ("aws_lambda_function",),
    "sns": ("aws_sns_topic",),
    "ecr": ("aws_ecr_repository",),
    "cloudwatch": ("aws_cloudwatch_metric_alarm",),
}


def _key(argument: str) -> str:
    """The last key of an argument path, without list indices: 'a.b[0]<c.d[1]>' -> 'd'."""
    return re.split(r"[.<]", re.sub(r"\[\d+\]|>", "", argument))[-1]


def _json_documents(text: str) -> Any:
    """A JSON document embedded in a string (container definitions, policies), else None."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _arguments(resource: Resource) -> Iterator[tuple[str, str]]:
    own = IDENTITY.get(resource.type)
    skip = NOT_REFERENCES | ({own} if own else set())
    for path, text in strings(resource.body, frozenset(skip)):
        if path == own:
            continue
        document = _json_documents(text)
        if document is not None:
            for inner, value in strings(document, NOT_REFERENCES):
                if not context_condition(inner):
                    yield f"{path}<{inner}>", value
        else:
            yield path, text


def literal_names(stack: Stack) -> list[LiteralName]:
    """Every argument that spells another resource's name but does not reach that resource."""
    by_name: dict[tuple[str, str], list[Resource]] = {}
    for resource in stack.resources.values():
        name = identity(resource)
        if name is not None:
            for region in regions_of(stack, resource):
                by_name.setdefault((name, region), []).append(resource)
    found = []
    for resource in stack.resources.values():
        region = stack.region_of(resource)
        for argument, text in _arguments(resource):
            if text.startswith("${") and text.endswith("}"):
                continue  # a whole reference
            for candidate in _candidates(text, _key(argument)):
                targets = [
                    t
                    for t in by_name.get((candidate.name, candidate.region or region), [])
                    if t.address != resource.address and (not candidate.types or t.type in candidate.types)
                ]
                missed = [t for t in targets if not stack.depends_on(resource.address, t.address)]
                if missed:
                    found.append(LiteralName(resource, argument, missed[0]))
                    break
    return found
