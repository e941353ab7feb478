"""What AWS checks that an emulator does not, on every synthesized stack (aws_rules/).

Each rule is checked on every environment (the compliant cases), and each has a control: the
same stack with the one dependency that satisfies it cut, which the rule must report.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import replace
from typing import Any

import pytest

from aws_rules import grants, keys, trust
from aws_rules.listeners import plain_routes
from aws_rules.network import broad_endpoint_statements, needless_internet_egress, stuck
from aws_rules.ordering import literal_names
from aws_rules.permissions import CALLS, Call, Lookup, denied, key_requests, services_of, stale
from aws_rules.prerequisites import PREREQUISITES, Prerequisite, missing
from aws_rules.stack import Resource, Stack
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
    # With the app's own calls under its config grants (none in the shipped environments yet).
    found = [str(d) for d in denied(Stack(stack.json), grants.granted(stack.config))]
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


def _role(stack: Stack, role_path: str) -> Resource:
    """The role at ``role_path``: the environment's, or (roles/<purpose>) the first service's."""
    return next(r for r in stack.of_type("aws_iam_role") if r.path in (role_path, f"services/app/{role_path}"))


def _without_action(document: dict[str, Any], role_path: str, action: str) -> dict[str, Any]:
    """The document with ``action`` removed from every inline policy of one role."""
    result = copy.deepcopy(document)
    stack = Stack(result)
    role = _role(stack, role_path)
    for policy in stack.of_type("aws_iam_role_policy"):
        if policy.body["role"] == role.ref("name"):
            parsed = json.loads(policy.body["policy"])
            for statement in parsed["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                statement["Action"] = [a for a in actions if a != action] or ["none:None"]
            policy.body["policy"] = json.dumps(parsed)
    return result


def _without_attachment(document: dict[str, Any], role_path: str, policy_name: str) -> dict[str, Any]:
    result = copy.deepcopy(document)
    stack = Stack(result)
    role = _role(stack, role_path)
    attachments = result["resource"]["aws_iam_role_policy_attachment"]
    for name, body in list(attachments.items()):
        if body["role"] == role.ref("name") and body["policy_arn"].endswith(f"/{policy_name}"):
            del attachments[name]
    return result


@pytest.mark.parametrize("role_path", sorted(CALLS))
def test_a_role_missing_one_of_its_calls_is_reported(role_path: str, synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in synthesized.values():
        look = Lookup(Stack(stack.json), services_of(Stack(stack.json))[0])
        if look.at("aws_iam_role", role_path) is None or not CALLS[role_path].applies(look):
            continue
        call = next(c for c in CALLS[role_path].calls if c.resource(look) is not None)
        managed = CALLS[role_path].managed
        if managed:  # its permissions are an AWS-managed policy: detach it
            broken = Stack(_without_attachment(stack.json, role_path, managed))
            assert any(d.role == role_path and d.resource == managed for d in denied(broken))
            return
        broken = Stack(_without_action(stack.json, role_path, call.action))
        assert any(d.role == role_path and d.call.action == call.action for d in denied(broken))
        return
    pytest.fail(f"no shipped environment has {role_path}")


def test_a_publisher_without_the_topics_key_is_reported(prod: SynthesizedStack) -> None:
    """SNS encrypts with the topic's key on the publisher's behalf: the pipeline role needs it."""
    broken = Stack(_without_action(prod.json, "roles/codepipeline", "kms:GenerateDataKey*"))
    assert any(d.call.action == "kms:GenerateDataKey" and "notifications_key" in d.resource for d in denied(broken))


# --- Keys: KMS checks the key policy on every use (aws_rules/keys.py) ---


def _key(document: dict[str, Any], path: str) -> dict[str, Any]:
    return next(b for b in document["resource"]["aws_kms_key"].values() if Resource("k", "k", b).path == path)


def _edit_key_policy(document: dict[str, Any], path: str, edit: Any) -> dict[str, Any]:
    """The document with the key at ``path``'s policy statements passed through ``edit``."""
    result = copy.deepcopy(document)
    key = _key(result, path)
    parsed = json.loads(key["policy"])
    parsed["Statement"] = edit(parsed["Statement"])
    key["policy"] = json.dumps(parsed)
    return result


def _without_sids(sids: set[str], statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s["Sid"] not in sids]


