"""The GitLab CI template for users' repositories: parses, and its stages and needs are consistent."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import ROOT

TEMPLATE = ROOT / "ci-templates" / "gitlab-ci.yml"
RESERVED = {"stages", "default", "variables", "workflow", "include"}


def pipeline() -> tuple[list[str], dict[str, dict[str, Any]]]:
    document = yaml.safe_load(TEMPLATE.read_text())
    jobs = {name: body for name, body in document.items() if name not in RESERVED}
    resolved = {}
    for name, body in jobs.items():
        merged = dict(jobs.get(body.get("extends", ""), {}))
        merged.update(body)
        resolved[name] = merged
    return document["stages"], resolved


def test_every_job_runs_in_a_declared_stage_and_needs_existing_earlier_jobs() -> None:
    stages, jobs = pipeline()
    runnable = {name: job for name, job in jobs.items() if not name.startswith(".")}
    for name, job in runnable.items():
        assert job["stage"] in stages, name
        for need in job.get("needs", []):
            assert need in runnable, f"{name} needs unknown job {need}"
            assert stages.index(runnable[need]["stage"]) <= stages.index(job["stage"]), f"{name} needs a later {need}"


def test_order_is_lint_test_synth_gate_diff_deploy_with_prod_manual() -> None:
    stages, jobs = pipeline()
    assert stages == ["lint", "test", "synth", "gate", "diff", "deploy"]
    assert jobs["deploy:prod"]["when"] == "manual" and jobs["deploy:prod"]["allow_failure"] is False
    assert "deploy:staging" in jobs["deploy:prod"]["needs"]
    checkov = " ".join(jobs["checkov"]["script"])
    assert "--output junitxml" in checkov and "--output sarif" in checkov
    assert "tools.checkov_gate cdktf.out/stacks" in checkov, "the gate that fails when checkov cannot read a stack"


def test_jobs_call_the_projects_make_targets() -> None:
    _, jobs = pipeline()
    scripts = " ".join(" ".join(job.get("script", [])) for job in jobs.values())
    for target in ("make lint", "make test-fast", "make synth", "make diff ENV=", "make deploy ENV="):
        assert target in scripts


def test_every_deploy_is_preceded_by_the_preflight_review_of_its_plan() -> None:
    _, jobs = pipeline()
    deploys = {name: job for name, job in jobs.items() if name.startswith("deploy:")}
    assert deploys
    for name, job in deploys.items():
        script = job["script"]
        assert script.index("make preflight ENV=$ENVIRONMENT") < script.index("make deploy ENV=$ENVIRONMENT"), name
