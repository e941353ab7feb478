"""Rule 3, from inside the VPC: every call a role makes there gets out, and nothing else does.

A call of the CALLS table made over the caller's own network (``Call.endpoint``) leaves through the
VPC endpoint of its service where the caller's region has one; then the caller's security
groups must allow HTTPS to it (the interface endpoints' group, or the S3 gateway's prefix list),
the endpoint's group must let it in, and the endpoint policy must admit the call: the role, the
action, the resource as AWS presents it. Without an endpoint the call goes through NAT: the
caller's groups allow HTTPS to the internet and its subnets route there through a NAT gateway.
https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html

The app's own calls, as its task role, are those of its config grants (aws_rules/grants.py),
passed in as ``granted``: each must get out the same way (S3 through the gateway endpoint, the
others through their interface endpoint, or NAT where the VPC has none).

Conversely (``needless_internet_egress``), each egress rule to the internet is needed: by such a
call without an endpoint, by a CodeBuild build in the VPC (CodeBuild needs NAT to reach public
endpoints: https://docs.aws.amazon.com/codebuild/latest/userguide/vpc-support.html), or by a
client that calls the stack's public load balancer on that port (a URL in its environment).

A small evaluator, like ``iam``: Allow statements, ``*`` and ``?`` wildcards, and the only
conditions the endpoint policies use (StringEquals on the principal's and the resource's
account); any other condition counts as not met.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_rules import iam
from aws_rules.permissions import CALLS, RUNTIME, TASK_ROLE, Call, Lookup, services_of
from aws_rules.stack import Resource, Stack

HTTPS = 443
INTERNET = "0.0.0.0/0"
#: The accounts AWS's own buckets and signers belong to: not the stack's.
AWS_OWNED = "aws"


@dataclass(frozen=True)
class Site:
    """A resource that runs as a role inside a VPC: where that role's calls leave from."""

    runner: Resource
    #: "" for the primary region, "dr/" for the DR region (construct paths below the stack).
    scope: str
    groups: tuple[str, ...]
    subnets: tuple[str, ...]


@dataclass(frozen=True)
class Stuck:
    role: str
    call: Call
    site: Site
    resource: str
    why: str

    def __str__(self) -> str:
        return (
            f"{self.role} cannot {self.call.action} on {self.resource} ({self.call.phase}) "
            f"from {self.site.runner.path}: {self.why}"
        )


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def sites(stack: Stack, role: Resource) -> list[Site]:
    """The Lambda functions, CodeBuild projects and ECS services (for their task execution role
    or their task role) in a VPC that run as ``role``."""
    arn = role.ref("arn")
    found = []
    for resource in stack.resources.values():
        body = resource.body
        network: dict[str, Any] | None = None
        if resource.type == "aws_lambda_function" and body.get("role") == arn:
            vpc = body.get("vpc_config")
            network = {"groups": vpc.get("security_group_ids"), "subnets": vpc.get("subnet_ids")} if vpc else None
        elif resource.type == "aws_codebuild_project" and body.get("service_role") == arn:
            vpc = body.get("vpc_config")
            network = {"groups": vpc.get("security_group_ids"), "subnets": vpc.get("subnets")} if vpc else None
        elif resource.type == "aws_ecs_service":
            task = iam.target(stack, body.get("task_definition"))
            config = body.get("network_configuration")
            roles = (task.body.get("execution_role_arn"), task.body.get("task_role_arn")) if task else ()
            if arn in roles and config:
                network = {"groups": config.get("security_groups"), "subnets": config.get("subnets")}
        if network:
            scope = "dr/" if resource.path.startswith("dr/") else ""
            found.append(Site(resource, scope, tuple(_items(network["groups"])), tuple(_items(network["subnets"]))))
    return found


def endpoint(stack: Stack, region: str, service: str) -> Resource | None:
    """The VPC endpoint of ``service`` (e.g. "ecr.dkr") in ``region``."""
    for candidate in stack.of_type("aws_vpc_endpoint"):
        if stack.region_of(candidate) == region and candidate.body.get("service_name") == (
            f"com.amazonaws.{region}.{service}"
        ):
            return candidate
    return None


def _covers_https(rule: Resource) -> bool:
    body = rule.body
    return body.get("ip_protocol") in ("tcp", "6", "-1") and (
        body.get("ip_protocol") == "-1" or int(body.get("from_port", -1)) <= HTTPS <= int(body.get("to_port", -1))
    )


