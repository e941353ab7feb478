"""AWS regions, their partitions and zones, from the table shipped in config/data/regions.json.

The table says where each fact comes from and when it was compiled. A region AWS opened after
that date is refused until it is added there (the message says so).
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "regions.json"


@dataclass(frozen=True)
class Region:
    name: str
    partition: str
    title: str
    #: Zone letters of the region's AZ names, as new accounts see them (e.g. "a", "c", "d").
    zone_letters: tuple[str, ...]
    zone_ids: tuple[str, ...]
    #: Which letters an account sees differs between accounts (AWS maps names per account).
    zones_vary_by_account: bool = False

    @property
    def az_count(self) -> int:
        return len(self.zone_ids)

    def default_zones(self, count: int) -> tuple[str, ...]:
        return tuple(f"{self.name}{letter}" for letter in self.zone_letters[:count])

    @property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}{letter}" for letter in self.zone_letters)


@functools.cache
def table() -> dict[str, Region]:
    data = json.loads(TABLE.read_text())
    return {
        name: Region(
            name=name,
            partition=entry["partition"],
            title=entry["name"],
            zone_letters=tuple(entry["zones"]),
            zone_ids=tuple(entry["zone_ids"]),
            zones_vary_by_account=entry.get("zones_vary_by_account", False),
        )
        for name, entry in data["regions"].items()
    }


def compiled() -> str:
    """When the table was compiled (its data's date)."""
    date: str = json.loads(TABLE.read_text())["compiled"]
    return date


def get(name: str) -> Region | None:
    return table().get(name)


def nearest(name: str) -> str | None:
    """The known region closest in spelling to ``name``."""
    close = difflib.get_close_matches(str(name).lower().strip(), list(table()), n=1, cutoff=0.5)
    return close[0] if close else None


def partition_of(name: str) -> str:
    """The partition of a known region; for others, the one its prefix implies."""
    region = get(name)
    if region is not None:
        return region.partition
    if name.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if name.startswith("us-gov-") else "aws"


def unknown_region_fix(name: object) -> str:
    close = nearest(str(name))
    hint = f"did you mean {close!r}? " if close else ""
    return (
        f"{hint}use an AWS region such as eu-west-1 (the list, compiled {compiled()}, is "
        "config/data/regions.json; add a region AWS opened since)"
    )
