"""Extract, from botocore's API models, the shapes of the request members the config is checked against.

    python -m tools.harness.aws_shapes          # write config/data/aws_shapes.json
    python -m tools.harness.aws_shapes --check  # fail if it differs from the installed botocore's models

The members are those config/aws_names.py and config/tag_rules.py name; tests/test_physical_names.py
runs the check, so a botocore upgrade that changes a rule shows up as a reviewed diff.
"""

from __future__ import annotations

import argparse
import json
import sys

from config import aws_models, aws_names, tag_rules


def members() -> list[aws_models.Member]:
    found = [rule.member for rule in aws_names.RULES.values() if rule.member is not None]
    return [*found, tag_rules.KEY, tag_rules.VALUE]


def rendered() -> str:
    return json.dumps(aws_models.extract(members()), indent=2, sort_keys=True) + "\n"


def stale() -> bool:
    return not aws_models.EXTRACT.exists() or aws_models.EXTRACT.read_text() != rendered()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        if stale():
            print(f"{aws_models.EXTRACT} is stale: run `python -m tools.harness.aws_shapes`", file=sys.stderr)
            return 1
        return 0
    aws_models.EXTRACT.write_text(rendered())
    print(f"wrote {aws_models.EXTRACT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
