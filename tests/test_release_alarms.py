"""The release-alarms hook: before green starts, the rollback alarms are pointed at green alone.

AWS's APIs through botocore's Stubber: the stubbed CloudWatch client describes the alarms as
CloudWatch has them, then accepts exactly the alarms expected, in order, and nothing else (so "no
alarm was put" is the absence of a stubbed answer).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hooks import release_alarms as hook

REGION = "eu-west-1"
ACCOUNT = "111122223333"
LOAD_BALANCER = "app/bluegreen-staging/50dc6c495c0c9188"
BLUE_SUFFIX = "targetgroup/bluegreen-staging-api-blue/73e2d6bc24d8a067"
GREEN_SUFFIX = "targetgroup/bluegreen-staging-api-green/2453ed029918f21f"
BLUE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:{BLUE_SUFFIX}"
GREEN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:{GREEN_SUFFIX}"
SUFFIXES = {BLUE: BLUE_SUFFIX, GREEN: GREEN_SUFFIX}
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/{LOAD_BALANCER}/f2f7dc8efc522ab2"
RULE = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/{LOAD_BALANCER}/f2f7dc8efc522ab2/9683b2d02a6cabee"
)
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:bluegreen-staging-deployments"

CODEDEPLOY_EVENT = {"DeploymentId": "d-GREEN1234", "LifecycleEventHookExecutionId": "before-install-1"}
ECS_EVENT = {
    "executionDetails": {
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/bluegreen-staging/api",
        "targetServiceRevisionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/bluegreen-staging/api/1",
        "testTrafficWeights": {},
        "productionTrafficWeights": {},
    },
    "executionId": "a1b2c3",
    "lifecycleStage": "PRE_SCALE_UP",
    "resourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/bluegreen-staging/api/x",
}


def _metric(metric_id: str, name: str, target_group: str, stat: str = "Sum") -> dict[str, Any]:
    dimensions = [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}, {"Name": "TargetGroup", "Value": target_group}]
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dimensions},
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def described(target_group: str) -> list[dict[str, Any]]:
    """The rollback alarms as DescribeAlarms returns them, each metric on ``target_group``: green's
    5xx rate over a minimum of requests, and green's health (a single metric that is the verdict)."""
    unhealthy = _metric("unhealthy", "UnHealthyHostCount", target_group, "Maximum")
    unhealthy["ReturnData"] = True
    state = {
        "StateValue": "OK",
        "StateReason": "Threshold Crossed",
        "StateUpdatedTimestamp": "2026-12-01T10:00:00Z",
        "AlarmConfigurationUpdatedTimestamp": "2026-12-01T09:00:00Z",
        "InsufficientDataActions": [],
        "OKActions": [],
        "ActionsEnabled": True,
    }
    return [
        {
            "AlarmName": "bluegreen-staging-release-5xx-rate",
            "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:bluegreen-staging-release-5xx-rate",
            "AlarmDescription": "Green's 5xx share of its requests; rolls the release back",
            "Metrics": [
                _metric("errors", "HTTPCode_Target_5XX_Count", target_group),
                _metric("requests", "RequestCount", target_group),
                {
                    "Id": "verdict",
                    "Expression": "IF(requests >= 20, 100 * errors / requests, 0)",
                    "Label": "green 5xx percent",
                    "ReturnData": True,
                },
            ],
            "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [TOPIC],
            **state,
        },
        {
            "AlarmName": "bluegreen-staging-release-unhealthy-hosts",
            "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:bluegreen-staging-release-unhealthy-hosts",
            "Metrics": [unhealthy],
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [TOPIC],
            **state,
        },
    ]


NAMES = [a["AlarmName"] for a in described(BLUE_SUFFIX)]
#: What CloudWatch reports about an alarm that is not its definition (PutMetricAlarm refuses them).
NOT_DEFINITION = {
    "AlarmArn",
    "StateValue",
    "StateReason",
    "StateUpdatedTimestamp",
    "AlarmConfigurationUpdatedTimestamp",
}


