"""One release's phases and their worst-case durations, read from a synthesized stack.

    make timeline ENV=prod     # synthesizes, then prints the table

Every number comes from the Terraform JSON (the values AWS will receive), not from the config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.stack_json import primary_region

#: CodeDeploy's predefined ECS configurations: (kind, percent, interval minutes).
PREDEFINED_SHIFTING = {
    "CodeDeployDefault.ECSAllAtOnce": ("all_at_once", 100, 0),
    "CodeDeployDefault.ECSCanary10Percent5Minutes": ("canary", 10, 5),
    "CodeDeployDefault.ECSCanary10Percent15Minutes": ("canary", 10, 15),
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": ("linear", 10, 1),
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": ("linear", 10, 3),
}


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: int
    source: str


def _matching(document: dict[str, Any], resource_type: str, suffix: str = "") -> list[dict[str, Any]]:
    """Resources of a type whose construct path ends in ``suffix``, in the primary region only:
    releases run there (the DR region's copies are not deployed by the pipeline)."""
    return [
        body
        for body in primary_region(document)["resource"].get(resource_type, {}).values()
        if body["//"]["metadata"]["path"].endswith(suffix)
    ]


def _only(document: dict[str, Any], resource_type: str, suffix: str = "") -> dict[str, Any]:
    matches = _matching(document, resource_type, suffix)
    if len(matches) != 1:
        raise ValueError(f"expected one {resource_type}{' ' + suffix if suffix else ''}, found {len(matches)}")
    return matches[0]


def shifting(document: dict[str, Any]) -> tuple[str, int, int]:
    native = _only(document, "aws_ecs_service").get("deployment_configuration")
    if native:  # ECS-native blue/green
        step = native.get("canary_configuration") or native.get("linear_configuration") or {}
        kind = {"BLUE_GREEN": "all_at_once", "CANARY": "canary", "LINEAR": "linear"}[native["strategy"]]
        minutes = step.get("canary_bake_time_in_minutes") or step.get("step_bake_time_in_minutes") or "0"
        return kind, int(step.get("canary_percent") or step.get("step_percent") or 100), int(minutes)
    name = _only(document, "aws_codedeploy_deployment_group")["deployment_config_name"]
    if name in PREDEFINED_SHIFTING:
        return PREDEFINED_SHIFTING[name]
    routing = _only(document, "aws_codedeploy_deployment_config")["traffic_routing_config"]
    if routing["type"] == "TimeBasedCanary":
        return "canary", routing["time_based_canary"]["percentage"], routing["time_based_canary"]["interval"]
    if routing["type"] == "TimeBasedLinear":
        return "linear", routing["time_based_linear"]["percentage"], routing["time_based_linear"]["interval"]
    return "all_at_once", 100, 0


def shift_seconds(kind: str, percent: int, interval_minutes: int) -> int:
    if kind == "canary":
        return interval_minutes * 60
    if kind == "linear":
        return (math.ceil(100 / percent) - 1) * interval_minutes * 60
    return 0


def phases(document: dict[str, Any]) -> list[Phase]:
    build = _only(document, "aws_codebuild_project", "/codepipeline/build")
    green = _only(document, "aws_lb_target_group", "/green")
    check = green["health_check"]
    groups = document["resource"].get("aws_codedeploy_deployment_group", {})
    bluegreen = next(iter(groups.values()))["blue_green_deployment_config"] if groups else None
    result = [
        Phase("build and push the image (timeout)", build["build_timeout"] * 60, "codebuild build_timeout"),
        Phase(
            "green tasks pass the health check",
            check["interval"] * check["healthy_threshold"],
            f"green target group: interval {check['interval']} s x healthy_threshold {check['healthy_threshold']}",
        ),
    ]
    hooks = document["resource"].get("aws_lambda_function", {})
    if hooks:
        timeout = next(iter(hooks.values()))["timeout"]
        result.append(Phase("test-listener checks (hook timeout)", timeout, "test hook Lambda timeout"))
    for load_test in _matching(document, "aws_codebuild_project", "/load_test/project"):
        result.append(
            Phase("load test through the test listener", load_test["build_timeout"] * 60, "load test build_timeout")
        )
    ready = bluegreen["deployment_ready_option"] if bluegreen else {}
    if ready.get("action_on_timeout") == "STOP_DEPLOYMENT":
        minutes = ready["wait_time_in_minutes"]
        result.append(Phase("wait for an operator to continue", minutes * 60, "deployment_ready_option wait_time"))
    kind, percent, interval = shifting(document)
    detail = {"canary": f"{percent}% then the rest after {interval} min", "linear": f"{percent}% every {interval} min"}
    result.append(
        Phase(
            f"shift production traffic ({kind})", shift_seconds(kind, percent, interval), detail.get(kind, "one step")
        )
    )
    result.append(
        Phase("drain blue's connections", int(green["deregistration_delay"]), "target group deregistration_delay")
    )
    if bluegreen:
        wait = bluegreen["terminate_blue_instances_on_deployment_success"]["termination_wait_time_in_minutes"]
        source = "termination_wait_time_in_minutes"
    else:
        wait = int(_only(document, "aws_ecs_service")["deployment_configuration"]["bake_time_in_minutes"])
        source = "ECS deployment bake_time_in_minutes"
    result.append(Phase("keep blue for instant rollback", wait * 60, source))
    return result


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def render(document: dict[str, Any]) -> str:
    rows = phases(document)
    width = max(len(p.name) for p in rows)
    lines = [f"{'phase':<{width}}  {'worst case':>12}  from", f"{'-' * width}  {'-' * 12}  ----"]
    lines += [f"{p.name:<{width}}  {_duration(p.seconds):>12}  {p.source}" for p in rows]
    total = sum(p.seconds for p in rows)
    lines.append(f"{'total':<{width}}  {_duration(total):>12}")
    wait = rows[-1].seconds
    lines.append("")
    lines.append(
        f"rollback: instant (the listeners swap back to blue) until {_duration(wait)} after the shift; "
        "later, `make rollback` redeploys the previous revision (the phases above again)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_json", type=Path, help="cdktf.out/stacks/<stack>/cdk.tf.json")
    args = parser.parse_args(argv)
    print(render(json.loads(args.stack_json.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
