"""Review habit: what changed in a stack's Terraform JSON against its committed snapshot.

    make diff-json ENV=prod      # resource by resource: added, removed, changed (with the keys)
    make snapshot ENV=prod       # the only way snapshots change: explicitly, then review the git diff

Snapshots live in snapshots/<stack>.json, normalised (sorted keys, no cdktf metadata, asset
paths and hashes kept) so the diff shows infrastructure, not noise.

A resource whose address changed is shown as moved (``>``) when a ``moved`` block carries its
state over. A resource removed at one address and added at another with the same AWS name is
flagged (``!``): Terraform would create the new one and destroy the old one in no fixed order,
and for APIs that upsert by name (alarms, metric filters, log groups) the destroy can delete what
the create wrote. Add a moved block (modules/moves.py) for it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from aws_rules.ordering import IDENTITY

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "snapshots"


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The stack without cdktf's bookkeeping ("//" metadata), so only infrastructure remains."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "//"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    result: dict[str, Any] = strip(document)
    return result


def resources(document: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{resource_type}.{name}": body
        for resource_type, bodies in document.get("resource", {}).items()
        for name, body in bodies.items()
    }


def changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        keys: list[str] = []
        for key in sorted(set(before) | set(after)):
            keys += changed_keys(before.get(key), after.get(key), f"{prefix}{key}.")
        return keys
    return [] if before == after else [prefix.rstrip(".")]


def moves(document: dict[str, Any]) -> dict[str, str]:
    """The document's moved blocks: new address → old address."""
    return {m["to"]: m["from"] for m in document.get("moved", [])}


def _aws_name(address: str, body: dict[str, Any]) -> tuple[str, str] | None:
    attribute = IDENTITY.get(address.split(".", 1)[0])
    value = body.get(attribute) if attribute else None
    return (address.split(".", 1)[0], value) if isinstance(value, str) and "${" not in value else None


def replaced_by_name(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    """(old, new) addresses of one AWS name that the change removes at one and adds at the other,
    without a moved block between them."""
    old, new = resources(normalise(before)), resources(normalise(after))
    moved = moves(after)
    removed = {
        name: address
        for address in set(old) - set(new) - set(moved.values())
        if (name := _aws_name(address, old[address]))
    }
    return sorted(
        (removed[name], address)
        for address in set(new) - set(old) - set(moved)
        if (name := _aws_name(address, new[address])) in removed
    )


def _as_before(value: Any, renames: dict[str, str]) -> Any:
    """``value`` with each moved resource's address written as it was before the move, so that a
    reference that only followed its resource to its new address is not a change."""
    if isinstance(value, dict):
        return {k: _as_before(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_before(v, renames) for v in value]
    if isinstance(value, str) and renames:
        return _ADDRESS.sub(lambda m: renames.get(m[0], m[0]), value)
    return value


_ADDRESS = re.compile(r"\baws_[a-z0-9_]+\.[A-Za-z0-9_-]+")


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old, new = resources(normalise(before)), resources(normalise(after))
    moved = {to: origin for to, origin in moves(after).items() if to in new and origin in old}
    new = {address: _as_before(body, moved) for address, body in new.items()}
    lines = [f"+ {address}" for address in sorted(set(new) - set(old) - set(moved))]
    lines += [f"- {address}" for address in sorted(set(old) - set(new) - set(moved.values()))]
    for to, origin in sorted(moved.items()):
        keys = changed_keys(old[origin], new[to])
        lines.append(f"> {origin} -> {to}" + (f": {', '.join(keys)}" if keys else ""))
    for origin, to in replaced_by_name(before, after):
        lines.append(f"! {origin} -> {to}: one AWS name, no moved block (modules/moves.py)")
    for address in sorted(set(old) & set(new)):
        keys = changed_keys(old[address], new[address])
        if keys:
            lines.append(f"~ {address}: {', '.join(keys)}")
    for section in ("provider", "terraform", "output", "moved"):
        if normalise(before).get(section) != _as_before(normalise(after).get(section), moved):
            lines.append(f"~ {section}")
    return lines


def snapshot_path(stack: str) -> Path:
    return SNAPSHOTS / f"{stack}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_json", type=Path, help="cdktf.out/stacks/<stack>/cdk.tf.json")
    parser.add_argument("--update", action="store_true", help="write the snapshot instead of diffing")
    args = parser.parse_args(argv)
    current = json.loads(args.stack_json.read_text())
    target = snapshot_path(args.stack_json.parent.name)
    if args.update:
        SNAPSHOTS.mkdir(exist_ok=True)
        target.write_text(json.dumps(normalise(current), indent=1, sort_keys=True) + "\n")
        print(f"wrote {target.relative_to(ROOT)}: review it with git diff before committing")
        return 0
    if not target.exists():
        print(f"no snapshot {target.relative_to(ROOT)}: create it with make snapshot", file=sys.stderr)
        return 2
    lines = diff(json.loads(target.read_text()), current)
    print("\n".join(lines) if lines else "no changes against the snapshot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