def stubbed(name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client(name, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(hook, name.upper(), client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def elbv2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    yield from stubbed("elbv2", monkeypatch)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    yield from stubbed("cloudwatch", monkeypatch)


@pytest.fixture
def codedeploy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    yield from stubbed("codedeploy", monkeypatch)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The infrastructure's variables, CodeDeploy's shape (a production listener) by default."""
    monkeypatch.delenv("PRODUCTION_RULE_ARN", raising=False)
    monkeypatch.setenv("PRODUCTION_LISTENER_ARN", LISTENER)
    monkeypatch.setenv("TARGET_GROUPS", json.dumps(SUFFIXES))
    monkeypatch.setenv("ALARM_NAMES", json.dumps(NAMES))


def ecs_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODUCTION_LISTENER_ARN")
    monkeypatch.setenv("PRODUCTION_RULE_ARN", RULE)


def single(target_group: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": target_group}]


def weighted(weights: dict[str, int], *, with_arn: str | None = None) -> list[dict[str, Any]]:
    action: dict[str, Any] = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }
    if with_arn:
        action["TargetGroupArn"] = with_arn
    return [action]


def expect_listener(elbv2: Stubber, actions: list[dict[str, Any]]) -> None:
    elbv2.add_response(
        "describe_listeners",
        {"Listeners": [{"ListenerArn": LISTENER, "Port": 443, "Protocol": "HTTPS", "DefaultActions": actions}]},
        {"ListenerArns": [LISTENER]},
    )


def expect_rule(elbv2: Stubber, actions: list[dict[str, Any]]) -> None:
    elbv2.add_response(
        "describe_rules",
        {"Rules": [{"RuleArn": RULE, "Priority": "10", "Conditions": [], "Actions": actions, "IsDefault": False}]},
        {"RuleArns": [RULE]},
    )


def pointed_at(suffix: str) -> list[dict[str, Any]]:
    """The alarms as they must reach CloudWatch: every TargetGroup on ``suffix``, the rest of the
    definition as described, nothing that is only state."""
    return [{key: value for key, value in alarm.items() if key not in NOT_DEFINITION} for alarm in described(suffix)]


def expect_described(cloudwatch: Stubber, currently: str = BLUE_SUFFIX) -> None:
    cloudwatch.add_response(
        "describe_alarms",
        {"MetricAlarms": described(currently)},
        {"AlarmNames": NAMES, "AlarmTypes": ["MetricAlarm"]},
    )


def expect_alarms(cloudwatch: Stubber, suffix: str, currently: str = BLUE_SUFFIX) -> None:
    expect_described(cloudwatch, currently)
    for arguments in pointed_at(suffix):
        cloudwatch.add_response("put_metric_alarm", {}, arguments)


def expect_report(codedeploy: Stubber, status: str) -> None:
    codedeploy.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": CODEDEPLOY_EVENT["LifecycleEventHookExecutionId"]},
        {
            "deploymentId": CODEDEPLOY_EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": CODEDEPLOY_EVENT["LifecycleEventHookExecutionId"],
            "status": status,
        },
    )


# --- Which colour is green: the one production does not forward to now ---


@pytest.mark.parametrize(("production", "green"), [(BLUE, GREEN), (GREEN, BLUE)], ids=["blue live", "green live"])
def test_under_codedeploy_the_alarms_judge_the_target_group_production_does_not_use(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber, production: str, green: str
) -> None:
    """Every release swaps the colours: the next one deploys into the group the last one left idle."""
    expect_listener(elbv2, single(production))
    expect_alarms(cloudwatch, SUFFIXES[green])
    expect_report(codedeploy, "Succeeded")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Succeeded"}


@pytest.mark.parametrize(
    ("weights", "green"),
    [({BLUE: 100, GREEN: 0}, GREEN), ({BLUE: 0, GREEN: 1}, BLUE), ({BLUE: 1}, GREEN), ({BLUE: 90, GREEN: 10}, GREEN)],
    ids=["blue 100/0", "green 0/1", "one weighted group", "larger weight"],
)
def test_under_ecs_the_rule_ecs_shifts_decides_and_the_verdict_is_returned(
    elbv2: Stubber,
    cloudwatch: Stubber,
    monkeypatch: pytest.MonkeyPatch,
    weights: dict[str, int],
    green: str,
) -> None:
    ecs_native(monkeypatch)
    monkeypatch.setattr(hook, "CODEDEPLOY", object())  # any call on it would raise
    expect_rule(elbv2, weighted(weights))
    expect_alarms(cloudwatch, SUFFIXES[green])
    assert hook.handler(ECS_EVENT, None) == {"hookStatus": "SUCCEEDED"}


def test_a_listener_that_forwards_through_a_forward_config_is_read_the_same_way(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber
) -> None:
    """DescribeListeners may give both shapes at once: the single ARN and its one-group config."""
    expect_listener(elbv2, weighted({BLUE: 1}, with_arn=BLUE))
    expect_alarms(cloudwatch, GREEN_SUFFIX)
    expect_report(codedeploy, "Succeeded")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Succeeded"}


def test_the_event_does_not_say_which_colour_is_green(
    elbv2: Stubber, cloudwatch: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS's event carries traffic weights; they are not read: only the load balancer is."""
    ecs_native(monkeypatch)
    claims = copy.deepcopy(ECS_EVENT)
    claims["executionDetails"]["productionTrafficWeights"] = {GREEN: 100}  # type: ignore[index]
    expect_rule(elbv2, weighted({BLUE: 100, GREEN: 0}))
    expect_alarms(cloudwatch, GREEN_SUFFIX)
    assert hook.handler(claims, None) == {"hookStatus": "SUCCEEDED"}


# --- Any doubt stops the deployment, before any alarm changes ---


def refusal(caplog: pytest.LogCaptureFixture) -> str:
    """The reason the function logged for failing (its one ERROR line)."""
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.levelno == logging.ERROR]
    assert line["message"] == "alarms not released to green"
    return str(line["reason"])


STRANGER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/other/0123456789abcdef"


@pytest.mark.parametrize(
    ("actions", "reason"),
    [
        (weighted({BLUE: 50, GREEN: 50}), "split evenly between the colours, a shift is in progress"),
        (weighted({BLUE: 0, GREEN: 0}), "no target group with a weight"),
        (single(STRANGER), "not the service's colours"),
        (weighted({BLUE: 100, STRANGER: 0}), "not the service's colours"),
        (weighted({BLUE: 100, GREEN: 0}, with_arn=GREEN), "names " + GREEN),
        (weighted({BLUE: 1}, with_arn=GREEN), "names " + GREEN),
        ([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}], "0 forward actions"),
        (single(BLUE) + single(GREEN), "2 forward actions"),
        ([{"Type": "forward"}], "names no target group"),
    ],
    ids=[
        "even split",
        "no weight",
        "a stranger",
        "a stranger, idle",
        "the shapes disagree",
        "the shapes disagree, one group",
        "no forward",
        "two forwards",
        "a forward to nothing",
    ],
)
def test_a_production_route_that_does_not_name_one_live_colour_fails(
    elbv2: Stubber,
    codedeploy: Stubber,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    actions: list[dict[str, Any]],
    reason: str,
) -> None:
    """No alarm is put: any call on the CloudWatch client would raise."""
    monkeypatch.setattr(hook, "CLOUDWATCH", object())
    expect_listener(elbv2, actions)
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert reason in refusal(caplog)


def test_an_ambiguous_rule_fails_the_ecs_hook(
    elbv2: Stubber, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ecs_native(monkeypatch)
    monkeypatch.setattr(hook, "CLOUDWATCH", object())
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    expect_rule(elbv2, weighted({BLUE: 50, GREEN: 50}))
    assert hook.handler(ECS_EVENT, None) == {"hookStatus": "FAILED"}
    assert "a shift is in progress" in refusal(caplog)


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"PRODUCTION_RULE_ARN": RULE}, "exactly one of PRODUCTION_LISTENER_ARN and PRODUCTION_RULE_ARN"),
        ({"PRODUCTION_LISTENER_ARN": ""}, "exactly one of PRODUCTION_LISTENER_ARN and PRODUCTION_RULE_ARN"),
        ({"TARGET_GROUPS": json.dumps({BLUE: BLUE_SUFFIX})}, "TARGET_GROUPS must map the two colours"),
        ({"TARGET_GROUPS": json.dumps({BLUE: BLUE_SUFFIX, GREEN: BLUE_SUFFIX})}, "TARGET_GROUPS must map"),
        ({"TARGET_GROUPS": "not json"}, "TARGET_GROUPS is not JSON"),
        ({"ALARM_NAMES": "[]"}, "ALARM_NAMES must be a non-empty list"),
        ({"ALARM_NAMES": json.dumps([""])}, "ALARM_NAMES must be a non-empty list"),
        ({"ALARM_NAMES": json.dumps([NAMES[0], NAMES[0]])}, "names an alarm twice"),
    ],
    ids=[
        "a listener and a rule",
        "neither",
        "one colour",
        "one suffix for both",
        "not JSON",
        "no alarm",
        "an empty name",
        "one alarm twice",
    ],
)
def test_a_broken_environment_fails_before_anything_is_asked(
    codedeploy: Stubber,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str],
    reason: str,
) -> None:
    monkeypatch.setattr(hook, "ELBV2", object())
    monkeypatch.setattr(hook, "CLOUDWATCH", object())
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert reason in refusal(caplog)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda m: m["MetricStat"]["Metric"]["Dimensions"].pop(), "does not watch one of the service's colours"),
        (
            lambda m: m["MetricStat"]["Metric"]["Dimensions"][1].update(Value="targetgroup/other/0123456789abcdef"),
            "does not watch one of the service's colours",
        ),
        (
            lambda m: m["MetricStat"]["Metric"]["Dimensions"].append({"Name": "TargetGroup", "Value": GREEN_SUFFIX}),
            "does not watch one of the service's colours",
        ),
    ],
    ids=["the whole load balancer", "a stranger's target group", "two target groups"],
)
def test_an_alarm_that_does_not_watch_one_colour_fails(
    elbv2: Stubber,
    cloudwatch: Stubber,
    codedeploy: Stubber,
    caplog: pytest.LogCaptureFixture,
    tamper: Any,
    reason: str,
) -> None:
    """Whatever an alarm watches besides the colours (all of the ALB's traffic, outsiders' included)
    cannot be made to judge green: refused, and nothing is put."""
    alarms = described(BLUE_SUFFIX)
    tamper(alarms[0]["Metrics"][0])
    expect_listener(elbv2, single(BLUE))
    cloudwatch.add_response(
        "describe_alarms", {"MetricAlarms": alarms}, {"AlarmNames": NAMES, "AlarmTypes": ["MetricAlarm"]}
    )
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert reason in refusal(caplog)