def _key_calls() -> list[tuple[str, Call]]:
    """Every role call of the table that uses a key (the key of what it touches, or KMS itself)."""
    return [
        (path, call)
        for path, role_calls in CALLS.items()
        for call in role_calls.calls
        if call.key is not None or call.action.startswith("kms:")
    ]


def test_every_role_that_uses_a_key_has_its_calls_in_the_table() -> None:
    """Each role whose service uses a customer key on its behalf is listed with that use."""
    roles = {path for path, _ in _key_calls()}
    assert roles >= {
        "roles/task_execution",
        "roles/codebuild",
        "roles/codepipeline",
        "roles/migrate",
        "roles/load_test",
        "roles/test_hook",
        "roles/release_alarms",
        "roles/ecr_replica_creator",
        "roles/backup",
    }


@pytest.mark.parametrize("role_path", sorted({path for path, _ in _key_calls()}))
def test_a_key_policy_missing_one_roles_use_statement_is_reported(
    role_path: str, synthesized: dict[str, SynthesizedStack]
) -> None:
    """The key policy loses every statement that admits the role's use: the one naming it, and
    any for the account whose conditions the call meets (for the execution role, the deployer's
    statement through Secrets Manager also admits it, as IAM may then grant it). The account's
    administration never stands in for either."""
    for stack in synthesized.values():
        document = stack.json
        look = Lookup(Stack(document), services_of(Stack(document))[0])
        role = look.at("aws_iam_role", role_path)
        if role is None or not CALLS[role_path].applies(look):
            continue
        calls = [c for p, c in _key_calls() if p == role_path and c.resource(look) is not None]
        if not calls:
            continue
        call = calls[0]
        presented = call.resource(look)
        assert presented is not None
        (key_reference, request), *_ = key_requests(look, role, call, presented)
        key = Stack(document).resources[key_reference[2:].rsplit(".", 1)[0]]
        root = keys.account_root(Stack(document))
        admitting = [s["Sid"] for s in keys.admitting(key.body["policy"], request, root)]
        assert admitting and "AccountAdministersKey" not in admitting
        assert not [d for d in denied(Stack(document)) if d.role == role_path]
        broken = Stack(_edit_key_policy(document, key.path, functools.partial(_without_sids, set(admitting))))
        found = [d for d in denied(broken) if d.role == role_path and "key policy admits no" in d.why]
        assert found, f"{role_path} lost {admitting} in {key.path} and nothing noticed"
        return
    pytest.fail(f"no shipped environment has {role_path}")


def test_a_statement_for_the_account_admits_a_role_only_through_the_service_it_names(prod: SynthesizedStack) -> None:
    """The pipeline roles' statement replaced by one for the account: admitted through S3 (the
    role's own policy grants the key), refused when the statement names another service."""

    def through(service: str) -> Any:
        def edit(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                dict(
                    s,
                    Principal={"AWS": "arn:aws:iam::333333333333:root"},
                    Condition={"StringEquals": {"kms:ViaService": f"{service}.eu-west-1.amazonaws.com"}},
                )
                if s["Sid"] == "PipelineRolesUseKey"
                else s
                for s in statements
            ]

        return edit

    def s3_denials(document: dict[str, Any]) -> list[str]:
        return [
            str(d)
            for d in denied(Stack(document))
            if d.role == "roles/codepipeline" and "artifacts_key" in d.resource and "s3:" in d.why
        ]

    assert s3_denials(_edit_key_policy(prod.json, "keys/artifacts_key", through("s3"))) == []
    assert s3_denials(_edit_key_policy(prod.json, "keys/artifacts_key", through("sns")))


