"""What AWS checks that an emulator does not, on every synthesized stack (aws_rules/).

Each rule is checked on every environment (the compliant cases), and each has a control: the
same stack with the one dependency that satisfies it cut, which the rule must report.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from aws_rules.ordering import literal_names
from aws_rules.permissions import CALLS, Call, Lookup, denied, stale
from aws_rules.prerequisites import PREREQUISITES, Prerequisite, missing
from aws_rules.stack import Stack
from tests.conftest import SynthesizedStack


def test_every_argument_that_names_a_resource_of_the_stack_reaches_it(stack: SynthesizedStack) -> None:
    found = [str(f) for f in literal_names(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_aws_checks_at_create_time_are_waited_for(stack: SynthesizedStack) -> None:
    found = [str(m) for m in missing(Stack(stack.json))]
    assert found == [], "\n".join(found)


def _document(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {"provider": {"aws": [{"region": "eu-west-1"}]}, "resource": {}}
    for address, body in resources.items():
        resource_type, name = address.split(".")
        document["resource"].setdefault(resource_type, {})[name] = body
    return document


def test_a_literal_name_without_a_dependency_is_reported() -> None:
    """The issue's example: a metric filter naming its log group as text is created first, and fails."""
    group = {"name": "/ecs/app", "retention_in_days": 30}
    literal = _document(
        {"aws_cloudwatch_log_group.app": group, "aws_cloudwatch_log_metric_filter.f": {"log_group_name": "/ecs/app"}}
    )
    (found,) = literal_names(Stack(literal))
    assert found.target.address == "aws_cloudwatch_log_group.app" and found.argument == "log_group_name"
    referenced = _document(
        {
            "aws_cloudwatch_log_group.app": group,
            "aws_cloudwatch_log_metric_filter.f": {"log_group_name": "${aws_cloudwatch_log_group.app.name}"},
        }
    )
    assert literal_names(Stack(referenced)) == []
    waited = _document(
        {
            "aws_cloudwatch_log_group.app": group,
            "aws_cloudwatch_log_metric_filter.f": {
                "log_group_name": "/ecs/app",
                "depends_on": ["aws_cloudwatch_log_group.app"],
            },
        }
    )
    assert literal_names(Stack(waited)) == []


def test_names_inside_arns_and_json_documents_count_in_their_region() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "arn:aws:secretsmanager:eu-central-1:1:secret:db/master-??????",
            }
        ]
    }
    secret = {"name": "db/master", "replica": [{"region": "eu-central-1"}]}
    stack = _document({"aws_secretsmanager_secret.s": secret, "aws_iam_role_policy.p": {"policy": json.dumps(policy)}})
    stack["provider"]["aws"].append({"alias": "dr", "region": "eu-central-1"})
    (found,) = literal_names(Stack(stack))
    assert found.target.address == "aws_secretsmanager_secret.s" and "Resource" in found.argument
    elsewhere = copy.deepcopy(stack)
    elsewhere["resource"]["aws_secretsmanager_secret"]["s"]["replica"] = []
    assert literal_names(Stack(elsewhere)) == [], "a name in another region is another resource"


def _applicable(synthesized: dict[str, SynthesizedStack], rule: Prerequisite) -> tuple[str, str]:
    for env, stack in synthesized.items():
        for resource in Stack(stack.json).of_type(rule.resource_type):
            if rule.applies(resource):
                return env, resource.address
    pytest.fail(f"no shipped environment exercises {rule.name}; add one or drop the rule")


def _cut(document: dict[str, Any], consumer: str, prerequisites: set[str]) -> dict[str, Any]:
    """The document with every direct dependency of ``consumer`` on ``prerequisites`` removed."""
    result = copy.deepcopy(document)
    resource_type, name = consumer.split(".")
    body = result["resource"][resource_type][name]
    body["depends_on"] = [d for d in body.get("depends_on", []) if d not in prerequisites]
    text = json.dumps(body)
    for address in prerequisites:
        text = text.replace("${" + address + ".", "cut-" + address + ".")
    result["resource"][resource_type][name] = json.loads(text)
    return result


