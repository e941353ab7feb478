"""Proof that a refactoring changes no output: synthesize a corpus of configs before and after.

    python -m tools.harness.refactor_corpus --write /tmp/before     # on the commit before the change
    python -m tools.harness.refactor_corpus --compare /tmp/before   # after it: exit 1 on any difference

The corpus is every shipped environment plus variants that switch on what the shipped ones do
not (the other controller, no hooks, other DR postures, no interface endpoints, ...), so code
paths that no shipped environment takes are compared too. Each stack is compared whole (the
normalised JSON of tools/diff_json, cdktf's metadata included: construct paths must not move).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from config import EnvironmentConfig, shipped_environments

ROOT = Path(__file__).resolve().parents[2]

#: (name, base environment, overlay merged into its YAML)
VARIANTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("dev-ecs", "dev", {"deployment": {"controller": "ecs"}}),
    ("sandbox-codedeploy", "sandbox", {"deployment": {"controller": "codedeploy"}}),
    ("staging-ecs", "staging", {"deployment": {"controller": "ecs"}}),
    ("staging-no-hooks", "staging", {"deployment": {"test_hook": False, "load_test": None}}),
    ("dev-lean-network", "dev", {"networking": {"interface_endpoints": False, "nat_mode": "single"}}),
    ("dev-no-autoscaling", "dev", {"service": {"autoscaling": None}}),
    ("dev-approval", "dev", {"deployment": {"approval_stage": True}}),
    ("prod-warm", "prod", {"dr": {"posture": "warm_standby", "standby_tasks": 2}}),
    ("prod-no-dr", "prod", {"dr": None, "database": {"engine_version": "16"}}),
    (
        "prod-backup",
        "prod",
        {"dr": {"posture": "backup_restore", "failover": None}, "database": {"engine_version": "16"}},
    ),
)


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value) if value is not None else None
        return {k: v for k, v in merged.items() if v is not None}
    return copy.deepcopy(overlay)


def corpus() -> dict[str, EnvironmentConfig]:
    raw = {env: yaml.safe_load((ROOT / "config" / f"{env}.yaml").read_text()) for env in shipped_environments()}
    configs = {env: EnvironmentConfig.model_validate(data) for env, data in raw.items()}
    for name, base, overlay in VARIANTS:
        configs[name] = EnvironmentConfig.model_validate(_merge(raw[base], overlay))
    return configs


def synthesize(configs: dict[str, EnvironmentConfig]) -> dict[str, str]:
    """Each config's stack as canonical JSON text (sorted keys), by corpus name."""
    import main

    result = {}
    for name, config in configs.items():
        # One stack per name: variants share their base's stack name, so each gets its own folder.
        with tempfile.TemporaryDirectory() as out:
            main.synthesize([config], out)
            document = json.loads((Path(out) / "stacks" / config.names.prefix / "cdk.tf.json").read_text())
        result[name] = json.dumps(document, indent=1, sort_keys=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="write the corpus's stacks to this folder")
    mode.add_argument("--compare", type=Path, help="compare the corpus's stacks with this folder's")
    args = parser.parse_args(argv)
    stacks = synthesize(corpus())
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, text in stacks.items():
            (args.write / f"{name}.json").write_text(text)
        print(f"wrote {len(stacks)} stacks to {args.write}")
        return 0
    from tools import diff_json

    different = []
    for name, text in stacks.items():
        before = (args.compare / f"{name}.json").read_text()
        if before != text:
            changes = diff_json.diff(json.loads(before), json.loads(text)) or ["(metadata or order only)"]
            different.append(f"{name}:\n  " + "\n  ".join(changes))
    print("\n".join(different) if different else f"all {len(stacks)} stacks identical")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
