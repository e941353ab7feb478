"""Ordering that no reference carries: the one way a construct waits for another resource.

Terraform orders API calls only by references and ``depends_on``. Some prerequisites AWS checks
at create time are not references (a VPC Lambda's role must already allow network interfaces;
an ALB test-writes its access-log bucket): the consumer then depends on them explicitly. On
destroy the order reverses, so the prerequisite also outlives its consumer.
"""

from __future__ import annotations

from cdktf import TerraformResource


def after(resource: TerraformResource, *prerequisites: TerraformResource) -> None:
    """Create ``resource`` only once every prerequisite exists.

    Written as cdktf writes a constructor's ``depends_on`` (``type.name``, no interpolation).
    """
    addresses = [f"{p.terraform_resource_type}.{p.friendly_unique_id}" for p in prerequisites]
    resource.depends_on = [*(resource.depends_on or []), *addresses]
