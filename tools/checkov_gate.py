"""The checkov gate over synthesized stacks, failing when checkov could not read a stack.

    python -m tools.checkov_gate cdktf.out/stacks [checkov arguments, e.g. --output sarif]

checkov 3.3's terraform_json parser fails on blocks without labels, such as Terraform's
``moved`` blocks (modules/moves.py): it then reports a parsing error, scans nothing in that
file, and still exits 0, so a gate run on it passes without a check. This gate scans a copy of
each stack without its ``moved`` section (state addresses, nothing a policy judges), refuses to
pass when checkov's own parser still cannot read a copy, and then runs checkov on the copies
with the project's ``.checkov.yaml`` and any further arguments. Its exit status is checkov's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".checkov.yaml"
CHECKOV = Path(sys.executable).parent / "checkov"
#: Top-level sections checkov cannot parse and that carry nothing it judges.
UNREADABLE_SECTIONS = ("moved",)


def scannable(document: dict[str, Any]) -> dict[str, Any]:
    """The stack as checkov can read it: the same infrastructure, without state bookkeeping."""
    return {key: value for key, value in document.items() if key not in UNREADABLE_SECTIONS}


def stage(stacks: Path, into: Path) -> list[Path]:
    """Copies of each stacks/<stack>/cdk.tf.json that checkov can read, under ``into``."""
    if into.exists():
        shutil.rmtree(into)
    staged = []
    for source in sorted(stacks.glob("*/cdk.tf.json")):
        target = into / source.parent.name / "cdk.tf.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(scannable(json.loads(source.read_text())), indent=1))
        staged.append(target)
    return staged


def unreadable(files: list[Path]) -> list[Path]:
    """The files checkov's terraform_json parser cannot read (it would scan nothing in them)."""
    from checkov.terraform_json.parser import parse

    return [f for f in files if parse(f)[0] is None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", type=Path, help="the synthesized stacks' directory (cdktf.out/stacks)")
    args, checkov_args = parser.parse_known_args(argv)
    staged = stage(args.stacks, args.stacks.parent / "checkov-input")
    if not staged:
        print(f"no stacks under {args.stacks}: run make synth first", file=sys.stderr)
        return 2
    failed = unreadable(staged)
    if failed:
        print(f"checkov cannot parse {', '.join(map(str, failed))}: it would scan nothing there", file=sys.stderr)
        return 2
    command = [str(CHECKOV), "--config-file", str(CONFIG), "--directory", str(staged[0].parent.parent)]
    return subprocess.run([*command, *checkov_args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
