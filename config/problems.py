"""One validation problem, and the error that carries all of them.

Every message a user sees has the same shape, so it can be read (and grepped) the same way:
``file: key.path: what is wrong (got VALUE); how to fix``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from config.redact import WITHHELD, looks_secret

_NOTHING = object()


@dataclass(frozen=True)
class Problem:
    """A rule a config value breaks: where, what, the value received, and the fix."""

    path: tuple[str | int, ...]
    message: str
    fix: str
    got: Any = _NOTHING

    def under(self, prefix: Sequence[str | int]) -> Problem:
        """The same problem, with its path made absolute under ``prefix``."""
        return Problem(tuple(prefix) + self.path, self.message, self.fix, self.got)

    def render(self, source: str) -> str:
        where = ".".join(_key(part) for part in self.path) or "(top level)"
        message, fix = self.message, self.fix
        if self.got is _NOTHING:
            got = ""
        elif looks_secret(self.got, self.path):
            # Never copy a secret into a terminal, a CI log or a ticket, not even inside the fix.
            got = f" (got {WITHHELD})"
            for text in _texts(self.got):
                message, fix = message.replace(text, "<withheld>"), fix.replace(text, "<withheld>")
        else:
            got = f" (got {_show(self.got)})"
        return f"{source}: {where}: {message}{got}; {fix}"


def _texts(value: Any) -> list[str]:
    """Every text value inside a value (not its keys, which are names), longest first."""
    if isinstance(value, dict):
        found = [t for v in value.values() for t in _texts(v)]
    elif isinstance(value, list | tuple | set | frozenset):
        found = [t for v in value for t in _texts(v)]
    else:
        found = [str(value)] if isinstance(value, str) and len(value) >= 4 else []
    return sorted(set(found), key=len, reverse=True)


def _key(part: str | int) -> str:
    """A key path part as typed, quoted when it would not read back as one (empty, dots, control chars)."""
    text = str(part)
    plain = text and text.isprintable() and not any(c in text for c in ". \t")
    return text if plain else repr(text)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(Exception):
    """Raised for unusable configs; holds every problem found (in every file), not just the first."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.entries: tuple[tuple[str, Problem], ...] = tuple((source, p) for p in problems)
        super().__init__(self.render())

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(problem for _, problem in self.entries)

    @classmethod
    def merge(cls, errors: Iterable[ConfigError]) -> ConfigError:
        merged = cls("", [])
        merged.entries = tuple(entry for error in errors for entry in error.entries)
        merged.args = (merged.render(),)
        return merged

    def render(self) -> str:
        return "\n".join(problem.render(source) for source, problem in self.entries)


RULE_ERROR_TYPE = "config_rule"


def raise_if_any(problems: Iterable[Problem]) -> None:
    """Raise the problems of one model's cross-field rules so Pydantic reports them with the rest.

    Pydantic keeps ``ctx`` on the error, so the loader can recover each problem's own path
    instead of a single message at the model's location.
    """
    found = list(problems)
    if found:
        raise PydanticCustomError(
            RULE_ERROR_TYPE,
            "; ".join(p.message for p in found),
            {"problems": found},
        )
