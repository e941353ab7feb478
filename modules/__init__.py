"""The constructs that make up one environment's stack; ``stack.py`` wires them together.

Importing this package first installs the lazy AWS provider loader (see ``_provider``), so the
modules below can import only the provider submodules they use.
"""

from modules import _provider

_provider.install()