def test_the_deploying_principal_can_create_every_encrypted_resource(stack: SynthesizedStack) -> None:
    """RDS, Secrets Manager, Lambda, ECR and AWS Backup use the key with the deployer's
    permissions when Terraform creates the resource: each key policy admits that, per service."""
    found = [str(p) for p in keys.deployer_denied(Stack(stack.json))]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("env", "key_path", "sid", "resource"),
    [
        ("dev", "keys/data_key", "AccountLetsRdsGrantItselfTheKey", "database/cluster"),
        ("prod", "keys/data_key", "AccountUsesKeyThroughSecretsManager", "database/master_secret"),
        ("prod", "dr/keys/data_key", "AccountUsesKeyThroughSecretsManager", "database/master_secret"),
        ("dev", "keys/artifacts_key", "AccountLetsEcrGrantItselfTheKey", "ecr/repository"),
        ("dev", "keys/artifacts_key", "AccountUsesKeyThroughLambda", "release_alarms/release_alarms"),
        ("staging", "dr/keys/data_key", "AccountLetsBackupGrantItselfTheKey", "dr/backup_vault/vault"),
    ],
)
def test_a_key_policy_that_forgets_the_deploying_principal_is_reported(
    env: str, key_path: str, sid: str, resource: str, synthesized: dict[str, SynthesizedStack]
) -> None:
    document = synthesized[env].json
    broken = Stack(_edit_key_policy(document, key_path, lambda ss: [s for s in ss if s["Sid"] != sid]))
    found = [str(p) for p in keys.deployer_denied(broken)]
    assert any(key_path in f and resource in f for f in found), found


