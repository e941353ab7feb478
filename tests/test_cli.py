"""main.py: bad configs fail fast (before cdktf/the provider load), clearly, and without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config import shipped_environments

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
        f"qa.yaml: (top level): file not found; create it or pick one of: {', '.join(shipped_environments())}"
        in result.stderr
    )


def test_check_and_list_stacks_do_not_synthesize() -> None:
    checked = run("--check")
    assert checked.returncode == 0
    assert checked.stdout.splitlines()[:5] == [
        "ok: bluegreen-dev",
        "ok: bluegreen-platform",
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


def test_check_takes_well_under_a_second_of_cpu() -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "main.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert spent < 1.0, f"--check of every shipped config took {spent:.2f} s of CPU"


def test_outdir_whose_parents_are_missing_is_created(tmp_path: Path) -> None:
    import main

    made = main.prepare_outdir(str(tmp_path / "a" / "b" / "out"))
    assert made.is_dir()


@pytest.mark.parametrize(
    ("outdir", "expected"),
    [
        ("{file}", "--outdir: (top level): is a file, not a folder"),
        ("{file}/out", "is inside {file}, which is a file"),
        ("", "is empty"),
    ],
    ids=["a file", "below a file", "empty"],
)
def test_unusable_outdir_is_refused_clearly(tmp_path: Path, outdir: str, expected: str) -> None:
    file = tmp_path / "taken"
    file.write_text("")
    result = run("--env", "dev", "--outdir", outdir.format(file=file))
    assert result.returncode == 2
    assert expected.format(file=file) in result.stderr
    assert "nothing was synthesized" in result.stderr
    assert "Traceback" not in result.stderr
    assert "LOADED=\n" in result.stdout, "cdktf was loaded before the output folder was checked"


def test_a_bug_in_a_rule_ends_in_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import main

    def broken(path: Path) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(main, "load_config", broken)
    assert main.main(["--check", "--env", "dev"]) == 2
    err = capsys.readouterr().err
    assert "could not be validated: the generator failed (TypeError: unsupported operand)" in err
    assert "report it with the file" in err
