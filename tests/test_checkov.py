"""The policy gate: checkov over every environment's synthesized JSON, with the project's skip list."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SynthesizedStack

CHECKOV = Path(sys.executable).parent / "checkov"
CONFIG = ROOT / ".checkov.yaml"


def skip_list() -> list[str]:
    return list(yaml.safe_load(CONFIG.read_text())["skip-check"])


@pytest.mark.slow
def test_checkov_reports_no_failed_check(synthesized: dict[str, SynthesizedStack]) -> None:
    files = [str(s.file) for s in synthesized.values()]
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
    assert failed == [], "\n".join(failed)
    assert passed > 500, f"checkov ran only {passed} checks; is it scanning the stacks?"
    assert result.returncode == 0


def test_every_skipped_check_has_its_reason_beside_it() -> None:
    lines = CONFIG.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s*-\s*CKV", line):
            assert lines[index - 1].strip().startswith("#"), f"no reason above {line.strip()}"


def test_readme_states_the_length_of_the_skip_list() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"{len(skip_list())} skipped checkov checks" in readme
