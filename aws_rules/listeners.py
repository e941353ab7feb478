"""Plain HTTP stays inside the VPC: every target group that speaks HTTP to its tasks is forwarded to
only from listeners that terminate TLS, through their default action or a rule.

This is the property checkov's CKV_AWS_378 means, which .checkov.yaml skips: its graph connects a
target group to the listeners whose default action names it, never to a listener rule, so every
service routed by a host or path rule (several services on one listener) failed it although only
the HTTPS listener reaches it. Port 80's listener answers with a redirect, so it forwards nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_rules.stack import REFERENCE, Resource, Stack

#: Listener protocols that end TLS at the load balancer.
TLS = ("HTTPS", "TLS")


@dataclass(frozen=True)
class PlainRoute:
    target_group: str
    problem: str

    def __str__(self) -> str:
        return f"{self.target_group}: {self.problem}"


def _forwarded(actions: list[dict[str, Any]]) -> set[str]:
    """Addresses of the target groups ``actions`` forward to (plain or weighted)."""
    found = set()
    for action in actions:
        texts = [str(action.get("target_group_arn", ""))]
        for forward in action.get("forward") or []:
            texts += [str(g.get("arn", "")) for g in forward.get("target_group") or []]
        found |= {f"{t}.{n}" for text in texts for t, n in REFERENCE.findall(text) if t == "aws_lb_target_group"}
    return found


def forwarders(stack: Stack) -> dict[str, set[str]]:
    """Target group address -> the listeners that forward to it, directly or through their rules."""
    found: dict[str, set[str]] = {}
    for listener in stack.of_type("aws_lb_listener"):
        for group in _forwarded(listener.body.get("default_action") or []):
            found.setdefault(group, set()).add(listener.address)
    for rule in stack.of_type("aws_lb_listener_rule"):
        (owner,) = [f"{t}.{n}" for t, n in REFERENCE.findall(str(rule.body.get("listener_arn", "")))]
        for group in _forwarded(rule.body.get("action") or []):
            found.setdefault(group, set()).add(owner)
    return found


def plain_routes(stack: Stack) -> Iterator[PlainRoute]:
    """HTTP target groups that a listener without TLS forwards to, or that nothing forwards to."""
    reached = forwarders(stack)
    for group in stack.of_type("aws_lb_target_group"):
        if group.body.get("protocol") != "HTTP":
            continue
        listeners: list[Resource] = [stack.resources[a] for a in sorted(reached.get(group.address, set()))]
        if not listeners:
            yield PlainRoute(group.path, "no listener forwards to it (nothing shows it is behind TLS)")
        for listener in listeners:
            if listener.body.get("protocol") not in TLS:
                yield PlainRoute(group.path, f"{listener.path} forwards to it over {listener.body.get('protocol')}")
