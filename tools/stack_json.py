"""Reading a synthesized stack: where each resource's construct sits, in which region, and of
which service.

modules/stack.py builds the DR region's resources under the construct ``dr`` (a second provider),
each service's under ``services/<key>`` (``dr/services/<key>`` in the DR region), and what the
environment shares at the top (modules/layout.py). Every other resource is in the primary region.
"""

from __future__ import annotations

from typing import Any

DR_SCOPE = "dr"
SERVICES_SCOPE = "services"

#: Resources by type and id, as the stack's "resource" holds them.
Resources = dict[str, dict[str, dict[str, Any]]]


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


def service_of(body: dict[str, Any]) -> str | None:
    """The key of the service the resource belongs to (in either region), or None: the platform's."""
    parts = construct_path(body).split("/")
    if parts[0] == DR_SCOPE:
        parts = parts[1:]
    return parts[1] if len(parts) > 2 and parts[0] == SERVICES_SCOPE else None


def service_keys(document: dict[str, Any]) -> list[str]:
    """The keys of the stack's services, sorted."""
    return sorted(
        {key for bodies in document["resource"].values() for body in bodies.values() if (key := service_of(body))}
    )


def pick_service(document: dict[str, Any], key: str | None) -> str:
    """The service a tool reads: ``key``, or the stack's only one. Raises ValueError with the fix."""
    keys = service_keys(document)
    if key is None and len(keys) == 1:
        return keys[0]
    if key is None:
        raise ValueError(f"the stack has several services ({', '.join(keys)}): name one with SERVICE=<key>")
    if key not in keys:
        raise ValueError(f"the stack has no service {key!r}; its services: {', '.join(keys) or 'none'}")
    return key


def service_resources(document: dict[str, Any], key: str) -> Resources:
    """The service's resources in the primary region, by type and id (releases run there)."""
    prefix = f"{SERVICES_SCOPE}/{key}/"
    resources = {
        resource_type: {k: body for k, body in bodies.items() if construct_path(body).startswith(prefix)}
        for resource_type, bodies in document["resource"].items()
    }
    return {t: r for t, r in resources.items() if r}


def at(resources: Resources, resource_type: str, path: str) -> dict[str, Any] | None:
    """The resource of ``resources`` (one service's) whose construct path ends with ``/path``."""
    found = [b for b in resources.get(resource_type, {}).values() if construct_path(b).endswith(f"/{path}")]
    if len(found) > 1:
        raise ValueError(f"expected at most one {resource_type} {path}, found {len(found)}")
    return found[0] if found else None


def addresses_by_service(document: dict[str, Any]) -> dict[str, str | None]:
    """Every resource's Terraform address (as plans name it) -> its service's key, or None."""
    return {
        f"{resource_type}.{k}": service_of(body)
        for resource_type, bodies in document["resource"].items()
        for k, body in bodies.items()
    }