@pytest.mark.parametrize("rule", PREREQUISITES, ids=[r.name for r in PREREQUISITES])
def test_each_prerequisite_is_reported_when_its_dependency_is_cut(
    rule: Prerequisite, synthesized: dict[str, SynthesizedStack]
) -> None:
    env, consumer = _applicable(synthesized, rule)
    document = synthesized[env].json
    stack = Stack(document)
    resource = stack.resources[consumer]
    candidates = {c.address for r in rule.requirements(stack, resource) for c in r.candidates}
    assert candidates, f"{rule.name}: the shipped {env} stack has nothing that satisfies it"
    broken = Stack(_cut(document, consumer, candidates))
    reported = [m for m in missing(broken, (rule,)) if m.resource.address == consumer]
    assert reported, f"{rule.name} did not notice {consumer} no longer waits for {sorted(candidates)}"


def test_every_role_can_make_the_calls_of_a_release_and_a_rollback(stack: SynthesizedStack) -> None:
    found = [str(d) for d in denied(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_every_call_of_the_table_is_made_in_some_shipped_environment(
    synthesized: dict[str, SynthesizedStack],
) -> None:
    """A renamed alarm or hook must not silently drop out of the check."""
    found = stale([Stack(s.json) for s in synthesized.values()])
    assert found == [], "\n".join(found)


def test_a_call_on_a_resource_no_environment_has_is_reported_stale(synthesized: dict[str, SynthesizedStack]) -> None:
    hook = CALLS["roles/codedeploy"]
    renamed = Call(
        "cloudwatch:DescribeAlarms", "deployment", lambda look: look.ref("aws_cloudwatch_metric_alarm", "x/y")
    )
    table = {"roles/codedeploy": replace(hook, calls=(*hook.calls, renamed))}
    assert stale([Stack(s.json) for s in synthesized.values()], table) == [
        "roles/codedeploy: cloudwatch:DescribeAlarms (deployment)"
    ]


def _without_action(document: dict[str, Any], role_path: str, action: str) -> dict[str, Any]:
    """The document with ``action`` removed from every inline policy of one role."""
    result = copy.deepcopy(document)
    stack = Stack(result)
    role = next(r for r in stack.of_type("aws_iam_role") if r.path == role_path)
    for policy in stack.of_type("aws_iam_role_policy"):
        if policy.body["role"] == role.ref("name"):
            parsed = json.loads(policy.body["policy"])
            for statement in parsed["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                statement["Action"] = [a for a in actions if a != action] or ["none:None"]
            policy.body["policy"] = json.dumps(parsed)
    return result


@pytest.mark.parametrize("role_path", sorted(CALLS))
def test_a_role_missing_one_of_its_calls_is_reported(role_path: str, synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in synthesized.values():
        look = Lookup(Stack(stack.json))
        if look.at("aws_iam_role", role_path) is None or not CALLS[role_path].applies(look):
            continue
        call = next(c for c in CALLS[role_path].calls if c.resource(look) is not None)
        broken = Stack(_without_action(stack.json, role_path, call.action))
        assert any(d.role == role_path and d.call.action == call.action for d in denied(broken))
        return
    pytest.fail(f"no shipped environment has {role_path}")


def test_a_publisher_without_the_topics_key_is_reported(prod: SynthesizedStack) -> None:
    """SNS encrypts with the topic's key on the publisher's behalf: the pipeline role needs it."""
    broken = Stack(_without_action(prod.json, "roles/codepipeline", "kms:GenerateDataKey*"))
    assert any(d.call.action == "kms:GenerateDataKey" and "notifications_key" in d.resource for d in denied(broken))


# --- Ordering: names in request-context conditions need no dependency ---


def test_names_in_request_context_conditions_need_no_dependency_but_other_names_do() -> None:
    group = {"name": "/ecs/app", "retention_in_days": 30}

    def policy(condition_key: str, where: str) -> dict[str, Any]:
        arn = "arn:aws:logs:eu-west-1:1:log-group:/ecs/app"
        statement: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Principal": "*"}
        if where == "Condition":
            statement["Condition"] = {"ArnEquals": {condition_key: arn}}
        else:
            statement["Resource"] = arn
        return {
            "aws_cloudwatch_log_group.app": group,
            "aws_kms_key.k": {"policy": json.dumps({"Statement": [statement]})},
        }

    assert literal_names(Stack(_document(policy("kms:EncryptionContext:aws:logs:arn", "Condition")))) == []
    assert literal_names(Stack(_document(policy("aws:SourceArn", "Condition")))) == []
    (other,) = literal_names(Stack(_document(policy("ecs:cluster", "Condition"))))
    assert other.target.address == "aws_cloudwatch_log_group.app"
    (resource,) = literal_names(Stack(_document(policy("aws:SourceArn", "Resource"))))
    assert "Resource" in resource.argument
