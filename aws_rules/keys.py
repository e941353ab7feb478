"""What a KMS key policy admits, and who must be admitted: KMS checks the key policy on every use.

Unlike other resources, a key is usable only as its key policy says: an IAM policy counts only
where a key policy statement names the account principal (and then only under that statement's
conditions). So a key policy that forgets the deploying principal breaks the first ``apply``
(RDS, Secrets Manager, Lambda, ECR and AWS Backup all use the key with the caller's permissions
when they create the resource), and one that forgets a service role breaks a release; an emulator
checks neither.
https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html

A small evaluator: Allow and Deny statements, principals compared as text (references included),
actions with IAM wildcards, and the condition operators the stacks use (an unknown one raises,
never passes). Conditions are matched against the request context a call is given.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_rules import iam
from aws_rules.stack import Resource, Stack

#: The account principal's unconditional statement may hold only these: administration, no use.
#: AWS's documented administrators' statement, spelt out, without kms:CreateGrant (a grant is use:
#: an administrator could grant itself decryption) and without the actions of keys this project
#: never makes (imported material, multi-Region); modules/security/keys.py grants exactly these.
#: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators
ADMIN_ACTIONS = (
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:RevokeGrant",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
_ADMIN = frozenset(ADMIN_ACTIONS)
#: What the key's administrators must keep. The policy-lockout safety check refuses a policy that
#: does not let the principal setting it set it again (CreateKey, PutKeyPolicy).
#: https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
LOCKOUT_SAFE = "kms:PutKeyPolicy"


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a role (its ARN, as the stack spells it), the account (its deploying
    principal or any other identity IAM lets in), or an AWS service principal."""

    kind: str  # "role", "account" or "service"
    name: str


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    #: Condition keys of the request: kms:ViaService, kms:EncryptionContext:*, kms:GrantIsForAWSResource, ...
    context: Mapping[str, str] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_NEGATED = ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")
_OPERATORS = ("StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool", *_NEGATED)


def _test(operator: str, expected: str, actual: str) -> bool:
    if operator == "Bool":
        return expected.lower() == actual.lower()
    if operator in ("StringEquals", "StringNotEquals"):
        return expected == actual
    # StringLike and the Arn operators: IAM's * and ? wildcards (brackets are literal).
    return fnmatch.fnmatchcase(actual, expected.replace("[", "[[]"))


def conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """IAM's semantics: every operator and key must hold; any listed value may match; a missing
    key fails a positive operator and satisfies a negated one or an ...IfExists one."""
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, tests in conditions.items():
        base = operator.removesuffix("IfExists")
        if base not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not evaluated here: add it to aws_rules/keys.py")
        for key, expected in tests.items():
            actual = lowered.get(key.lower())
            if actual is None:
                if base in _NEGATED or operator.endswith("IfExists"):
                    continue
                return False
            matched = any(_test(base.replace("Not", ""), str(e), actual) for e in _as_list(expected))
            if matched is (base in _NEGATED):
                return False
    return True


def names(statement: Mapping[str, Any], principal: Principal, account_root: str) -> bool:
    """Whether a statement's Principal covers the request's principal (a role is also covered by
    the account principal: IAM may then grant it)."""
    given = statement.get("Principal", {})
    if given == "*" or (isinstance(given, dict) and given.get("AWS") == "*"):
        return principal.kind != "service"
    aws = {str(p) for p in _as_list(given.get("AWS", []))} if isinstance(given, dict) else set()
    services = {str(p) for p in _as_list(given.get("Service", []))} if isinstance(given, dict) else set()
    if principal.kind == "service":
        return principal.name in services
    return account_root in aws or (principal.kind == "role" and principal.name in aws)


