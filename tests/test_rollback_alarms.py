"""The rollback alarms, evaluated as CloudWatch evaluates them, on every shipped environment.

Each synthesized alarm's metric math is evaluated minute by minute over traffic of both colours
(a small interpreter for the expressions the stack writes), then judged as CloudWatch judges an
alarm: ALARM when ``datapoints_to_alarm`` of the last ``evaluation_periods`` minutes reach the
threshold (missing data does not breach). What a release must survive and what must stop it:
- a handful of failing requests to green is not a rate: no rollback;
- blue's errors (an outsider hammering production included) never roll back green;
- green failing a real share of real traffic, or answering slowly, or unhealthy: rollback.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import REFERENCE, SynthesizedStack

#: Traffic per minute: metric name -> value, per target group ARN suffix reference.
Minute = Mapping[str, Mapping[str, float]]

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
    ast.LtE: operator.le,
    ast.Lt: operator.lt,
}


def evaluate(expression: str, values: Mapping[str, float]) -> float:
    """CloudWatch metric math, the subset the stack uses: IF, comparisons, + - * /, numbers and
    metric ids. Anything else fails the test (an expression this cannot read is not checked)."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return float(_COMPARE[type(node.ops[0])](walk(node.left), walk(node.comparators[0])))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "IF":
            condition, then, otherwise = node.args
            return walk(then) if walk(condition) != 0 else walk(otherwise)
        raise AssertionError(f"metric math this test cannot evaluate: {ast.dump(node)} in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


@dataclass(frozen=True)
class Alarm:
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["alarm_name"])

    def datapoint(self, minute: Minute) -> float | None:
        """The verdict of one minute; None when green had no datapoint (no traffic at all)."""
        values: dict[str, float] = {}
        for query in self.body["metric_query"]:
            if "metric" not in query:
                continue
            metric = query["metric"]
            series = minute.get(metric["dimensions"]["TargetGroup"], {})
            if metric["metric_name"] not in series:
                return None
            values[query["id"]] = series[metric["metric_name"]]
        (verdict,) = [q for q in self.body["metric_query"] if q.get("return_data")]
        return evaluate(verdict["expression"], values)

    def fires(self, minutes: list[Minute]) -> bool:
        assert self.body["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert self.body["treat_missing_data"] == "notBreaching"
        window = [self.datapoint(m) for m in minutes][-self.body["evaluation_periods"] :]
        breaching = [v for v in window if v is not None and v >= self.body["threshold"]]
        return len(breaching) >= self.body["datapoints_to_alarm"]


def release_alarms(stack: SynthesizedStack) -> dict[str, Alarm]:
    found = {
        a.path.rsplit("/", 1)[-1]: Alarm(a.body)
        for a in stack.service().of_type("aws_cloudwatch_metric_alarm")
        if a.path.split("/")[-2] == "alarms"
    }
    assert sorted(found) == ["release_5xx_rate", "release_p99_latency", "release_unhealthy_hosts"]
    return found


def colours(stack: SynthesizedStack) -> tuple[str, str]:
    """(blue, green) target group ARN suffix references; green is where the alarms start."""
    blue, green = (
        stack.service().one("aws_lb_target_group", f"route/{c}").ref("arn_suffix") for c in ("blue", "green")
    )
    return blue, green


def traffic(requests: float, errors: float = 0, p99: float = 0.05, unhealthy: float = 0) -> dict[str, float]:
    return {
        "RequestCount": requests,
        "HTTPCode_Target_5XX_Count": errors,
        "TargetResponseTime": p99,
        "UnHealthyHostCount": unhealthy,
    }


def test_a_burst_of_failing_requests_below_the_minimum_is_not_a_rate(stack: SynthesizedStack) -> None:
    """Three minutes in which every request to green fails, but too few to count: no rollback."""
    blue, green = colours(stack)
    few = stack.spec.deployment.alarms.min_requests_per_minute - 1
    minutes: list[Minute] = [{green: traffic(few, errors=few, p99=60), blue: traffic(500)}] * 3
    fired = [name for name, alarm in release_alarms(stack).items() if alarm.fires(minutes)]
    assert fired == []


def test_blues_errors_never_roll_green_back(stack: SynthesizedStack) -> None:
    """Production (blue) failing everything, slowly, unhealthy: green is fine, the release goes on."""
    blue, green = colours(stack)
    minutes: list[Minute] = [{blue: traffic(5000, errors=5000, p99=60, unhealthy=3), green: traffic(200)}] * 3
    fired = [name for name, alarm in release_alarms(stack).items() if alarm.fires(minutes)]
    assert fired == []


def test_green_failing_a_share_of_real_traffic_rolls_back(stack: SynthesizedStack) -> None:
    """Control of the two above: the same alarms do fire on green's own failure."""
    blue, green = colours(stack)
    thresholds = stack.spec.deployment.alarms
    enough = thresholds.min_requests_per_minute
    failing = enough * thresholds.target_5xx_percent / 100
    minutes: list[Minute] = [{green: traffic(enough, errors=failing), blue: traffic(500)}] * 3
    alarms = release_alarms(stack)
    assert alarms["release_5xx_rate"].fires(minutes)
    just_below = [{green: traffic(enough, errors=failing * 0.9), blue: traffic(500)}] * 3
    assert not alarms["release_5xx_rate"].fires(just_below)


def test_green_answering_slowly_or_unhealthy_rolls_back(stack: SynthesizedStack) -> None:
    _, green = colours(stack)
    thresholds = stack.spec.deployment.alarms
    slow = thresholds.p99_latency_ms / 1000
    alarms = release_alarms(stack)
    minutes: list[Minute] = [{green: traffic(thresholds.min_requests_per_minute, p99=slow)}] * 2
    assert alarms["release_p99_latency"].fires(minutes)
    sick: list[Minute] = [{green: traffic(0, unhealthy=thresholds.unhealthy_hosts)}] * 2
    assert alarms["release_unhealthy_hosts"].fires(sick)
    one_bad_minute: list[Minute] = [{green: traffic(0, unhealthy=thresholds.unhealthy_hosts)}, {green: traffic(0)}]
    assert not alarms["release_unhealthy_hosts"].fires(one_bad_minute)


def test_the_hook_is_given_exactly_the_alarms_that_roll_back(stack: SynthesizedStack) -> None:
    """The alarms the hook points at green are the ones rollback waits on, by reference."""
    variables = (
        stack.service().one("aws_lambda_function", "release_alarms/release_alarms").body["environment"]["variables"]
    )
    names = json.loads(variables["ALARM_NAMES"])
    release = [a for a in stack.service().of_type("aws_cloudwatch_metric_alarm") if a.path.split("/")[-2] == "alarms"]
    assert sorted(names) == sorted(a.ref("alarm_name") for a in release)
    if stack.spec.deployment.controller == "ecs":
        rolls_back = stack.service().one("aws_ecs_service").body["alarms"]["alarm_names"]
    else:
        rolls_back = stack.service().one("aws_codedeploy_deployment_group").body["alarm_configuration"]["alarms"]
    assert sorted(rolls_back) == sorted(names)
    groups = json.loads(variables["TARGET_GROUPS"])
    blue, green = (stack.service().one("aws_lb_target_group", f"route/{c}") for c in ("blue", "green"))
    assert groups == {blue.ref("arn"): blue.ref("arn_suffix"), green.ref("arn"): green.ref("arn_suffix")}


#: Longest value a reference can resolve to, by attribute: ARNs and DNS names stay well below it.
LONGEST_RESOLVED = 320
#: Lambda: all environment variables together, keys and values, at most 4 KB
#: (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
LAMBDA_ENVIRONMENT_BYTES = 4096


def worst_case_size(variables: Mapping[str, str]) -> int:
    resolved = {k: REFERENCE.sub("x" * LONGEST_RESOLVED, v) for k, v in variables.items()}
    unbounded = [v for v in resolved.values() if "${" in v]
    assert not unbounded, f"an interpolation this cannot bound (not a plain reference): {unbounded}"
    return sum(len(k.encode()) + len(v.encode()) for k, v in resolved.items())


def test_every_lambdas_environment_fits_lambdas_limit_at_its_longest(stack: SynthesizedStack) -> None:
    for function in stack.of_type("aws_lambda_function"):
        variables = function.body.get("environment", {}).get("variables", {})
        assert worst_case_size(variables) <= LAMBDA_ENVIRONMENT_BYTES, function.path


@pytest.mark.parametrize("references", [13, 12])
def test_an_environment_of_many_references_is_measured_at_their_longest(references: int) -> None:
    """Control: 13 references of 320 bytes exceed 4 KB although their unresolved text is short."""
    variables = {"X": "".join(f"${{aws_lb.lb_{i}.arn}}" for i in range(references))}
    assert len(variables["X"]) < 400
    assert (worst_case_size(variables) > LAMBDA_ENVIRONMENT_BYTES) is (references == 13)
