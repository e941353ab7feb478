"""Generated, committed artefacts: the config's JSON Schema and its Markdown reference.

python -m tools.docs            # write config/schema.json and docs/configuration.md
python -m tools.docs --check    # fail if either is stale (tests/test_docs.py runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import yaml_safety
from config.schema import EnvironmentConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "config" / "schema.json"
REFERENCE_FILE = ROOT / "docs" / "configuration.md"
#: The line each shipped YAML file starts with, so editors validate and complete it.
EDITOR_HINT = "# yaml-language-server: $schema=./schema.json"


def json_schema() -> str:
    schema = EnvironmentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "bluegreen environment"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _type(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in spec:
        return f"[{spec['$ref'].split('/')[-1]}](#{spec['$ref'].split('/')[-1].lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(s, defs) for s in spec["anyOf"])
    if "oneOf" in spec:
        return " or ".join(_type(s, defs) for s in spec["oneOf"])
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in spec:
        return f"map of {_type(spec['additionalProperties'], defs)}"
    return str(kind)


def _constraints(spec: dict[str, Any]) -> str:
    words = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<", "pattern": "matches"}
    parts = [f"{words[k]} `{spec[k]}`" for k in words if k in spec]
    for option in spec.get("anyOf", []):
        parts += [f"{words[k]} `{option[k]}`" for k in words if k in option]
    return ", ".join(parts)


def _default(spec: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in spec:
        if "$ref" in spec:
            return "its own defaults"
        return "empty" if spec.get("type") in {"object", "array"} else "see description"
    return f"`{json.dumps(spec['default'])}`"


def _table(name: str, model: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", "", model.get("description", "").strip(), ""]
    lines += ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    required = set(model.get("required", []))
    for key, spec in model.get("properties", {}).items():
        description = spec.get("description", "").replace("|", "\\|").replace("\n", " ")
        constraint = _constraints(spec).replace("|", "\\|")
        lines.append(
            f"| `{key}` | {_type(spec, defs)} | {_default(spec, key in required)} | {constraint} | {description} |"
        )
    return [*lines, ""]


def reference() -> str:
    schema = EnvironmentConfig.model_json_schema()
    defs = schema.get("$defs", {})
    lines = [
        "# Configuration reference",
        "",
        "Generated from `config/schema.py` by `make docs`; do not edit. One YAML file per environment",
        "in `config/`; every key below is optional unless marked **required**.",
        "",
        "## Limits of a config file",
        "",
        "A file is read within fixed bounds (`config/yaml_safety.py`), far above what a config needs, and",
        "refused past them with the reason, never with a traceback:",
        "",
        f"- at most {yaml_safety.MAX_BYTES:,} bytes, UTF-8 (with or without a byte-order mark);",
        f"- lists and mappings nested at most {yaml_safety.MAX_DEPTH} levels deep;",
        f"- at most {yaml_safety.MAX_NODES:,} values once every alias (`*name`) is expanded, and no alias",
        "  inside the node it names;",
        "- keys are text (quote `on`, `yes`, `no`, numbers and dates used as keys), each key once per mapping;",
        "- only the plain YAML types: no tags that build objects (`!!python/...`, `!!binary`, `!!set`, `!Ref`).",
        "",
        "Values are checked against what AWS accepts: names derived from `project` and `environment` against",
        "each resource's naming rules (`config/aws_names.py`, lengths and patterns read from botocore's API",
        "models), regions and zones against `config/data/regions.json`, engine versions and instance classes",
        "against `config/data/aurora_postgresql.json` (each table says where it comes from and when).",
        "",
    ]
    lines += _table("EnvironmentConfig", schema, defs)
    for name in sorted(defs):
        lines += _table(name, defs[name], defs)
    return "\n".join(lines).rstrip() + "\n"


def stale() -> list[str]:
    found = []
    if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != json_schema():
        found.append(str(SCHEMA_FILE.relative_to(ROOT)))
    if not REFERENCE_FILE.exists() or REFERENCE_FILE.read_text() != reference():
        found.append(str(REFERENCE_FILE.relative_to(ROOT)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            print(f"{path} is stale: run `make docs` and commit it", file=sys.stderr)
        return 1 if out_of_date else 0
    SCHEMA_FILE.write_text(json_schema())
    REFERENCE_FILE.write_text(reference())
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)} and {REFERENCE_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