def _rules(stack: Stack, kind: str, groups: tuple[str, ...]) -> list[Resource]:
    """Rules of ``kind`` ("egress"/"ingress") on any of the groups (references to their ids)."""
    return [
        r for r in stack.of_type(f"aws_vpc_security_group_{kind}_rule") if r.body.get("security_group_id") in groups
    ]


def https_out(stack: Stack, groups: tuple[str, ...], *, to_groups: tuple[str, ...] = (), prefix_list: str = "") -> bool:
    """Whether the groups allow HTTPS out to the internet, to one of ``to_groups`` or to the prefix list."""
    for rule in _rules(stack, "egress", groups):
        body = rule.body
        if _covers_https(rule) and (
            body.get("cidr_ipv4") == INTERNET
            or (to_groups and body.get("referenced_security_group_id") in to_groups)
            or (prefix_list and body.get("prefix_list_id") == prefix_list)
        ):
            return True
    return False


def _https_in(stack: Stack, endpoint_groups: tuple[str, ...], callers: tuple[str, ...]) -> bool:
    """Whether an interface endpoint's groups let HTTPS in from the callers (their group, or an address range)."""
    return any(
        _covers_https(rule) and (rule.body.get("cidr_ipv4") or rule.body.get("referenced_security_group_id") in callers)
        for rule in _rules(stack, "ingress", endpoint_groups)
    )


def through_nat(stack: Stack, subnets: tuple[str, ...]) -> bool:
    """Whether every one of the subnets routes the internet to a NAT gateway."""
    tables = {
        a.body.get("subnet_id"): a.body.get("route_table_id") for a in stack.of_type("aws_route_table_association")
    }
    nat_tables = {
        r.body.get("route_table_id")
        for r in stack.of_type("aws_route")
        if r.body.get("destination_cidr_block") == INTERNET and r.body.get("nat_gateway_id")
    }
    return bool(subnets) and all(tables.get(s) in nat_tables for s in subnets)


# --- What AWS presents: the ARN of a referenced resource, from the arguments the stack sets ---

_REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_.\[\]]+)\}")
#: (type, attribute) -> the ARN's form: service, resource part from the body (RUNTIME for what
#: AWS generates). Add a row when an endpoint carries calls on another kind of resource.
_ARNS: dict[tuple[str, str], tuple[str, str]] = {
    ("aws_ecr_repository", "arn"): ("ecr", "repository/{name}"),
    ("aws_cloudwatch_log_group", "arn"): ("logs", "log-group:{name}"),
    ("aws_secretsmanager_secret", "arn"): ("secretsmanager", "secret:{name}-" + RUNTIME),
    # RDS names the secret it manages for a cluster rds!cluster-<id>.
    ("aws_rds_cluster", "master_user_secret[0].secret_arn"): ("secretsmanager", "secret:rds!cluster-" + RUNTIME),
    ("aws_kms_key", "arn"): ("kms", "key/" + RUNTIME),
    ("aws_codebuild_project", "arn"): ("codebuild", "project/{name}"),
    ("aws_cloudwatch_metric_alarm", "arn"): ("cloudwatch", "alarm:{alarm_name}"),
    ("aws_s3_bucket", "arn"): ("s3", "{bucket}"),
}


def presented(stack: Stack, text: str) -> str:
    """``text`` with each reference to a resource's ARN replaced by the ARN AWS presents for it."""
    account = Lookup(stack).account()

    def arn(match: re.Match[str]) -> str:
        resource = stack.resources.get(f"{match[1]}.{match[2]}")
        form = _ARNS.get((match[1], match[3]))
        if resource is None or form is None:
            return match[0]
        service, template = form
        try:
            part = template.format(**{k: v for k, v in resource.body.items() if isinstance(v, str)})
        except KeyError:
            return match[0]
        if "${" in part:
            return match[0]
        if service == "s3":
            return f"arn:aws:s3:::{part}"
        return f"arn:aws:{service}:{stack.region_of(resource)}:{account}:{part}"

    return _REFERENCE.sub(arn, text)


def resource_account(stack: Stack, arn: str, account: str) -> str:
    """The account owning a presented ARN: its account field, or for S3 whether the stack owns the bucket."""
    parts = arn.split(":")
    if len(parts) > 5 and parts[4]:
        return parts[4]
    if arn.startswith("arn:aws:s3:::"):
        bucket = parts[5].split("/")[0]
        return account if any(b.body.get("bucket") == bucket for b in stack.of_type("aws_s3_bucket")) else AWS_OWNED
    return AWS_OWNED


