"""The policy gate: checkov over every environment's synthesized JSON and the several-services
fixtures', with the project's skip list."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config import load_config
from tests.conftest import ROOT, SynthesizedStack, synthesize_configs
from tools import checkov_gate

CHECKOV = Path(sys.executable).parent / "checkov"
CONFIG = ROOT / ".checkov.yaml"


def skip_list() -> list[str]:
    return list(yaml.safe_load(CONFIG.read_text())["skip-check"])


#: Stacks beyond the shipped ones (config/platform.yaml is shipped, so gated with them): services
#: with every kind of config grant, gated like the shipped ones.
SEVERAL_SERVICES = ("grants",)


@pytest.mark.slow
def test_checkov_reports_no_failed_check(synthesized: dict[str, SynthesizedStack], tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    configs = {name: load_config(ROOT / "tests" / "data" / f"{name}.yaml") for name in SEVERAL_SERVICES}
    several = synthesize_configs(configs, tmp_path / "several")
    for stack in [*synthesized.values(), *several.values()]:
        (stacks / stack.file.parent.name).mkdir(parents=True)
        shutil.copy(stack.file, stacks / stack.file.parent.name / "cdk.tf.json")
    staged = checkov_gate.stage(stacks, tmp_path / "staged")
    assert checkov_gate.unreadable(staged) == []
    files = [str(f) for f in staged]
    args = [str(CHECKOV), "--config-file", str(CONFIG), "--output", "json", *(a for f in files for a in ("-f", f))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']} in {Path(check['file_path']).parent.name}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    passed = sum(report["summary"]["passed"] for report in reports)
    assert [r["summary"]["parsing_errors"] for r in reports] == [0] * len(reports)
    assert failed == [], "\n".join(failed)
    assert passed > 500, f"checkov ran only {passed} checks; is it scanning the stacks?"
    assert result.returncode == 0


def test_a_stack_checkov_cannot_read_fails_the_gate(prod: SynthesizedStack, tmp_path: Path) -> None:
    """Control: checkov's parser gives up on a moved block (and would then scan nothing, exit 0);
    the gate's copy without it reads, with every resource still there."""
    assert prod.json.get("moved"), "prod carries moved blocks (modules/moves.py)"
    as_synthesized = tmp_path / "as_synthesized.json"
    as_synthesized.write_text(json.dumps(prod.json))
    assert checkov_gate.unreadable([as_synthesized]) == [as_synthesized]
    stacks = tmp_path / "stacks" / "bluegreen-prod"
    stacks.mkdir(parents=True)
    shutil.copy(prod.file, stacks / "cdk.tf.json")
    (staged,) = checkov_gate.stage(stacks.parent, tmp_path / "staged")
    assert checkov_gate.unreadable([staged]) == []
    assert json.loads(staged.read_text())["resource"] == prod.json["resource"]
    assert checkov_gate.main([str(tmp_path / "empty")]) == 2


def test_every_skipped_check_has_its_reason_beside_it() -> None:
    lines = CONFIG.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s*-\s*CKV", line):
            assert lines[index - 1].strip().startswith("#"), f"no reason above {line.strip()}"


def test_readme_states_the_length_of_the_skip_list() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"{len(skip_list())} skipped checkov checks" in readme
