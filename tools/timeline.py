"""One release's phases and their worst-case durations, read from a synthesized stack.

    make timeline ENV=prod               # synthesizes, then prints the table of its only service
    make timeline ENV=prod SERVICE=api   # one service of an environment with several

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

from tools.stack_json import Resources, at, pick_service, service_keys, service_resources

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


def _the(resources: Resources, resource_type: str, path: str) -> dict[str, Any]:
    body = at(resources, resource_type, path)
    if body is None:
        raise ValueError(f"the service has no {resource_type} {path}")
    return body


def shifting(resources: Resources) -> tuple[str, int, int]:
    """(kind, percent, interval minutes) of the service's production traffic shift."""
    native = _the(resources, "aws_ecs_service", "ecs/service").get("deployment_configuration")
    if native:  # ECS-native blue/green
        step = native.get("canary_configuration") or native.get("linear_configuration") or {}
        kind = {"BLUE_GREEN": "all_at_once", "CANARY": "canary", "LINEAR": "linear"}[native["strategy"]]
        minutes = step.get("canary_bake_time_in_minutes") or step.get("step_bake_time_in_minutes") or "0"
        return kind, int(step.get("canary_percent") or step.get("step_percent") or 100), int(minutes)
    name = _the(resources, "aws_codedeploy_deployment_group", "codepipeline/deployment_group")["deployment_config_name"]
    if name in PREDEFINED_SHIFTING:
        return PREDEFINED_SHIFTING[name]
    config = _the(resources, "aws_codedeploy_deployment_config", "codepipeline/deployment_config")
    routing = config["traffic_routing_config"]
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


def phases(document: dict[str, Any], service: str | None = None) -> list[Phase]:
    """The release phases of ``service`` (default: the stack's only one), from its own resources."""
    key = pick_service(document, service)
    resources = service_resources(document, key)
    build = _the(resources, "aws_codebuild_project", "codepipeline/build")
    green = at(resources, "aws_lb_target_group", "route/green")
    if green is None:
        raise ValueError(
            f"{key} has no route: it is released by rolling update (ECS replaces its tasks), not blue/green"
        )
    check = green["health_check"]
    group = at(resources, "aws_codedeploy_deployment_group", "codepipeline/deployment_group")
    bluegreen = group["blue_green_deployment_config"] if group else None
    result = [
        Phase("build and push the image (timeout)", build["build_timeout"] * 60, "codebuild build_timeout"),
        Phase(
            "green tasks pass the health check",
            check["interval"] * check["healthy_threshold"],
            f"green target group: interval {check['interval']} s x healthy_threshold {check['healthy_threshold']}",
        ),
    ]
    hook = at(resources, "aws_lambda_function", "deployment_hooks/test_traffic")
    if hook is not None:
        result.append(Phase("test-listener checks (hook timeout)", hook["timeout"], "test hook Lambda timeout"))
    load_test = at(resources, "aws_codebuild_project", "load_test/project")
    if load_test is not None:
        result.append(
            Phase("load test through the test listener", load_test["build_timeout"] * 60, "load test build_timeout")
        )
    ready = bluegreen["deployment_ready_option"] if bluegreen else {}
    if ready.get("action_on_timeout") == "STOP_DEPLOYMENT":
        minutes = ready["wait_time_in_minutes"]
        result.append(Phase("wait for an operator to continue", minutes * 60, "deployment_ready_option wait_time"))
    kind, percent, interval = shifting(resources)
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
        native = _the(resources, "aws_ecs_service", "ecs/service")["deployment_configuration"]
        wait = int(native["bake_time_in_minutes"])
        source = "ECS deployment bake_time_in_minutes"
    result.append(Phase("keep blue for instant rollback", wait * 60, source))
    return result


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def render(document: dict[str, Any], service: str | None = None) -> str:
    rows = phases(document, service)
    width = max(len(p.name) for p in rows)
    lines = [f"{'phase':<{width}}  {'worst case':>12}  from", f"{'-' * width}  {'-' * 12}  ----"]
    lines += [f"{p.name:<{width}}  {_duration(p.seconds):>12}  {p.source}" for p in rows]
    total = sum(p.seconds for p in rows)
    lines.append(f"{'total':<{width}}  {_duration(total):>12}")
    wait = rows[-1].seconds
    # With several services, each is rolled back on its own: the command names this one.
    several = len(service_keys(document)) > 1
    command = f"make rollback SERVICE={pick_service(document, service)}" if several else "make rollback"
    lines.append("")
    lines.append(
        f"rollback: instant (the listeners swap back to blue) until {_duration(wait)} after the shift; "
        f"later, `{command}` redeploys the previous revision (the phases above again)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_json", type=Path, help="cdktf.out/stacks/<stack>/cdk.tf.json")
    parser.add_argument("--service", help="the service whose release to time (default: the stack's only one)")
    args = parser.parse_args(argv)
    try:
        table = render(json.loads(args.stack_json.read_text()), args.service)
    except ValueError as error:
        print(f"timeline: {error}", file=sys.stderr)
        return 2
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
