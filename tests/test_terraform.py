"""Terraform itself on every environment, offline: validate, plan (count matches), checkov on the plan.

The provider comes from a local filesystem mirror (hashicorp/aws 5.100.0 on these machines; the
bindings pin 6.25.0), so the harness (tools/harness/terraform_offline.py) points a scratch copy at the
mirrored version and a local backend. The product's own output is never modified. Skipped, with
the reason shown, where Terraform or the mirror is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SynthesizedStack
from tools.harness.terraform_offline import (
    Toolchain,
    Workspace,
    find_toolchain,
    needs_newer_provider,
    offline_document,
    resource_count,
)

pytestmark = pytest.mark.slow

CHECKOV = Path(sys.executable).parent / "checkov"


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    found = find_toolchain()
    if isinstance(found, str):
        pytest.skip(f"Terraform tests need Terraform and a provider mirror: {found}")
    return found


@pytest.fixture(scope="session")
def planned(
    synthesized: dict[str, SynthesizedStack], toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Workspace, dict[str, Any]]]:
    """Each environment initialised, and planned with dummy credentials (no AWS is called)."""
    result = {}
    for env, stack in synthesized.items():
        if needs_newer_provider(stack.json, toolchain.provider_version):
            continue  # reported by each test below, by name
        workspace = Workspace(toolchain, tmp_path_factory.mktemp(f"tf-{env}"))
        workspace.write(offline_document(stack.json, toolchain.provider_version, plan=True), stack.file.parent)
        init = workspace.init()
        assert init.returncode == 0, init.stderr[-3000:]
        plan = workspace.plan()
        assert plan.returncode == 0, plan.stderr[-3000:]
        result[env] = (workspace, workspace.show_plan())
    return result


def runnable(stack: SynthesizedStack, toolchain: Toolchain) -> None:
    reason = needs_newer_provider(stack.json, toolchain.provider_version)
    if reason:
        pytest.skip(f"{stack.env}: {reason}")


def test_terraform_validate_accepts_the_stack(
    stack: SynthesizedStack, toolchain: Toolchain, planned: dict[str, tuple[Workspace, dict[str, Any]]]
) -> None:
    runnable(stack, toolchain)
    workspace, _ = planned[stack.env]
    report = workspace.validate()
    problems = [f"{d['severity']}: {d['summary']}: {d.get('detail', '')[:300]}" for d in report["diagnostics"]]
    assert report["valid"] is True, "\n".join(problems)
    assert [p for p in problems if p.startswith("error")] == []


def test_plan_creates_exactly_the_synthesized_resources(
    stack: SynthesizedStack, toolchain: Toolchain, planned: dict[str, tuple[Workspace, dict[str, Any]]]
) -> None:
    runnable(stack, toolchain)
    _, plan = planned[stack.env]
    actions = [change["change"]["actions"] for change in plan["resource_changes"]]
    assert all(a == ["create"] for a in actions)
    assert len(actions) == resource_count(stack.json)


def test_checkov_on_the_plan_reports_no_failed_check(planned: dict[str, tuple[Workspace, dict[str, Any]]]) -> None:
    """A second gate on real addresses and resolved references, with the same skip list."""
    files = []
    for env, (workspace, plan) in planned.items():
        file = workspace.folder / f"{env}.plan.json"
        file.write_text(json.dumps(plan))
        files += ["-f", str(file)]
    args = [str(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), "--framework", "terraform_plan", "-o", "json"]
    result = subprocess.run([*args, *files], capture_output=True, text=True, timeout=600, check=False)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [r["check_type"] for r in reports] == ["terraform_plan"]
    failed = [f"{c['check_id']} {c['resource']}" for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 500
    assert len(files) >= 6, "fewer than three environments were planned"
