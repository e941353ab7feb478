"""Place every resource under a construct in another region, through that region's provider.

Constructs build the same resources in either region; which provider (and so which region) a
resource uses is decided once for a whole subtree, so no construct takes a provider argument.
This is the one place that knows how cdktf assigns providers (an aspect, run at synthesis).
"""

from __future__ import annotations

from typing import Any

import jsii
from cdktf import Aspects, IAspect, TerraformDataSource, TerraformProvider, TerraformResource
from constructs import Construct, IConstruct


@jsii.implements(IAspect)
class _UseProvider:
    def __init__(self, provider: TerraformProvider) -> None:
        self.provider = provider

    def visit(self, node: IConstruct) -> None:
        element: Any = node
        if isinstance(element, TerraformResource | TerraformDataSource) and element.provider is None:
            element.provider = self.provider


def in_region_of(scope: Construct, provider: TerraformProvider) -> Construct:
    """Every resource and data source created under ``scope`` uses ``provider``."""
    Aspects.of(scope).add(_UseProvider(provider))
    return scope
