"""Aurora PostgreSQL engine versions and instance classes, from config/data/aurora_postgresql.json.

The table says where it comes from and when it was compiled; a value AWS added since is refused
with the nearest known one, and the message says where to add it.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "data" / "aurora_postgresql.json"


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TABLE.read_text())
    return data


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def versions() -> list[str]:
    """Every version a config may name: a major alone (AWS picks its default minor) or an exact one."""
    return [*majors(), *(v for minors in _data()["engine_versions"].values() for v in minors)]


def majors() -> list[str]:
    return list(_data()["engine_versions"])


def effective(version: str) -> str:
    """The exact version a check compares: a major alone stands for its newest known minor
    (AWS creates new clusters on a current default minor, never one older than the table's)."""
    minors: list[str] = _data()["engine_versions"].get(version, [])
    return max(minors, key=version_key) if "." not in version and minors else version


def instance_classes() -> list[str]:
    return [f"{family}.{size}" for family, sizes in _data()["instance_classes"].items() for size in sizes]


def compiled() -> str:
    date: str = _data()["compiled"]
    return date


def nearest(value: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def nearest_version(value: str) -> str:
    """The closest known version: the same major's nearest minor when the major is known."""
    known = [v for v in versions() if "." in v]
    major = value.split(".")[0]
    same_major = [v for v in known if v.split(".")[0] == major]
    try:
        wanted = version_key(value)
    except ValueError:
        wanted = None
    if same_major and wanted is not None and len(wanted) > 1:
        return min(same_major, key=lambda v: (abs(version_key(v)[1] - wanted[1]), version_key(v)))
    if same_major:
        return max(same_major, key=version_key)
    return nearest(value, known) or known[-1]


def _since(table: str, version: str) -> str | None:
    since: str | None = _data()[table].get(version.split(".")[0])
    return since


def auto_pause_since(version: str) -> str | None:
    """The first minor of ``version``'s major that pauses at 0 ACU (None: none of it does)."""
    return _since("auto_pause_since", version)


def max_acu_256_since(version: str) -> str | None:
    """The first minor of ``version``'s major that scales to 256 ACUs (earlier ones stop at 128)."""
    return _since("max_acu_256_since", version)
