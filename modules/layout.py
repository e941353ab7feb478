"""Where constructs live in the stack, and where the service keyed app lived before services.

A Terraform address is the resource type and a logical id cdktf derives from the construct path.
Each service is built under ``services/<key>``; the environment's shared pieces at the top (and
the DR region's under ``dr``). A single-service environment built before that layout had the
service's constructs at the top: for the service keyed ``app``, every resource whose path changed
gets a ``moved`` block from the address it had (modules/moves.py), so an existing environment
moves state instead of replacing infrastructure. A ``moved`` block whose source address is not
in the state does nothing, so every stack carries them.

This module knows cdktf's logical id rule (``logical_id``); tests/test_layout.py holds it to every
id of the synthesized stacks.
"""

from __future__ import annotations

import hashlib
import re

from cdktf import TerraformResource, TerraformStack
from constructs import Construct

from config.naming import LEGACY_SERVICE
from modules.moves import moved_from

SERVICES = "services"
DR = "dr"

#: New path prefix -> the path prefix the same construct had before services had their own scope
#: (first match wins). Only the service keyed app, and the platform pieces it used to own, moved.
LEGACY_PREFIXES: tuple[tuple[str, str], ...] = (
    # The cluster is the environment's; it was built inside the service's construct.
    ("cluster/", "ecs/"),
    (f"{DR}/cluster/", f"{DR}/ecs/"),
    # One source connection for every pipeline; it was the pipeline's.
    ("source/connection", "codepipeline/connection"),
    # The service's target groups and rules were the load balancer's.
    (f"{SERVICES}/{LEGACY_SERVICE}/route/", "load_balancer/"),
    (f"{DR}/{SERVICES}/{LEGACY_SERVICE}/route/", f"{DR}/load_balancer/"),
    (f"{DR}/{SERVICES}/{LEGACY_SERVICE}/", f"{DR}/"),
    (f"{SERVICES}/{LEGACY_SERVICE}/", ""),
)


#: Earlier moves of the single-service stack, chained before the layout's: a stack applied before
#: them moves twice in one plan (Terraform follows a chain of ``moved`` blocks). The app's own error
#: count lived under the pipeline's construct until it had its own.
EARLIER_MOVES: tuple[tuple[str, str], ...] = (
    ("app_errors/app_5xx_filter", "codepipeline/app_5xx_filter"),
    ("app_errors/app_5xx", "codepipeline/app_5xx"),
)


def legacy_path(path: str) -> str | None:
    """The construct path (below the stack) that ``path`` had in a single-service stack, if it moved."""
    for new, old in LEGACY_PREFIXES:
        if path.startswith(new):
            moved = old + path[len(new) :]
            return moved if moved != path else None
    return None


def logical_id(path: str) -> str:
    """cdktf's logical id of a resource at ``path`` (below the stack): the path's components
    joined by "_", each dropped where the previous one already ends with it, and the first 8 hex
    digits of the MD5 of the whole path; a top-level resource keeps its construct id."""
    components = path.split("/")
    if len(components) == 1:
        return components[0]
    digest = hashlib.md5("/".join(components).encode()).hexdigest()[:8].upper()  # noqa: S324 - cdktf's id rule
    kept: list[str] = []
    for component in components:
        if not kept or not kept[-1].endswith(component):
            kept.append(component)
    human = "_".join(re.sub(r"[^A-Za-z0-9_-]", "", component) for component in kept)
    return f"{human}_{digest}"


def service_scope(stack: Construct, key: str) -> Construct:
    """Where a service's constructs go: ``services/<key>`` (created on first use)."""
    found = stack.node.try_find_child(SERVICES)
    services = found if isinstance(found, Construct) else Construct(stack, SERVICES)
    own = services.node.try_find_child(key)
    return own if isinstance(own, Construct) else Construct(services, key)


def move_legacy_addresses(stack: TerraformStack) -> int:
    """A moved block for every resource whose address a single-service stack had elsewhere."""
    count = 0
    chain: list[dict[str, str]] = []
    for node in stack.node.find_all():
        if not isinstance(node, TerraformResource):
            continue
        path = node.node.path.split("/", 1)[1]
        old = legacy_path(path)
        if old is not None:
            moved_from(node, f"{node.terraform_resource_type}.{logical_id(old)}")
            count += 1
            earlier = dict(EARLIER_MOVES).get(old)
            if earlier is not None:
                kind = node.terraform_resource_type
                chain.append({"from": f"{kind}.{logical_id(earlier)}", "to": f"{kind}.{logical_id(old)}"})
    if chain:
        # Blocks whose target is itself moved on: no resource has that address, so they go in as
        # one stack override (a second override of the same key would replace the first).
        stack.add_override("moved", chain)
    return count + len(chain)