def test_no_key_policy_lets_the_account_use_a_key_outside_the_services_that_need_it(stack: SynthesizedStack) -> None:
    found = [str(p) for p in keys.account_uses_beyond_need(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_the_account_using_a_key_directly_or_through_an_idle_service_is_reported(dev: SynthesizedStack) -> None:
    root = "arn:aws:iam::111111111111:root"
    everything = {
        "Sid": "Everything",
        "Effect": "Allow",
        "Principal": {"AWS": root},
        "Action": "kms:*",
        "Resource": "*",
    }
    idle = {
        "Sid": "ThroughSqs",
        "Effect": "Allow",
        "Principal": {"AWS": root},
        "Action": ["kms:Decrypt"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}},
    }
    for extra, expected in ((everything, "directly"), (idle, "through sqs")):
        broken = Stack(_edit_key_policy(dev.json, "keys/data_key", lambda ss, e=extra: [*ss, e]))  # type: ignore[misc]
        found = [str(p) for p in keys.account_uses_beyond_need(broken)]
        assert any(expected in f for f in found), found


def test_every_key_is_administered_by_the_account_apart_from_its_use(stack: SynthesizedStack) -> None:
    """The administrators' statement has the documented actions, kms:PutKeyPolicy included (KMS's
    policy-lockout safety check), and none that encrypts, decrypts or grants."""
    found = [str(p) for p in keys.administration_problems(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_an_administrator_statement_that_uses_the_key_or_cannot_update_it_is_reported(dev: SynthesizedStack) -> None:
    def admin(edit: Any) -> Any:
        return lambda ss: [dict(s, Action=edit(s["Action"])) if s["Sid"] == "AccountAdministersKey" else s for s in ss]

    using = Stack(_edit_key_policy(dev.json, "keys/logs_key", admin(lambda a: [*a, "kms:Decrypt"])))
    assert any("also allows use" in str(p) for p in keys.administration_problems(using))
    locked = Stack(
        _edit_key_policy(dev.json, "keys/logs_key", admin(lambda a: [x for x in a if x != "kms:PutKeyPolicy"]))
    )
    assert any("kms:PutKeyPolicy" in str(p) for p in keys.administration_problems(locked))


def test_every_log_group_is_one_its_key_lets_cloudwatch_logs_use_it_for(stack: SynthesizedStack) -> None:
    """The logs keys name the project's own log groups, every one of them, by exact ARN."""
    found = [str(p) for p in keys.log_groups_outside_their_key(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_a_log_group_the_key_policy_forgets_or_a_pattern_is_reported(prod: SynthesizedStack) -> None:
    def edit(change: Any) -> Any:
        def apply(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for s in statements:
                for tests in s.get("Condition", {}).values():
                    if "kms:EncryptionContext:aws:logs:arn" in tests:
                        tests["kms:EncryptionContext:aws:logs:arn"] = change(
                            tests["kms:EncryptionContext:aws:logs:arn"]
                        )
            return statements

        return apply

    forgotten = Stack(
        _edit_key_policy(prod.json, "dr/keys/logs_key", edit(lambda arns: [a for a in arns if "/postgresql" not in a]))
    )
    assert any("dr/database/postgresql_log" in str(p) for p in keys.log_groups_outside_their_key(forgotten))
    pattern = Stack(
        _edit_key_policy(
            prod.json, "keys/logs_key", edit(lambda arns: ["arn:aws:logs:eu-west-1:333333333333:log-group:*"])
        )
    )
    assert any("by a pattern" in str(p) for p in keys.log_groups_outside_their_key(pattern))
    stranger = Stack(
        _edit_key_policy(
            prod.json,
            "keys/logs_key",
            edit(lambda arns: [*arns, "arn:aws:logs:eu-west-1:333333333333:log-group:/other"]),
        )
    )
    assert any("no log group of this key" in str(p) for p in keys.log_groups_outside_their_key(stranger))


def test_conditions_are_evaluated_as_iam_does() -> None:
    context = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert keys.conditions_hold(
        {"StringEquals": {"kms:viaservice": ["sns.eu-west-1.amazonaws.com", context["kms:ViaService"]]}}, context
    )
    assert not keys.conditions_hold({"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}}, context)
    assert not keys.conditions_hold({"Bool": {"kms:GrantIsForAWSResource": "true"}}, context), "a missing key fails"
    assert keys.conditions_hold({"BoolIfExists": {"kms:GrantIsForAWSResource": "true"}}, context)
    assert keys.conditions_hold({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}}, context)
    assert keys.conditions_hold(
        {"ArnLike": {"aws:SourceArn": "arn:aws:ecs:eu-west-1:1:*"}}, {"aws:SourceArn": "arn:aws:ecs:eu-west-1:1:task/x"}
    )
    with pytest.raises(ValueError, match="NumericLessThan"):
        keys.conditions_hold({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, context)


# --- Trust: roles held to the resources they act for (aws_rules/trust.py) ---


def test_every_role_trusts_the_resources_whose_service_assumes_it(stack: SynthesizedStack) -> None:
    found = [str(u) for u in trust.untrusted(Stack(stack.json))]
    assert found == [], "\n".join(found)


def test_a_role_whose_trust_names_another_resource_is_reported(staging: SynthesizedStack) -> None:
    document = copy.deepcopy(staging.json)
    projects = document["resource"]["aws_codebuild_project"].values()
    project = next(b for b in projects if Resource("p", "p", b).path == "services/app/load_test/project")
    project["name"] = "renamed-load-test"
    found = [str(u) for u in trust.untrusted(Stack(document))]
    assert any("roles/load_test" in f and "project/renamed-load-test" in f for f in found), found


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


# --- From inside the VPC: every call gets out, through an endpoint that admits it, or NAT ---


def test_every_call_from_inside_a_vpc_gets_out_and_its_endpoint_admits_it(stack: SynthesizedStack) -> None:
    found = [str(s) for s in stuck(Stack(stack.json), grants.granted(stack.config))]
    assert found == [], "\n".join(found)


def test_no_security_group_reaches_the_internet_unless_a_call_or_client_needs_it(stack: SynthesizedStack) -> None:
    found = [r.path for r in needless_internet_egress(Stack(stack.json), grants.granted(stack.config))]
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
    assert ("ecr:BatchGetImage", "dr/services/app/ecs/service") in reported


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
    reported = {s.call.action for s in stuck(broken) if s.site.runner.path == "services/app/ecs/service"}
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
    _at(no_client, "aws_lambda_function", "services/app/deployment_hooks/test_traffic")["environment"]["variables"][
        "TEST_URL"
    ] = "https://example.com"
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


def test_every_http_target_group_is_reached_only_through_tls_listeners(stack: SynthesizedStack) -> None:
    assert [str(r) for r in plain_routes(Stack(stack.json))] == []


def test_a_target_group_behind_a_plain_listener_or_rule_or_none_is_reported(prod: SynthesizedStack) -> None:
    """The controls: the production listener speaking HTTP (its default action), and a target group
    nothing forwards to (a rule on a plain listener: tests/test_services.py)."""
    document = copy.deepcopy(prod.json)
    listeners = document["resource"]["aws_lb_listener"]
    listeners[prod.one("aws_lb_listener", "load_balancer/prod_listener").id]["protocol"] = "HTTP"
    found = [str(r) for r in plain_routes(Stack(document))]
    assert found and all("load_balancer/prod_listener forwards to it over HTTP" in f for f in found), found
    document = copy.deepcopy(prod.json)
    groups = document["resource"]["aws_lb_target_group"]
    groups["orphan"] = {**next(iter(groups.values())), "//": {"metadata": {"path": "x/orphan"}}}
    assert [str(r) for r in plain_routes(Stack(document))] == [
        "orphan: no listener forwards to it (nothing shows it is behind TLS)"
    ]
