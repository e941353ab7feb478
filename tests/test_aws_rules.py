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

from aws_rules.network import broad_endpoint_statements, needless_internet_egress, stuck
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


# --- From inside the VPC: every call gets out, through an endpoint that admits it, or NAT ---


def test_every_call_from_inside_a_vpc_gets_out_and_its_endpoint_admits_it(stack: SynthesizedStack) -> None:
    found = [str(s) for s in stuck(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_no_security_group_reaches_the_internet_unless_a_call_or_client_needs_it(stack: SynthesizedStack) -> None:
    found = [r.path for r in needless_internet_egress(Stack(stack.json))]
    assert found == [], found


def test_every_vpc_endpoint_policy_admits_only_the_stacks_roles_on_the_accounts_resources(
    stack: SynthesizedStack,
) -> None:
    found = list(broad_endpoint_statements(Stack(stack.json)))
    assert found == [], "\n".join(found)


def _at(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    """The body of the resource at construct path ``path`` (mutable: the document's own)."""
    (body,) = [
        b for b in document["resource"][resource_type].values() if b["//"]["metadata"]["path"].split("/", 1)[1] == path
    ]
    return body


def _without(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    result = copy.deepcopy(document)
    bodies = result["resource"][resource_type]
    (name,) = [n for n, b in bodies.items() if b["//"]["metadata"]["path"].split("/", 1)[1] == path]
    del bodies[name]
    return result


def _endpoints(synthesized: dict[str, SynthesizedStack]) -> list[tuple[str, str]]:
    return [
        (env, endpoint.path)
        for env, stack in sorted(synthesized.items())
        for endpoint in Stack(stack.json).of_type("aws_vpc_endpoint")
    ]


@pytest.fixture(scope="module")
def endpoints(synthesized: dict[str, SynthesizedStack]) -> list[tuple[str, str]]:
    return _endpoints(synthesized)


def test_each_endpoint_carries_a_checked_call_and_refuses_it_without_its_statements(
    endpoints: list[tuple[str, str]], synthesized: dict[str, SynthesizedStack]
) -> None:
    """The control of the endpoint rule, on every endpoint of every environment: emptied, each
    refuses a call a role makes (so none is there for nothing, and none is unchecked)."""
    assert {path.removeprefix("dr/") for _, path in endpoints} >= {"networking/s3_endpoint", "networking/endpoint_logs"}
    for env, path in endpoints:
        broken = copy.deepcopy(synthesized[env].json)
        _at(broken, "aws_vpc_endpoint", path)["policy"] = json.dumps({"Version": "2012-10-17", "Statement": []})
        reported = [s for s in stuck(Stack(broken)) if path in s.why]
        assert reported, f"{env}: emptying {path}'s policy refuses no call"


def test_a_role_the_endpoint_policy_does_not_name_is_reported(prod: SynthesizedStack) -> None:
    broken = copy.deepcopy(prod.json)
    endpoint = _at(broken, "aws_vpc_endpoint", "dr/networking/endpoint_ecr_dkr")
    endpoint["policy"] = endpoint["policy"].replace("roles_task_execution", "roles_task")
    reported = {(s.call.action, s.site.runner.path) for s in stuck(Stack(broken))}
    assert ("ecr:BatchGetImage", "dr/ecs/service") in reported


def test_the_image_layers_need_the_aws_owned_bucket_in_the_s3_policy(
    synthesized: dict[str, SynthesizedStack],
) -> None:
    broken = copy.deepcopy(synthesized["staging"].json)
    endpoint = _at(broken, "aws_vpc_endpoint", "networking/s3_endpoint")
    policy = json.loads(endpoint["policy"])
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "EcrImageLayers"]
    endpoint["policy"] = json.dumps(policy)
    (reported,) = stuck(Stack(broken))
    assert reported.call.presigned and "starport-layer-bucket" in reported.resource


def test_tasks_that_cannot_reach_their_endpoints_are_reported(prod: SynthesizedStack) -> None:
    broken = Stack(_without(prod.json, "aws_vpc_security_group_egress_rule", "security_groups/tasks_out_endpoints"))
    reported = {s.call.action for s in stuck(broken) if s.site.runner.path == "ecs/service"}
    assert {"ecr:GetAuthorizationToken", "logs:PutLogEvents", "secretsmanager:GetSecretValue"} <= reported
    no_s3 = Stack(_without(prod.json, "aws_vpc_security_group_egress_rule", "dr/security_groups/tasks_out_s3"))
    assert [s.call.action for s in stuck(no_s3)] == ["s3:GetObject"]


def test_a_call_with_neither_an_endpoint_nor_nat_is_reported(synthesized: dict[str, SynthesizedStack]) -> None:
    dev = synthesized["dev"]
    no_egress = Stack(_without(dev.json, "aws_vpc_security_group_egress_rule", "security_groups/tasks_out_https"))
    assert any("allow no HTTPS to the internet" in s.why for s in stuck(no_egress))
    no_nat = copy.deepcopy(dev.json)
    for route in no_nat["resource"]["aws_route"].values():
        route.pop("nat_gateway_id", None)
    assert any("no route to a NAT gateway" in s.why for s in stuck(Stack(no_nat)))


def test_internet_egress_that_nothing_needs_is_reported(prod: SynthesizedStack) -> None:
    wider = copy.deepcopy(prod.json)
    rule = _at(wider, "aws_vpc_security_group_egress_rule", "dr/security_groups/tasks_out_endpoints")
    rule.pop("referenced_security_group_id")
    rule["cidr_ipv4"] = "0.0.0.0/0"
    assert [r.path for r in needless_internet_egress(Stack(wider))] == ["dr/security_groups/tasks_out_endpoints"]
    # The hook's test listener rule is needed only because its Lambda calls the ALB on that port.
    no_client = copy.deepcopy(prod.json)
    _at(no_client, "aws_lambda_function", "deployment_hooks/test_traffic")["environment"]["variables"]["TEST_URL"] = (
        "https://example.com"
    )
    assert [r.path for r in needless_internet_egress(Stack(no_client))] == ["security_groups/hook_out_test_listener"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(Principal="*"), "admits any principal"),
        (lambda s: s.update(Action=["logs:*"]), "wildcard action"),
        (lambda s: s.update(Resource=["arn:aws:logs:eu-west-1:999999999999:log-group:*"]), "outside the account"),
        (lambda s: s.update(Resource=["*"]), "on every resource"),
        (lambda s: s.update(Principal={"AWS": "arn:aws:iam::999999999999:root"}), "not the stack's roles"),
    ],
    ids=["any principal", "wildcard action", "another account", "every resource", "foreign principal"],
)
def test_an_endpoint_statement_broader_than_the_stack_needs_is_reported(
    change: Any, problem: str, synthesized: dict[str, SynthesizedStack]
) -> None:
    staging = synthesized["staging"]
    broken = copy.deepcopy(staging.json)
    endpoint = _at(broken, "aws_vpc_endpoint", "networking/endpoint_logs")
    policy = json.loads(endpoint["policy"])
    change(policy["Statement"][0])
    endpoint["policy"] = json.dumps(policy)
    found = list(broad_endpoint_statements(Stack(broken)))
    assert len(found) == 1 and problem in found[0], found
    missing_policy = copy.deepcopy(staging.json)
    del _at(missing_policy, "aws_vpc_endpoint", "networking/s3_endpoint")["policy"]
    assert [p for p in broad_endpoint_statements(Stack(missing_policy)) if "has no policy" in p]
