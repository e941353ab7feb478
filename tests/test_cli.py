"""main.py: bad configs fail fast (before cdktf/the provider load), clearly, and without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, main
rc = main.main(sys.argv[1:])
loaded = sorted(m for m in ("cdktf", "cdktf_cdktf_provider_aws", "modules.stack") if m in sys.modules)
print("LOADED=" + ",".join(loaded))
sys.exit(rc)
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BLUEGREEN_ENV": ""}
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_bad_config_exits_before_the_provider_is_imported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: shop\nenvironment: qa\naccount_id: '123456789012'\npipeline: {}\nservice: {cpu: 3}\n")
    result = run("--config", str(bad))
    assert result.returncode == 2
    assert "LOADED=\n" in result.stdout, "cdktf or the provider was imported before validation"
    assert "Traceback" not in result.stderr
    assert f"{bad}: pipeline.repository: is required; add it" in result.stderr
    assert "2 problem(s); nothing was synthesized." in result.stderr


def test_problems_of_several_files_are_reported_together(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("")
    second.write_text("- not a mapping\n")
    result = run("--config", str(first), "--config", str(second))
    assert result.returncode == 2
    assert f"{first}: (top level): the file is empty" in result.stderr
    assert f"{second}: (top level): the top level must be a mapping" in result.stderr


def test_the_same_environment_twice_is_refused() -> None:
    result = run("--env", "dev", "--config", "config/dev.yaml")
    assert result.returncode == 2
    assert "gives stack name 'bluegreen-dev' twice" in result.stderr


def test_unknown_environment_names_the_choices() -> None:
    result = run("--env", "qa")
    assert result.returncode == 2
    assert (
        "qa.yaml: (top level): file not found; create it or pick one of: dev, prod, sandbox, staging" in result.stderr
    )


def test_check_and_list_stacks_do_not_synthesize() -> None:
    checked = run("--check")
    assert checked.returncode == 0
    assert checked.stdout.splitlines()[:4] == [
        "ok: bluegreen-dev",
        "ok: bluegreen-prod",
        "ok: bluegreen-sandbox",
        "ok: bluegreen-staging",
    ]
    listed = run("--env", "prod", "--list-stacks")
    assert listed.stdout.splitlines()[0] == "bluegreen-prod"
    assert "LOADED=\n" in listed.stdout


def test_cdktf_cli_selects_one_environment_through_the_environment() -> None:
    env = {**os.environ, "BLUEGREEN_ENV": "staging"}
    result = subprocess.run(
        [sys.executable, "main.py", "--list-stacks"], cwd=ROOT, capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split() == ["bluegreen-staging"]
