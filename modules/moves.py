"""Renamed construct paths keep their infrastructure: Terraform ``moved`` blocks.

A construct that moves to another path gets another Terraform address. Without a ``moved`` block,
Terraform plans a create at the new address and a destroy at the old one, in no fixed order;
for a resource whose AWS name stays the same (a metric filter, an alarm: Put* calls that upsert
by name), the destroy can run last and delete what the create just wrote.
"""

from __future__ import annotations

from cdktf import TerraformResource


def moved_from(resource: TerraformResource, old_address: str) -> None:
    """State at ``old_address`` (``type.logical_id``, as a snapshot shows it) becomes ``resource``'s."""
    resource.move_from_id(old_address)
