"""moto defects that stop the real AWS provider; each patch restores one documented AWS behaviour."""

from __future__ import annotations

from collections.abc import Callable

PATCHES: list[Callable[[], None]] = []


def patch(function: Callable[[], None]) -> Callable[[], None]:
    PATCHES.append(function)
    return function


def apply_all() -> list[str]:
    for function in PATCHES:
        function()
    return [function.__name__ for function in PATCHES]