def _principal_matches(statement: dict[str, Any], principal: str | None) -> bool:
    named = statement.get("Principal")
    if named == "*" or (isinstance(named, dict) and "*" in _items(named.get("AWS"))):
        return True
    return principal is not None and isinstance(named, dict) and principal in _items(named.get("AWS"))


def _conditions_hold(statement: dict[str, Any], context: Mapping[str, str | None]) -> bool:
    for operator, tests in statement.get("Condition", {}).items():
        for key, wanted in tests.items():
            if operator != "StringEquals" or context.get(key) is None or context[key] not in _items(wanted):
                return False
    return True


def admits(document: str, principal: str | None, action: str, resource: str, context: Mapping[str, str | None]) -> bool:
    """Whether an endpoint policy lets ``principal`` (None: a URL another account signed) make the call."""
    for statement in iam.statements(document):
        if (
            statement.get("Effect") == "Allow"
            and any(iam.matches(a, action, case_sensitive=False) for a in _items(statement.get("Action")))
            and any(iam.matches(r, resource, case_sensitive=True) for r in _items(statement.get("Resource")))
            and _principal_matches(statement, principal)
            and _conditions_hold(statement, context)
        ):
            return True
    return False


@dataclass(frozen=True)
class Outbound:
    """One call a role makes from inside a VPC, and the region it goes to."""

    role: Resource
    call: Call
    site: Site
    #: The ARN AWS presents (``*`` for actions without a resource type).
    resource: str
    region: str


def _secrets_of(stack: Stack, service: Resource) -> Iterator[tuple[str, str, str]]:
    """(endpoint service, action, ARN) of each secret the service's task definition names: Fargate
    reads them at every task start through the task's interface (``valueFrom``, without ECS's
    ``:json-key:...`` suffix for Secrets Manager)."""
    task = iam.target(stack, service.body.get("task_definition"))
    for container in _items(iam.json_document(task.body.get("container_definitions", "[]")) if task else []):
        for secret in _items(container.get("secrets")):
            source = str(secret.get("valueFrom", ""))
            if ":secretsmanager:" in source:
                yield "secretsmanager", "secretsmanager:GetSecretValue", ":".join(source.split(":")[:7])
            elif ":ssm:" in source:
                yield "ssm", "ssm:GetParameters", source


def _constant(arn: str) -> Callable[[Lookup], str]:
    return lambda _: arn


def _executes(stack: Stack, service: Resource, role: Resource) -> bool:
    """Whether ``role`` is the task execution role of the ECS service (which Fargate reads secrets as)."""
    task = iam.target(stack, service.body.get("task_definition"))
    return task is not None and task.body.get("execution_role_arn") == role.ref("arn")


#: Service key -> the calls of its config grants (aws_rules/grants.granted).
Granted = Mapping[str, Sequence[Call]]


def outbound(stack: Stack, granted: Granted | None = None) -> Iterator[Outbound]:
    """Every call of the CALLS table made from inside a VPC, every secret a task definition
    names (configured per environment, so not a row of the table), and every call of
    ``granted`` the tasks make as their task role."""
    for key, path, role_calls in ((k, p, r) for k in services_of(stack) for p, r in CALLS.items()):
        role = Lookup(stack, key).at("aws_iam_role", path)
        if role is None:
            continue
        for site in sites(stack, role):
            look = Lookup(stack, key, site.scope)
            if not role_calls.applies(look):
                continue
            for call in role_calls.calls:
                shown = call.resource(look) if call.endpoint else None
                if shown is not None:
                    yield Outbound(role, call, site, presented(stack, iam.literal(stack, shown)), look.region())
            if site.runner.type != "aws_ecs_service" or not _executes(stack, site.runner, role):
                continue
            for via, action, arn in _secrets_of(stack, site.runner):
                call = Call(action, "every task start: the task definition's secrets", _constant(arn), endpoint=via)
                yield Outbound(role, call, site, arn, arn.split(":")[3])
    for key, calls in (granted or {}).items():
        task_role = Lookup(stack, key).at("aws_iam_role", TASK_ROLE)
        if task_role is None:
            continue  # permissions.denied reports a service without its task role
        for site in sites(stack, task_role):
            look = Lookup(stack, key, site.scope)
            for call in calls:
                shown = call.resource(look) if call.endpoint else None
                if shown is not None:
                    # A bucket's ARN has no region: a granted bucket is the primary region's.
                    region = shown.split(":")[3] or Lookup(stack).region()
                    yield Outbound(task_role, call, site, shown, region)