def test_an_alarm_that_is_gone_fails_before_any_alarm_changes(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    expect_listener(elbv2, single(BLUE))
    cloudwatch.add_response(
        "describe_alarms",
        {"MetricAlarms": described(BLUE_SUFFIX)[:1]},
        {"AlarmNames": NAMES, "AlarmTypes": ["MetricAlarm"]},
    )
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert f"no metric alarm named {NAMES[1:]}" in refusal(caplog)


def test_alarms_already_on_green_are_put_again_unchanged(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber
) -> None:
    """A retried hook (or a release after a rollback) finds the alarms on green already."""
    expect_listener(elbv2, single(BLUE))
    expect_alarms(cloudwatch, GREEN_SUFFIX, currently=GREEN_SUFFIX)
    expect_report(codedeploy, "Succeeded")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Succeeded"}


# --- API failures ---


def test_a_load_balancer_that_will_not_answer_fails_the_deployment(
    elbv2: Stubber, codedeploy: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    elbv2.add_client_error("describe_listeners", "AccessDenied", "not allowed", 403)
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert "DescribeListeners" in refusal(caplog)


def test_an_alarm_cloudwatch_refuses_fails_the_deployment(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    """The deployment stops even when some alarms already moved: nothing judges green unchecked."""
    expect_listener(elbv2, single(BLUE))
    expect_described(cloudwatch)
    first, _ = pointed_at(GREEN_SUFFIX)
    cloudwatch.add_response("put_metric_alarm", {}, first)
    cloudwatch.add_client_error("put_metric_alarm", "LimitExceeded", "too many alarms", 400)
    expect_report(codedeploy, "Failed")
    assert hook.handler(CODEDEPLOY_EVENT, None) == {"status": "Failed"}
    assert "PutMetricAlarm" in refusal(caplog)


def test_an_ecs_rule_that_will_not_answer_fails_the_hook(
    elbv2: Stubber, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ecs_native(monkeypatch)
    monkeypatch.setattr(hook, "CODEDEPLOY", object())
    elbv2.add_client_error("describe_rules", "RuleNotFound", "no such rule", 400)
    assert hook.handler(ECS_EVENT, None) == {"hookStatus": "FAILED"}
    assert "DescribeRules" in refusal(caplog)


# --- The rewrite, and the log ---


def test_only_the_target_group_changes_and_only_in_metrics() -> None:
    """Every other dimension, the expression, thresholds and actions go back as CloudWatch has them."""
    colours = {BLUE: BLUE_SUFFIX, GREEN: GREEN_SUFFIX}
    for before, expected in zip(described(BLUE_SUFFIX), pointed_at(GREEN_SUFFIX), strict=True):
        arguments, pointed = hook.pointed_at(before, colours, GREEN_SUFFIX)
        assert arguments == expected
        assert pointed == sum("MetricStat" in m for m in before["Metrics"])
        assert BLUE_SUFFIX not in json.dumps(arguments)
    assert described(BLUE_SUFFIX)[0]["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"][1]["Value"] == BLUE_SUFFIX


def test_every_definition_field_put_metric_alarm_takes_is_kept() -> None:
    """KEPT against botocore's model: a definition field PutMetricAlarm accepts and DescribeAlarms
    returns that the hook dropped would be reset to its default on every release."""
    model = boto3.client("cloudwatch", region_name=REGION).meta.service_model
    put = set(model.operation_model("PutMetricAlarm").input_shape.members)
    described_fields = set(model.shape_for("MetricAlarm").members)
    both = (put & described_fields) - {"Metrics"}
    assert set(hook.KEPT) == both - {
        # Single-metric alarm fields: the rollback alarms are metric math (Metrics), never these.
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
    }


def test_each_decision_is_one_json_line(
    elbv2: Stubber, cloudwatch: Stubber, codedeploy: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    expect_listener(elbv2, single(BLUE))
    expect_alarms(cloudwatch, GREEN_SUFFIX)
    expect_report(codedeploy, "Succeeded")
    with caplog.at_level(logging.INFO):
        hook.handler(CODEDEPLOY_EVENT, None)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "root"]
    assert [line["message"] for line in lines] == [
        "green is the colour production does not forward to",
        "alarm now judges green",
        "alarm now judges green",
        "alarms released to green",
    ]
    assert lines[0]["production"] == BLUE and lines[0]["green"] == GREEN and lines[0]["read_from"] == LISTENER
    assert [line["alarm"] for line in lines[1:3]] == NAMES
    assert lines[1]["metrics"] == 2 and lines[2]["metrics"] == 1
    assert all(line["deployment"] == CODEDEPLOY_EVENT["DeploymentId"] for line in lines)
