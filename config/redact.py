"""Values a message must never print back: anything that looks like a secret.

A config should hold no secret at all (they belong in Secrets Manager), but when someone puts
one in, the error that refuses it must not copy it into a terminal, a CI log or a ticket. A
value is withheld when the key it sits under names a secret, or when the value itself has the
shape of a credential.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

#: Key names that say "secret" (environment variables, tags, unknown keys alike).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|PRIVATE_?KEY|ACCESS_?KEY|API_?KEY|CREDENTIAL", re.I)
_SHAPES = (
    re.compile(r"\b(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # a URL with user:password@
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abpr]-[A-Za-z0-9-]{10,})\b"),
)
#: A long unbroken run of characters with the spread of random bytes (a token, a key).
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
WITHHELD = "a value that looks secret, not shown"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_secret_text(text: str) -> bool:
    if any(shape.search(text) for shape in _SHAPES):
        return True
    return any(
        _entropy(token) > 4.3 and re.search(r"\d", token) and re.search(r"[A-Za-z]", token)
        for token in _TOKEN.findall(text)
    )


def looks_secret(value: Any, path: Sequence[str | int] = ()) -> bool:
    """Whether ``value`` (found at ``path``) must be withheld from messages."""
    if any(isinstance(part, str) and SECRET_NAME.search(part) for part in path):
        return not (value is None or isinstance(value, bool))
    if isinstance(value, str):
        return looks_secret_text(value)
    if isinstance(value, dict):
        return any(looks_secret(v, (*path, str(k))) or looks_secret(str(k)) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(looks_secret(v, path) for v in value)
    return False
