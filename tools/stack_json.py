"""Reading a synthesized stack: where each resource's construct sits, and in which region.

modules/stack.py builds the DR region's resources under the construct ``dr`` (a second provider);
every other resource is in the primary region.
"""

from __future__ import annotations

from typing import Any

DR_SCOPE = "dr"


def construct_path(body: dict[str, Any]) -> str:
    """The resource's construct path below the stack, e.g. 'load_balancer/green'."""
    path: str = body["//"]["metadata"]["path"]
    return path.split("/", 1)[1]


def in_dr_region(body: dict[str, Any]) -> bool:
    return construct_path(body).startswith(f"{DR_SCOPE}/")


def primary_region(document: dict[str, Any]) -> dict[str, Any]:
    """The stack without the DR region's resources."""
    resources = {
        resource_type: {key: body for key, body in bodies.items() if not in_dr_region(body)}
        for resource_type, bodies in document["resource"].items()
    }
    return {**document, "resource": {t: r for t, r in resources.items() if r}}
