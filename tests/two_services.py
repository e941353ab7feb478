"""A two-service stack for the operator tools' tests, made from a synthesized single-service one.

Synthesis of several services is not there yet (issue 15, modules/): until it is, the tools are
tested on a copy of a shipped stack in which every resource of the service keyed app (in both
regions) is copied to a second service, ids, references and construct paths renamed as cdktf
would place them (``services/<key>/...``), and the copy routed as modules/load_balancer.py routes
a service that is not the listener's default: a rule on each listener, matching its host and paths
on production and its key in a header on test.
"""

from __future__ import annotations

import copy
import json
from typing import Any

#: The header a non-default service's test-listener rule matches (modules/load_balancer.py).
TEST_ROUTE_HEADER = "X-Bluegreen-Service"


def _renamed(body: dict[str, Any], key: str) -> dict[str, Any]:
    text = json.dumps(body).replace("services_app_", f"services_{key}_").replace("services/app/", f"services/{key}/")
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def _id(document: dict[str, Any], resource_type: str, path: str) -> str:
    """The id of the resource at ``path`` below the stack."""
    stack = document["//"]["metadata"]["stackName"]
    (found,) = [
        i for i, b in document["resource"][resource_type].items() if b["//"]["metadata"]["path"] == f"{stack}/{path}"
    ]
    return found


def _rule(document: dict[str, Any], key: str, name: str, colour: str, priority: int, condition: Any) -> Any:
    stack = document["//"]["metadata"]["stackName"]
    listener = _id(document, "aws_lb_listener", f"load_balancer/{name}_listener")
    target = _id(document, "aws_lb_target_group", f"services/{key}/route/{colour}")
    return {
        "//": {"metadata": {"path": f"{stack}/services/{key}/route/{name}_rule", "uniqueId": f"{key}_{name}_rule"}},
        "listener_arn": f"${{aws_lb_listener.{listener}.arn}}",
        "priority": priority,
        "condition": condition,
        "action": [{"type": "forward", "target_group_arn": f"${{aws_lb_target_group.{target}.arn}}"}],
        "lifecycle": {"ignore_changes": ["action"]},
    }


def with_second_service(
    document: dict[str, Any], key: str = "api", host: str = "api.example.com", paths: tuple[str, ...] = ("/v1/*",)
) -> dict[str, Any]:
    """``document`` with a second service ``key`` beside app, routed by ``host`` and ``paths``."""
    result = copy.deepcopy(document)
    for resource_type, bodies in document["resource"].items():
        for identifier, body in bodies.items():
            if "services_app_" in identifier:
                copied = identifier.replace("services_app_", f"services_{key}_")
                result["resource"][resource_type][copied] = _renamed(body, key)
    production = [{"host_header": {"values": [host]}}, {"path_pattern": {"values": list(paths)}}]
    test = [{"http_header": {"http_header_name": TEST_ROUTE_HEADER, "values": [key]}}]
    rules = result["resource"].setdefault("aws_lb_listener_rule", {})
    rules[f"services_{key}_route_prod_rule"] = _rule(result, key, "prod", "blue", 10, production)
    rules[f"services_{key}_route_test_rule"] = _rule(result, key, "test", "green", 10, test)
    return result
