"""A module's settings, read from its config section by field name: a new knob needs no wiring.

A settings type is a frozen dataclass whose fields are named and typed as in the config section
(config/schema.py) it comes from; ``from_section`` copies them. Fields the stack derives rather
than reads (a reference, a converted value) are passed in. tests/test_settings.py holds every
settings type to its section: same names, same types, and no section field that nothing reads.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


def from_section(settings: type[T], section: BaseModel, **derived: Any) -> T:
    """``settings`` with each field read from ``section`` by name, except those given as ``derived``."""
    read = {f.name: getattr(section, f.name) for f in fields(settings) if f.name not in derived}  # type: ignore[arg-type]
    return settings(**read, **derived)