def _acts(statement: Mapping[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action", [])))


def admitting(policy: str | Mapping[str, Any], request: Request, account_root: str) -> list[dict[str, Any]]:
    """The Allow statements that admit the request (none if a Deny refuses it)."""
    found = []
    for statement in iam.statements(policy):  # type: ignore[arg-type]
        if not (_acts(statement, request.action) and names(statement, request.principal, account_root)):
            continue
        if not conditions_hold(statement.get("Condition", {}), request.context):
            continue
        if statement.get("Effect") == "Deny":
            return []
        found.append(statement)
    return found


def admits(policy: str | Mapping[str, Any], request: Request, account_root: str) -> bool:
    return bool(admitting(policy, request, account_root))


def account_root(stack: Stack) -> str:
    providers = stack.document.get("provider", {}).get("aws", [])
    account = str(providers[0]["allowed_account_ids"][0]) if providers else ""
    return f"arn:aws:iam::{account}:root"


def via(service: str, region: str) -> str:
    return f"{service}.{region}.amazonaws.com"


# --- What the deploying principal does with a key when it creates a resource ---


@dataclass(frozen=True)
class CreatedWithKey:
    """A resource type whose creation (by Terraform's principal) uses a customer key: the argument
    that names the key, the services the request reaches KMS through, and what AWS requires."""

    resource_type: str
    #: The key references the resource names, each with the Region it is used in (replicas).
    keys: Callable[[Stack, Resource], list[tuple[str, str]]]
    services: tuple[str, ...]
    actions: tuple[str, ...]
    document: str


def _argument(name: str) -> Callable[[Stack, Resource], list[tuple[str, str]]]:
    def found(stack: Stack, resource: Resource) -> list[tuple[str, str]]:
        value: Any = resource.body
        for part in name.split("."):
            value = value[int(part)] if isinstance(value, list) else value.get(part) if value else None
        return [(value, stack.region_of(resource))] if isinstance(value, str) else []

    return found


def _replica_keys(stack: Stack, resource: Resource) -> list[tuple[str, str]]:
    return [(str(r["kms_key_id"]), str(r["region"])) for r in resource.body.get("replica", []) if "kms_key_id" in r]


def _managed_secret_key(stack: Stack, resource: Resource) -> list[tuple[str, str]]:
    if not resource.body.get("manage_master_user_password"):
        return []
    return _argument("master_user_secret_kms_key_id")(stack, resource)


AURORA = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html"
#: Every resource type the stacks encrypt with a key at creation, through a service acting for the
#: caller. (Log groups are CloudWatch Logs' own business: see log_groups_outside_their_key; SNS,
#: S3 and CodeBuild/CodePipeline use the key only when the roles that publish or read call them.)
CREATED_WITH_KEYS = (
    CreatedWithKey(
        "aws_rds_cluster", _argument("kms_key_id"), ("rds",), ("kms:CreateGrant", "kms:DescribeKey"), AURORA
    ),
    CreatedWithKey(
        "aws_rds_cluster",
        _managed_secret_key,
        ("rds", "secretsmanager"),
        ("kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"),
        "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions",
    ),
    CreatedWithKey(
        "aws_rds_cluster_instance",
        _argument("performance_insights_kms_key_id"),
        ("rds",),
        ("kms:CreateGrant", "kms:DescribeKey"),
        AURORA,
    ),
    CreatedWithKey(
        "aws_secretsmanager_secret",
        _argument("kms_key_id"),
        ("secretsmanager",),
        # PutSecretValue encrypts; the provider reads every version back with GetSecretValue.
        ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"),
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
    ),
    CreatedWithKey(
        "aws_secretsmanager_secret",
        _replica_keys,
        ("secretsmanager",),
        ("kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"),
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/create-manage-multi-region-secrets.html",
    ),
    CreatedWithKey(
        "aws_lambda_function",
        _argument("kms_key_arn"),
        ("lambda",),
        ("kms:CreateGrant", "kms:Encrypt", "kms:Decrypt"),
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html",
    ),
    CreatedWithKey(
        "aws_ecr_repository",
        _argument("encryption_configuration.0.kms_key"),
        ("ecr",),
        ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"),
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html",
    ),
    CreatedWithKey(
        "aws_backup_vault",
        _argument("kms_key_arn"),
        ("backup",),
        ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"),
        "https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault.html",
    ),
)


def grant_context(action: str) -> dict[str, str]:
    """CreateGrant requests a service makes for the resource it creates carry this key."""
    return {"kms:GrantIsForAWSResource": "true"} if action == "kms:CreateGrant" else {}


@dataclass(frozen=True)
class DeployerUse:
    """The deploying principal uses ``key`` through ``service`` in ``region`` to create ``resource``."""

    resource: Resource
    key: Resource
    service: str
    region: str
    action: str
    document: str

    def request(self) -> Request:
        context = {"kms:ViaService": via(self.service, self.region), **grant_context(self.action)}
        return Request(Principal("account", ""), self.action, context)


def deployer_uses(stack: Stack, table: tuple[CreatedWithKey, ...] = CREATED_WITH_KEYS) -> Iterator[DeployerUse]:
    for row in table:
        for resource in stack.of_type(row.resource_type):
            for reference, region in row.keys(stack, resource):
                key = iam.target(stack, reference)
                if key is None or key.type != "aws_kms_key":
                    continue
                for service in row.services:
                    for action in row.actions:
                        yield DeployerUse(resource, key, service, region, action, row.document)


@dataclass(frozen=True)
class KeyProblem:
    key: Resource
    why: str

    def __str__(self) -> str:
        return f"{self.key.path}: {self.why}"


def deployer_denied(stack: Stack, table: tuple[CreatedWithKey, ...] = CREATED_WITH_KEYS) -> list[KeyProblem]:
    """Every use of a key the deploying principal needs at create time that the key policy refuses."""
    root = account_root(stack)
    return [
        KeyProblem(
            use.key,
            f"the deploying principal cannot {use.action} through {use.service} to create "
            f"{use.resource.path} ({use.resource.type}); AWS requires it: {use.document}",
        )
        for use in deployer_uses(stack, table)
        if not admits(use.key.body.get("policy", "{}"), use.request(), root)
    ]


def account_uses_beyond_need(stack: Stack, table: tuple[CreatedWithKey, ...] = CREATED_WITH_KEYS) -> list[KeyProblem]:
    """Statements naming the account principal that allow more than administration must be held
    to a service (kms:ViaService) the key's resources are created through, for the actions they
    need there: the account uses no key directly, and through no other service."""
    needed: dict[str, dict[str, set[str]]] = {}  # key address -> via -> actions
    for use in deployer_uses(stack, table):
        needed.setdefault(use.key.address, {}).setdefault(via(use.service, use.region), set()).add(use.action)
    root = account_root(stack)
    problems = []
    for key in stack.of_type("aws_kms_key"):
        for statement in iam.statements(key.body.get("policy", "{}")):
            if statement.get("Effect") != "Allow" or root not in _principals(statement):
                continue
            actions = {str(a) for a in _as_list(statement.get("Action", []))}
            conditions = statement.get("Condition", {})
            if not conditions and actions <= _ADMIN:
                continue  # the administrators' statement
            services = {str(v) for v in _as_list(conditions.get("StringEquals", {}).get("kms:ViaService", []))}
            allowed = needed.get(key.address, {})
            if not services:
                problems.append(KeyProblem(key, f"{statement.get('Sid')} lets the account use the key directly"))
                continue
            for service in sorted(services):
                extra = {a for a in actions - _ADMIN if not any(_matches(a, n) for n in allowed.get(service, ()))}
                if service not in allowed or extra:
                    problems.append(
                        KeyProblem(
                            key,
                            f"{statement.get('Sid')} lets the account use the key through {service} "
                            f"({sorted(extra or actions)}), which creates nothing with it",
                        )
                    )
    return problems


def _matches(granted: str, needed: str) -> bool:
    return fnmatch.fnmatchcase(needed.lower(), granted.lower()) or granted.lower() == needed.lower()


def _principals(statement: Mapping[str, Any]) -> set[str]:
    return iam.principals(dict(statement))


def administration_problems(stack: Stack) -> list[KeyProblem]:
    """Each key is administered by the account principal, unconditionally, with the documented
    administrator actions, kms:PutKeyPolicy included (lockout check), and nothing that uses it."""
    root = account_root(stack)
    problems = []
    for key in stack.of_type("aws_kms_key"):
        statements = iam.statements(key.body.get("policy", "{}"))
        admins = [
            s for s in statements if s.get("Effect") == "Allow" and root in _principals(s) and not s.get("Condition")
        ]
        if len(admins) != 1:
            problems.append(KeyProblem(key, f"has {len(admins)} unconditional statements for the account, not 1"))
            continue
        actions = {str(a) for a in _as_list(admins[0].get("Action", []))}
        if LOCKOUT_SAFE not in actions:
            problems.append(KeyProblem(key, f"its administrators lack {LOCKOUT_SAFE}: KMS refuses the policy"))
        beyond = sorted(actions - _ADMIN)
        if beyond:
            problems.append(KeyProblem(key, f"its administrators' statement also allows use: {beyond}"))
    return problems


# --- CloudWatch Logs: the service encrypts a log group's events with the key itself ---


def log_group_arn(stack: Stack, group: Resource) -> str:
    account = account_root(stack).split(":")[4]
    return f"arn:aws:logs:{stack.region_of(group)}:{account}:log-group:{group.body.get('name')}"


def logs_request(stack: Stack, group: Resource, action: str = "kms:GenerateDataKey") -> Request:
    """What CloudWatch Logs asks KMS when it writes an encrypted log group's events.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"""
    return Request(
        Principal("service", f"logs.{stack.region_of(group)}.amazonaws.com"),
        action,
        {"kms:EncryptionContext:aws:logs:arn": log_group_arn(stack, group)},
    )


def log_groups_outside_their_key(stack: Stack) -> list[KeyProblem]:
    """Every log group encrypted with a key of the stack is one the key lets CloudWatch Logs use it
    for, and the key names no other: exact log-group ARNs, not ``log-group:*``."""
    root = account_root(stack)
    problems = []
    named: dict[str, set[str]] = {}
    for group in stack.of_type("aws_cloudwatch_log_group"):
        key = iam.target(stack, group.body.get("kms_key_id"))
        if key is None:
            continue
        named.setdefault(key.address, set()).add(log_group_arn(stack, group))
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            if not admits(key.body.get("policy", "{}"), logs_request(stack, group, action), root):
                problems.append(
                    KeyProblem(key, f"CloudWatch Logs cannot {action} for {group.path} ({log_group_arn(stack, group)})")
                )
    for key in stack.of_type("aws_kms_key"):
        for statement in iam.statements(key.body.get("policy", "{}")):
            for tests in statement.get("Condition", {}).values():
                for value in _as_list(tests.get("kms:EncryptionContext:aws:logs:arn", [])):
                    if "*" in str(value) or "?" in str(value):
                        problems.append(
                            KeyProblem(key, f"{statement.get('Sid')} names log groups by a pattern: {value}")
                        )
                    elif str(value) not in named.get(key.address, set()):
                        problems.append(
                            KeyProblem(key, f"{statement.get('Sid')} names {value}, no log group of this key")
                        )
    return problems
