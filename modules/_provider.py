"""Import the prebuilt AWS provider bindings without their 10-second package ``__init__``.

``cdktf_cdktf_provider_aws/__init__.py`` imports all ~2,200 resource submodules (10-14 s and
1.2 GB). Each submodule only needs the package's ``_jsii`` assembly, so registering the package
without executing its ``__init__`` and importing submodules on demand synthesizes byte-identical
JSON in a fraction of the time. This is the only cdktf-provider-specific loading code; moving to
another binding (e.g. CDK Terrain's) means changing this file.
"""

from __future__ import annotations

import importlib.util
import os
import sys

PACKAGE = "cdktf_cdktf_provider_aws"


def silence_node_banner() -> None:
    # jsii prints a large end-of-life banner on every run under Node 20. CDKTF is archived and
    # pinned, so users cannot act on it; it would only bury real output. Set before jsii starts.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def install() -> None:
    """Register the provider package as an empty namespace over its real folder (idempotent)."""
    silence_node_banner()
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{PACKAGE} is not installed; run `make venv`")
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