def _endpoint_of(stack: Stack, out: Outbound) -> Resource | None:
    """The endpoint that carries the call: one of the caller's region, for a call to that region."""
    here = Lookup(stack, scope=out.site.scope).region()
    return endpoint(stack, here, str(out.call.endpoint)) if out.region == here else None


def stuck(stack: Stack, granted: Granted | None = None) -> Iterator[Stuck]:
    """Every call from inside a VPC that cannot get out, or that its endpoint refuses."""
    account = Lookup(stack).account()
    for out in outbound(stack, granted):
        why = _why_stuck(stack, out, _endpoint_of(stack, out), account)
        if why:
            yield Stuck(out.role.path, out.call, out.site, out.resource, why)


def _why_stuck(stack: Stack, out: Outbound, found: Resource | None, account: str) -> str | None:
    site, call, resource = out.site, out.call, out.resource
    if found is None:
        where = f"no {call.endpoint} endpoint for {out.region} in the caller's VPC"
        if not https_out(stack, site.groups):
            return f"{where}, and its security groups allow no HTTPS to the internet"
        if not through_nat(stack, site.subnets):
            return f"{where}, and its subnets have no route to a NAT gateway"
        return None
    if found.body.get("vpc_endpoint_type") == "Gateway":
        if not https_out(stack, site.groups, prefix_list=found.ref("prefix_list_id")):
            return f"its security groups allow no HTTPS to {found.path}'s prefix list"
    else:
        endpoint_groups = tuple(_items(found.body.get("security_group_ids")))
        if not https_out(stack, site.groups, to_groups=endpoint_groups):
            return f"its security groups allow no HTTPS to {found.path}'s security group"
        if not _https_in(stack, endpoint_groups, site.groups):
            return f"{found.path}'s security group lets no HTTPS in"
    principal = None if call.presigned else out.role.ref("arn")
    owner = resource_account(stack, resource, account)
    context = {
        "aws:PrincipalAccount": account if principal else AWS_OWNED,
        "s3:ResourceAccount": owner,
        "aws:ResourceAccount": owner,
        # What the call itself says (a granted bucket's owner, which the stack does not hold).
        **(call.context(Lookup(stack, scope=site.scope)) if call.context else {}),
    }
    if not admits(found.body.get("policy", '{"Statement": []}'), principal, call.action, resource, context):
        return f"the endpoint policy of {found.path} does not admit it"
    return None


def _clients_of(stack: Stack, runner: Resource) -> set[int]:
    """Ports on which ``runner`` calls one of the stack's load balancers (a URL in its environment)."""
    body = runner.body
    variables = body.get("environment", {})
    values = (
        list(variables.get("variables", {}).values())
        if runner.type == "aws_lambda_function"
        else [v.get("value") for v in _items(variables.get("environment_variable"))]
    )
    ports = set()
    for value in values:
        found = re.search(r"\$\{aws_lb\.[A-Za-z0-9_-]+\.dns_name\}:(\d+)", str(value))
        if found:
            ports.add(int(found[1]))
    return ports


def needless_internet_egress(stack: Stack, granted: Granted | None = None) -> Iterator[Resource]:
    """Egress rules to the internet that no call or client of the stack needs."""
    needed: set[tuple[str, int]] = set()
    for out in outbound(stack, granted):
        if _endpoint_of(stack, out) is None:
            needed.update((group, HTTPS) for group in out.site.groups)
    for key, path in ((k, p) for k in services_of(stack) for p in CALLS):
        role = Lookup(stack, key).at("aws_iam_role", path)
        for site in sites(stack, role) if role is not None else []:
            if site.runner.type == "aws_codebuild_project":
                needed.update((group, HTTPS) for group in site.groups)
            needed.update((group, port) for group in site.groups for port in _clients_of(stack, site.runner))
    for rule in stack.of_type("aws_vpc_security_group_egress_rule"):
        body = rule.body
        if body.get("cidr_ipv4") != INTERNET:
            continue
        ports = range(int(body.get("from_port", 0)), int(body.get("to_port", 65535)) + 1)
        if body.get("ip_protocol") == "-1" or any((body["security_group_id"], port) not in needed for port in ports):
            yield rule


# --- What an endpoint policy may allow ---

