"""Reading IAM in a synthesized stack: a role's policies, and what a policy document allows.

A deliberately small evaluator: Allow statements only (the stacks use no Deny but the TLS-only
bucket statements), actions and resources matched with IAM's ``*`` and ``?`` wildcards,
conditions not evaluated. Resources may be Terraform references (``${aws_x.y.arn}``); they are
compared as text, so a statement scoped to a reference allows exactly that reference.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from aws_rules.stack import REFERENCE, Resource, Stack

#: Inline and managed role policies.
ROLE_POLICY = "aws_iam_role_policy"
ROLE_POLICY_ATTACHMENT = "aws_iam_role_policy_attachment"
CUSTOMER_POLICY = "aws_iam_policy"


def target(stack: Stack, value: Any) -> Resource | None:
    """The resource a whole-string reference ``${aws_x.y.attr}`` points at."""
    found = REFERENCE.match(value) if isinstance(value, str) else None
    return stack.resources.get(f"{found[1]}.{found[2]}") if found else None


def refers_to(value: Any, resource: Resource) -> bool:
    """Whether ``value`` is a reference to ``resource`` (any attribute)."""
    return isinstance(value, str) and value.startswith(f"${{{resource.address}.")


def role_policies(stack: Stack, role: Resource) -> list[Resource]:
    """Inline policies and managed policy attachments of a role."""
    return [
        r
        for resource_type in (ROLE_POLICY, ROLE_POLICY_ATTACHMENT)
        for r in stack.of_type(resource_type)
        if refers_to(r.body.get("role"), role)
    ]


def documents(stack: Stack, role: Resource) -> list[str]:
    """The permission documents of a role: its inline policies, and the customer managed policies
    of the stack attached to it (AWS-managed ones are not in the stack; ``managed`` finds those)."""
    found = []
    for policy in role_policies(stack, role):
        if policy.type == ROLE_POLICY:
            found.append(policy.body["policy"])
        else:
            attached = target(stack, policy.body.get("policy_arn"))
            if attached is not None and attached.type == CUSTOMER_POLICY:
                found.append(attached.body["policy"])
    return found


def literal(stack: Stack, text: str) -> str:
    """``text`` with each reference to an argument the stack sets literally replaced by its value
    (``${aws_x.y.name}`` -> the name written in aws_x.y), so the same thing matches either way."""

    def value(match: re.Match[str], depth: int = 0) -> str:
        resource = stack.resources.get(f"{match[1]}.{match[2]}")
        found = resource.body.get(match[3]) if resource else None
        if isinstance(found, str) and "${" not in found:
            return found
        inner = _ATTRIBUTE.fullmatch(found) if isinstance(found, str) and depth < 5 else None
        return value(inner, depth + 1) if inner else match[0]  # a reference to a reference

    return _ATTRIBUTE.sub(value, text)


_ATTRIBUTE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    data = json.loads(document) if isinstance(document, str) else document
    found = data.get("Statement", [])
    return found if isinstance(found, list) else [found]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's wildcards only: ``*`` and ``?`` (brackets, as in ``secret[0]``, are literal)."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def allows(document: str | dict[str, Any], action: str, resource: str | None = None) -> bool:
    """Whether an Allow statement grants ``action`` (on ``resource``, when given)."""
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if not any(matches(a, action, case_sensitive=False) for a in _as_list(statement.get("Action", []))):
            continue
        if resource is None or any(
            matches(r, resource, case_sensitive=True) for r in _as_list(statement.get("Resource", []))
        ):
            return True
    return False


def allowing(policies: Iterable[Resource], actions: Iterable[str], on: Resource | None = None) -> Iterator[Resource]:
    """The inline policies among ``policies`` that allow every one of ``actions`` (on a resource
    whose ARN mentions ``on``, when given)."""
    wanted = list(actions)
    for policy in policies:
        if policy.type == ROLE_POLICY and all(_allows_on(policy.body["policy"], a, on) for a in wanted):
            yield policy


def _allows_on(document: str, action: str, on: Resource | None) -> bool:
    if on is None:
        return allows(document, action)
    mention = f"${{{on.address}."
    return any(
        allows({"Statement": [dict(s, Resource=[r for r in _as_list(s.get("Resource", [])) if mention in r])]}, action)
        for s in statements(document)
        if any(mention in r for r in _as_list(s.get("Resource", [])))
    )


def json_document(text: Any) -> Any:
    """A JSON document held in a string argument (container definitions, policies)."""
    return json.loads(text) if isinstance(text, str) else text


def managed(policies: Iterable[Resource], policy_name: str) -> Iterator[Resource]:
    """The attachments among ``policies`` of the AWS-managed policy named ``policy_name``."""
    for policy in policies:
        if policy.type == ROLE_POLICY_ATTACHMENT and str(policy.body.get("policy_arn", "")).endswith(f"/{policy_name}"):
            yield policy


def principals(statement: dict[str, Any]) -> set[str]:
    """Every principal a (resource policy) statement names, as text."""
    principal = statement.get("Principal", {})
    if isinstance(principal, str):
        return {principal}
    return {str(p) for values in principal.values() for p in _as_list(values)}
