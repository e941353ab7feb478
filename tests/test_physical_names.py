"""The rules the config is checked against are AWS's: the names are the stack's, the shapes botocore's.

- every physical name in the synthesized stacks (their reviewed snapshots) is one config/naming.py
  derives, and every name it derives is in a stack: the checks see exactly what AWS will see;
- the extracted API shapes equal what the installed botocore's models declare;
- each resource kind's rules refuse what AWS refuses (from the model or from the cited document);
- every text format in the schema is explained in words (config/formats.py), never as a pattern.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from aws_rules.ordering import IDENTITY
from config import aws_models, aws_names, load_config, naming, shipped_environments
from config.formats import FORMATS
from config.schema import EnvironmentConfig
from tools import diff_json
from tools.harness import aws_shapes

ROOT = Path(__file__).resolve().parent.parent
#: Names nested in a resource, or a second name of one: (resource type, attribute path).
MORE_NAMES = [
    ("aws_rds_cluster", "final_snapshot_identifier"),
    ("aws_cloudwatch_log_metric_filter", "metric_transformation.namespace"),
    ("aws_wafv2_web_acl", "visibility_config.metric_name"),
]
#: (resource type, attribute) of every name the stack gives AWS: the identities aws_rules keeps
#: (what literal names in arguments are compared with), and names that identify nothing else.
NAME_ATTRIBUTES = {
    **{t: a for t, a in IDENTITY.items() if t != "aws_iam_role_policy"},  # inline policy names are per role
    "aws_route53_record": "set_identifier",
}
_SERVICE_NAME = re.compile(r"^\$\{aws_ecs_service\.[A-Za-z0-9_]+\.name\}")


def snapshot_names(config: EnvironmentConfig) -> set[str]:
    document: dict[str, Any] = json.loads(diff_json.snapshot_path(config.names.prefix).read_text())
    found = set()
    for resource_type, attribute in NAME_ATTRIBUTES.items():
        for body in document.get("resource", {}).get(resource_type, {}).values():
            value = body.get(attribute)
            if isinstance(value, str):
                # Autoscaling names are built on the service's name reference.
                found.add(_SERVICE_NAME.sub(config.names.service("app").service, value))
    for resource_type, path in MORE_NAMES:
        for body in document.get("resource", {}).get(resource_type, {}).values():
            value: Any = body
            for part in path.split("."):
                value = value[0] if isinstance(value, list) and value else value
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str):
                found.add(value)
    return found


@pytest.mark.parametrize("env", shipped_environments())
def test_every_name_the_stack_creates_is_derived_and_checked_in_one_place(env: str) -> None:
    config = load_config(ROOT / "config" / f"{env}.yaml")
    derived = {name.value for name in naming.physical_names(config)}
    in_stack = snapshot_names(config)
    assert in_stack - derived == set(), "names the stack creates that config/naming.py does not derive"
    # The state bucket and its key belong to the account's bootstrap stack (make bootstrap).
    bootstrap = {name.value for name in naming.physical_names(config) if name.where.startswith("the state")}
    assert derived - bootstrap - in_stack == set(), "names config/naming.py derives that no stack creates"


def test_the_extracted_shapes_are_what_botocore_declares() -> None:
    assert not aws_shapes.stale(), "run `python -m tools.harness.aws_shapes` and review the diff"


def test_every_checked_member_is_in_the_extract() -> None:
    stored = json.loads(aws_models.EXTRACT.read_text())["shapes"]
    assert {f"{service}:{member}" for service, member in aws_shapes.members()} <= set(stored)


def test_every_model_pattern_compiles() -> None:
    for service, member in aws_shapes.members():
        declared = aws_models.shape(service, member)
        if declared.pattern:
            assert declared.matches("a") in (True, False)


# (kind, name, a fragment of the finding): the model's rule, or the hand rule and its document.
REFUSED = [
    ("alb", "internal-shop-alb", "starts with 'internal-'"),
    ("alb", "shop-dev-alb-", "starts or ends with a hyphen"),
    ("alb", "shop_dev_alb", "contains '_'"),
    ("alb", "a" * 33, "over AWS's 32"),
    ("target_group", "-blue", "starts or ends with a hyphen"),
    ("target_group", "shop.blue", "contains '.'"),
    ("rds_cluster", "1shop", "does not start with a letter"),
    ("rds_cluster", "shop--db", "two hyphens in a row"),
    ("rds_cluster", "shop-db-", "ends with a hyphen"),
    ("rds_cluster", "a" * 64, "over AWS's 63"),
    ("rds_instance", "shop_db_1", "contains '_'"),
    ("rds_parameter_group", "shop--cluster", "two hyphens in a row"),
    ("rds_snapshot", "shop-final-", "ends with a hyphen"),
    ("rds_subnet_group", "default", "a name AWS reserves"),
    ("rds_subnet_group", "shop/db", "contains '/'"),
    ("rds_global_cluster", "9global", "does not start with a letter"),
    ("s3_bucket", "10.0.0.1", "form of an IP address"),
    ("s3_bucket", "xn--bucket", "starts with 'xn--'"),
    ("s3_bucket", "bucket--ol-s3", "ends with '--ol-s3'"),
    ("s3_bucket", "bucket.mrap", "ends with '.mrap'"),
    ("s3_bucket", "-bucket", "does not start and end with a letter or digit"),
    ("s3_bucket", "ab", "under the 3 AWS requires"),
    ("s3_bucket", "Bucket", "contains 'B'"),
    ("ecs_cluster", "shop.dev", "contains '.'"),
    ("ecs_service", "a" * 256, "over AWS's 255"),
    ("ecs_family", "shop app", "contains ' '"),
    ("ecr_repository", "Shop/app", "has a form AWS does not accept"),  # model pattern
    ("ecr_repository", "shop//app", "has a form AWS does not accept"),  # model pattern
    ("ecr_repository", "a", "under the 2 AWS requires"),  # model min
    ("log_group", "aws/shop", "starts with 'aws/'"),
    ("log_group", "/shop logs", "has a form AWS does not accept"),  # model pattern
    ("log_group", "/" + "a" * 512, "over AWS's 512"),  # model max
    ("waf_log_group", "waf-logs-shop", "does not start with 'aws-waf-logs-'"),
    ("metric_filter", "shop:5xx", "has a form AWS does not accept"),  # model pattern
    ("metric_namespace", "shop:app", "has a form AWS does not accept"),  # model pattern
    ("alarm", "shop\nalarm", "contains a control character"),
    ("alarm", "a" * 256, "over AWS's 255"),  # model max
    ("lambda", "a" * 65, "over AWS's 64"),
    ("lambda", "shop.hook", "contains '.'"),
    ("codebuild", "-build", "has a form AWS does not accept"),  # model pattern
    ("codebuild", "a" * 151, "over AWS's 150"),  # model max
    ("pipeline", "shop pipeline", "has a form AWS does not accept"),  # model pattern
    ("codedeploy_app", "a" * 101, "over AWS's 100"),  # model max
    ("deployment_group", "", "under the 1 AWS requires"),  # model min
    ("deployment_config", "a" * 101, "over AWS's 100"),  # model max
    ("connection", "a" * 33, "over AWS's 32"),  # model max
    ("sns_topic", "shop.releases", "contains '.'"),
    ("notification_rule", "shop/pipeline", "has a form AWS does not accept"),  # model pattern
    ("notification_rule", "a" * 65, "over AWS's 64"),  # model max
    ("event_rule", "shop ended", "has a form AWS does not accept"),  # model pattern
    ("iam_role", "a" * 65, "over AWS's 64"),  # model max
    ("iam_role", "shop role", "has a form AWS does not accept"),  # model pattern
    ("iam_policy", "a" * 129, "over AWS's 128"),  # model max
    ("iam_policy", "shop/task-grants", "has a form AWS does not accept"),  # model pattern
    ("security_group", "sg-shop", "starts with 'sg-'"),
    ("security_group", "shop|alb", "contains '|'"),
    ("kms_alias", "shop/data", "does not start with 'alias/'"),
    ("kms_alias", "alias/aws/shop", "starts with 'alias/aws/'"),
    ("kms_alias", "alias/shop data", "has a form AWS does not accept"),  # model pattern
    ("secret", "shop-db-abcdef", "hyphen and six characters"),
    ("secret", "shop db", "contains ' '"),
    ("backup_vault", "a", "has a form AWS does not accept"),  # model pattern {2,50}
    ("backup_plan", "a" * 51, "over AWS's 50"),
    ("backup_selection", "shop selection", "has a form AWS does not accept"),  # model pattern
    ("waf_acl", "shop.acl", "has a form AWS does not accept"),  # model pattern
    ("waf_ip_set", "shop own-egress", "has a form AWS does not accept"),  # model pattern
    ("waf_metric", "shop metric", "has a form AWS does not accept"),  # model pattern
    ("scaling_policy", "shop-cpu-é", "has a form AWS does not accept"),  # model pattern (\p{Print})
    ("scheduled_action", "shop:night", "has a form AWS does not accept"),  # model pattern
    ("scheduled_action", " night", "has a form AWS does not accept"),  # model pattern
    ("route53_set_identifier", "a" * 129, "over AWS's 128"),  # model max
]


@pytest.mark.parametrize(("kind", "name", "fragment"), REFUSED, ids=[f"{k}: {n[:20]!r}" for k, n, _ in REFUSED])
def test_each_resource_kind_refuses_what_aws_refuses(kind: str, name: str, fragment: str) -> None:
    findings = aws_names.check(kind, name)
    assert any(fragment in f.message for f in findings), [f.message for f in findings]
    assert all(f.remedy for f in findings)


def test_every_resource_kind_is_exercised() -> None:
    assert {kind for kind, _, _ in REFUSED} == set(aws_names.RULES)


def test_hand_rules_cite_their_document() -> None:
    for kind, rule in aws_names.RULES.items():
        hand = (
            rule.max_length,
            rule.min_length,
            rule.charset,
            rule.letter_first,
            rule.no_edge_hyphen,
            rule.no_trailing_hyphen,
            rule.no_double_hyphen,
            rule.alphanumeric_edges,
            rule.forbidden_prefixes,
            rule.forbidden_suffixes,
            rule.required_prefix,
            rule.forbidden_names,
            rule.forbidden_form,
            rule.not_ip_address,
        )
        if any(hand):
            assert rule.doc, f"{kind}: a hand-written rule needs the AWS document it comes from"


def _patterns(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[tuple[str, str]]:
    if model in seen:
        return []
    seen.add(model)
    found = []
    for name, field in model.model_fields.items():
        for item in field.metadata:
            if getattr(item, "pattern", None):
                found.append((f"{model.__name__}.{name}", item.pattern))
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found += _patterns(annotation, seen)
            for arg in get_args(annotation):
                for item in getattr(arg, "metadata", []):
                    if getattr(item, "pattern", None):
                        found.append((f"{model.__name__}.{name}[]", item.pattern))
                stack.append(arg)
    return found


def test_every_text_format_is_explained_in_words() -> None:
    patterns = _patterns(EnvironmentConfig, set())
    assert patterns
    for where, pattern in patterns:
        assert pattern in FORMATS, f"{where}: add its pattern to config/formats.py"


#: Schema fields whose values are sent as these request members: the schema may be stricter than
#: the API model, never looser (allowed values within the model's enum, bounds within its min/max).
SENT_AS = [
    ("pipeline.source_provider", ("codeconnections", "CreateConnection.ProviderType")),
    ("pipeline.build_compute_type", ("codebuild", "CreateProject.environment.computeType")),
    ("deployment.load_test.compute_type", ("codebuild", "CreateProject.environment.computeType")),
    ("service.cpu_architecture", ("ecs", "RegisterTaskDefinition.runtimePlatform.cpuArchitecture")),
    ("pipeline.build_timeout_minutes", ("codebuild", "CreateProject.timeoutInMinutes")),
    ("load_balancer.health_check_interval_seconds", ("elbv2", "CreateTargetGroup.HealthCheckIntervalSeconds")),
    ("load_balancer.health_check_timeout_seconds", ("elbv2", "CreateTargetGroup.HealthCheckTimeoutSeconds")),
    ("load_balancer.healthy_threshold", ("elbv2", "CreateTargetGroup.HealthyThresholdCount")),
    ("load_balancer.unhealthy_threshold", ("elbv2", "CreateTargetGroup.UnhealthyThresholdCount")),
    ("load_balancer.waf_rate_limit_per_5_minutes", ("wafv2", "CreateWebACL.Rules.Statement.RateBasedStatement.Limit")),
]


def _field(path: str) -> Any:
    model: Any = EnvironmentConfig
    *parents, leaf = path.split(".")
    for part in parents:
        annotation = model.model_fields[part].annotation
        model = next(a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel))
    return model.model_fields[leaf]


@pytest.mark.parametrize(("path", "member"), SENT_AS, ids=[p for p, _ in SENT_AS])
def test_schema_is_never_looser_than_the_api_model(path: str, member: aws_models.Member) -> None:
    declared = aws_models.model_shape(*member)
    field = _field(path)
    if declared.enum is not None:
        assert set(get_args(field.annotation)) <= set(declared.enum)
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    if declared.min is not None:
        assert low is not None and low >= declared.min, (low, declared.min)
    if declared.max is not None:
        assert high is not None and high <= declared.max, (high, declared.max)
