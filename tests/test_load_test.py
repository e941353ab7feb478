"""The optional load test: the script against the real app, and how each stack runs it."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time

import yaml

from hooks import load_test
from modules.load_test import build_timeout_minutes
from tests.app_support import ServiceProcess, free_port
from tests.conftest import ROOT, SynthesizedStack, policy

QUICK = load_test.Limits(duration_seconds=2, concurrency=3, max_error_percent=1.0, max_p99_ms=2000)


def test_p99_is_a_latency_that_happened() -> None:
    assert load_test.p99([]) == 0.0
    assert load_test.p99([5.0]) == 5.0
    assert load_test.p99([float(ms) for ms in range(1, 101)]) == 99.0
    assert load_test.p99([1.0] * 98 + [50.0, 900.0]) == 50.0


def test_healthy_green_passes_its_budget(green: ServiceProcess) -> None:
    summary = load_test.run(green.url, QUICK)
    assert summary.failures == [] and summary.errors == 0
    assert summary.requests >= 5 * QUICK.concurrency  # every user finished at least one whole scenario
    writes = [e for e in green.logs() if e.get("path") == "/notes" and e.get("method") == "POST"]
    assert writes and all(e["status"] == 201 for e in writes)


def test_a_slow_green_fails_on_p99(green: ServiceProcess) -> None:
    summary = load_test.run(green.url, load_test.Limits(1, 2, max_error_percent=100, max_p99_ms=0.001))
    assert len(summary.failures) == 1 and summary.failures[0].startswith("p99 ")


def test_a_draining_green_fails_on_errors(green: ServiceProcess) -> None:
    green.process.send_signal(signal.SIGTERM)  # still serving, /ready answers 503
    time.sleep(0.5)
    summary = load_test.run(green.url, QUICK)
    assert summary.errors > 0 and any(f.startswith("error rate") for f in summary.failures)


def test_an_unreachable_green_fails() -> None:
    limits = load_test.Limits(1, 2, max_error_percent=50, max_p99_ms=10_000, request_timeout_seconds=1)
    summary = load_test.run(f"http://127.0.0.1:{free_port()}", limits)
    assert summary.error_percent == 100.0 and summary.failures


# --- The stacks ---


def load_test_stacks(synthesized: dict[str, SynthesizedStack]) -> list[SynthesizedStack]:
    return [s for s in synthesized.values() if s.config.deployment.load_test is not None]


def project(stack: SynthesizedStack) -> dict[str, object]:
    return stack.one("aws_codebuild_project", "load_test/project").body


def buildspec_command(stack: SynthesizedStack) -> str:
    """The build's one command, as CodeBuild's shell receives it (Terraform's $${ escape undone)."""
    spec = yaml.safe_load(str(project(stack)["source"]["buildspec"]).replace("$${", "${").replace("%%{", "%{"))  # type: ignore[index]
    (command,) = spec["phases"]["build"]["commands"]
    return str(command)


def test_shipped_configs_cover_both_controllers(synthesized: dict[str, SynthesizedStack]) -> None:
    controllers = {s.config.deployment.controller for s in load_test_stacks(synthesized)}
    assert controllers == {"codedeploy", "ecs"}
    assert synthesized["prod"].config.deployment.load_test is None  # prod's canary and alarms guard it
    for stack in synthesized.values():
        if stack.config.deployment.load_test is None:
            assert not [p for p in stack.of_type("aws_codebuild_project") if p.path.startswith("load_test/")]
            assert "LOAD_TEST_PROJECT" not in stack.one("aws_lambda_function").body["environment"]["variables"]


def test_the_build_runs_the_repositorys_script_with_the_configured_budget(
    synthesized: dict[str, SynthesizedStack],
) -> None:
    for stack in load_test_stacks(synthesized):
        config = stack.config.deployment.load_test
        assert config is not None
        body = project(stack)
        command = buildspec_command(stack)
        delimiter = command.splitlines()[0].split("<<'")[1].rstrip("'")
        assert command.splitlines()[-1] == delimiter
        script = "\n".join(command.splitlines()[1:-1]) + "\n"
        assert script == (ROOT / "hooks" / "load_test.py").read_text()
        variables = {v["name"]: v["value"] for v in body["environment"]["environment_variable"]}  # type: ignore[index]
        hook = stack.one("aws_lambda_function").body
        assert variables == {
            "TEST_URL": hook["environment"]["variables"]["TEST_URL"],
            "DURATION_SECONDS": str(config.duration_seconds),
            "CONCURRENCY": str(config.concurrency),
            "MAX_ERROR_PERCENT": str(config.max_error_percent),
            "MAX_P99_MS": str(config.max_p99_ms),
        }
        assert body["build_timeout"] == math.ceil(config.duration_seconds / 60) + 5
        assert body["source"]["type"] == "NO_SOURCE" and body["artifacts"]["type"] == "NO_ARTIFACTS"  # type: ignore[index]
        assert "privileged_mode" not in body["environment"]  # no Docker daemon: it only sends requests
        # By reference: the hook is created after the project it starts.
        load_test_project = stack.one("aws_codebuild_project", "load_test/project")
        assert hook["environment"]["variables"]["LOAD_TEST_PROJECT"] == load_test_project.ref("name")


def test_the_buildspec_command_runs_the_load_test_in_a_shell(
    synthesized: dict[str, SynthesizedStack], green: ServiceProcess
) -> None:
    """What CodeBuild would run, run here against the real app: exit 0 within budget, 1 outside."""
    command = buildspec_command(load_test_stacks(synthesized)[0])
    budget = {"DURATION_SECONDS": "2", "CONCURRENCY": "2", "MAX_ERROR_PERCENT": "1", "MAX_P99_MS": "2000"}
    passed = subprocess.run(
        ["/bin/sh", "-c", command],
        env={**os.environ, **budget, "TEST_URL": green.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert passed.returncode == 0, passed.stderr
    summary = json.loads(passed.stdout.splitlines()[-1])
    assert summary["failures"] == [] and summary["requests"] > 0
    failed = subprocess.run(
        ["/bin/sh", "-c", command],
        env={**os.environ, **budget, "TEST_URL": f"http://127.0.0.1:{free_port()}", "REQUEST_TIMEOUT_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1 and json.loads(failed.stdout.splitlines()[-1])["failures"]


def test_the_build_runs_privately_with_the_hooks_narrow_egress(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        vpc = project(stack)["vpc_config"]
        hook = stack.one("aws_lambda_function").body["vpc_config"]
        assert vpc["subnets"] == hook["subnet_ids"] and vpc["security_group_ids"] == hook["security_group_ids"]  # type: ignore[index]
        assert all("networking_private_" in s for s in vpc["subnets"])  # type: ignore[index]


def test_the_load_test_role_can_only_log_and_attach_to_the_vpc(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        role = stack.one("aws_iam_role", "roles/load_test")
        assert project(stack)["service_role"] == role.ref("arn")
        policies = [r for r in stack.of_type("aws_iam_role_policy") if r.body["role"] == role.ref("name")]
        assert sorted(p.path for p in policies) == ["load_test/vpc_access", "role_policies/load_test"]
        statements = [s for p in policies for s in policy(p.body["policy"])["Statement"]]
        actions = {a for s in statements for a in s["Action"]}
        assert {a.split(":")[0] for a in actions} == {"logs", "kms", "ec2"}
        # CodeBuild checks the VPC permissions when the project is created: they come first.
        vpc_access = stack.one("aws_iam_role_policy", "load_test/vpc_access")
        assert f"{vpc_access.type}.{vpc_access.id}" in project(stack)["depends_on"]  # type: ignore[operator]
        eni = next(s for s in statements if s["Sid"] == "LetCodeBuildUseTheInterface")
        assert eni["Condition"]["StringEquals"] == {"ec2:AuthorizedService": "codebuild.amazonaws.com"}
        subnets = stack.one("aws_lambda_function").body["vpc_config"]["subnet_ids"]
        assert [s.rsplit("/", 1)[1] for s in eni["Condition"]["ArnEquals"]["ec2:Subnet"]] == subnets
        hook = policy(stack.one("aws_iam_role_policy", "role_policies/test_hook").body["policy"])
        run = next(s for s in hook["Statement"] if s["Sid"] == "RunLoadTest")
        load_test_project = stack.one("aws_codebuild_project", "load_test/project")
        assert run["Action"] == ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
        assert run["Resource"] == [load_test_project.ref("arn")]


def test_under_codedeploy_the_builds_end_reaches_the_hook(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        rules = [r for r in stack.of_type("aws_cloudwatch_event_rule") if r.path.startswith("load_test/")]
        if stack.config.deployment.controller == "ecs":
            assert rules == []  # the hook polls the build itself
            continue
        (rule,) = rules
        pattern = json.loads(rule.body["event_pattern"])
        assert pattern["detail"]["project-name"] == [
            stack.one("aws_codebuild_project", "load_test/project").ref("name")
        ]
        assert pattern["detail"]["build-status"] == [{"anything-but": ["IN_PROGRESS"]}]
        hook = stack.one("aws_lambda_function")
        target = stack.one("aws_cloudwatch_event_target", "load_test/report").body
        assert (target["rule"], target["arn"]) == (rule.ref("name"), hook.ref("arn"))
        permission = stack.one("aws_lambda_permission", "load_test/events_invoke_reporter").body
        assert permission["principal"] == "events.amazonaws.com" and permission["source_arn"] == rule.ref("arn")
        assert permission["function_name"] == hook.ref("function_name")


def test_build_time_covers_the_test_and_its_start(synthesized: dict[str, SynthesizedStack]) -> None:
    assert [build_timeout_minutes(s) for s in (10, 60, 61, 1800)] == [6, 6, 7, 35]
    assert re.fullmatch(r"[a-z0-9-]+-load-test", str(project(load_test_stacks(synthesized)[0])["name"]))