#: Actions the Service Authorization Reference gives no resource type: "*" is their only resource.
UNSCOPED_ACTIONS = frozenset({"ecr:GetAuthorizationToken"})
#: AWS-owned resources a call through an endpoint needs, by region, with the actions on them;
#: a signed URL reaches them, so no principal condition can apply.
AWS_OWNED_RESOURCES = {
    "arn:aws:s3:::prod-{region}-starport-layer-bucket/*": frozenset({"s3:GetObject"}),
}


def broad_endpoint_statements(stack: Stack) -> Iterator[str]:
    """What the VPC endpoints' policies allow beyond the stack's roles, the account's resources in
    the endpoint's region, and the AWS-owned resources listed above."""
    account = Lookup(stack).account()
    roles = {r.ref("arn") for r in stack.of_type("aws_iam_role")}
    for found in stack.of_type("aws_vpc_endpoint"):
        region = stack.region_of(found)
        if "policy" not in found.body:
            yield f"{found.path} has no policy: AWS's default allows every principal every action"
            continue
        for index, statement in enumerate(iam.statements(found.body["policy"])):
            if statement.get("Effect") != "Allow":
                continue
            where = f"{found.path} statement {statement.get('Sid', index)}"
            yield from (f"{where} {problem}" for problem in _broad(statement, region, account, roles))


def _named_bucket(resource: str) -> bool:
    """An S3 bucket's ARN, or of its keys under a prefix: no wildcard but a trailing one after ``/``."""
    found = re.fullmatch(r"arn:aws:s3:::([a-z0-9][a-z0-9.-]+)(/[^*?]*\*?)?", resource)
    return found is not None


def _broad(statement: dict[str, Any], region: str, account: str, roles: set[str]) -> Iterator[str]:
    actions = [str(a) for a in _items(statement.get("Action"))]
    resources = [str(r) for r in _items(statement.get("Resource"))]
    equals = statement.get("Condition", {}).get("StringEquals", {})
    owned = {pattern.format(region=region): allowed for pattern, allowed in AWS_OWNED_RESOURCES.items()}
    aws_owned = all(r in owned and set(actions) <= owned[r] for r in resources)
    if not actions or any("*" in a for a in actions):
        yield f"allows a wildcard action {actions}"
    principal = statement.get("Principal")
    anyone = principal == "*" or (isinstance(principal, dict) and "*" in _items(principal.get("AWS")))
    if anyone and equals.get("aws:PrincipalAccount") != account and not aws_owned:
        yield "admits any principal, not only the account's"
    if not anyone and not (isinstance(principal, dict) and set(_items(principal.get("AWS"))) <= roles):
        yield f"names principals that are not the stack's roles: {principal}"
    resource_account = {equals.get("s3:ResourceAccount"), equals.get("aws:ResourceAccount")}
    for resource in resources:
        if resource in owned:
            continue
        if not anyone and _named_bucket(resource) and equals.get("s3:ResourceAccount"):
            # A task's granted bucket (or key prefix) of the account the grant names, for that role only.
            continue
        if resource == "*":
            if not (set(actions) <= UNSCOPED_ACTIONS or account in resource_account):
                yield f"allows {actions} on every resource, not only the account's"
            continue
        in_region = resource.split(":")[3:4] == [region]
        if not in_region or not (resource.split(":")[4] == account or "*" not in resource):
            yield f"allows {resource}, outside the account's resources in {region}"


def namespaces_without_vpc_dns(stack: Stack) -> Iterator[str]:
    """Private DNS namespaces in a VPC that does not resolve them: Cloud Map answers through a
    Route 53 private hosted zone, and Route 53 resolves a private zone only in a VPC whose
    ``enableDnsSupport`` and ``enableDnsHostnames`` are both true. Neither API refuses the
    namespace otherwise; callers' lookups just fail.
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-considerations.html
    """
    for namespace in stack.of_type("aws_service_discovery_private_dns_namespace"):
        vpc = iam.target(stack, namespace.body.get("vpc"))
        if vpc is None or vpc.type != "aws_vpc":
            yield f"{namespace.path}: its VPC is not one of the stack's, so its DNS settings cannot be read"
            continue
        off = [a for a in ("enable_dns_support", "enable_dns_hostnames") if vpc.body.get(a) is not True]
        if off:
            yield f"{namespace.path}: {vpc.path} does not set {' and '.join(off)}, so nothing in it resolves the names"
