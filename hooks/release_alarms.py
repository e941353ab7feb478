"""Lifecycle hook before any new task runs: point the rollback alarms at the colour being deployed.

The deployment's rollback alarms must judge green alone: blue keeps serving production while green
is tested, and errors of blue's (or of outsiders against blue) must never roll a release back. So
before green starts, this function finds green (the target group production does NOT forward to
now, read from the load balancer, never from the event) and rewrites each alarm with green's
target group in its dimensions. Any doubt or error fails the hook and so stops the deployment:
better than judging the wrong colour.

Triggered as CodeDeploy's BeforeInstall hook (the event carries DeploymentId and
LifecycleEventHookExecutionId; the verdict is reported through CodeDeploy's API) or as ECS's
PRE_SCALE_UP lifecycle hook (the verdict is the return value's hookStatus). Standard library and
boto3 only (both in the Lambda runtime).

Environment, set by the infrastructure:
- PRODUCTION_LISTENER_ARN (CodeDeploy: the listener whose default action forwards production) or
  PRODUCTION_RULE_ARN (ECS-native: the listener rule ECS shifts); exactly one.
- TARGET_GROUPS: JSON object {target group ARN: its ARN suffix} of the two colours.
- ALARM_NAMES: JSON list of the rollback alarms' names. Each is read back (DescribeAlarms) and put
  again as it is, with the TargetGroup dimension of each of its metrics set to green's ARN suffix:
  Terraform's definition stays the only one, and the environment stays far below Lambda's 4 KB.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any

log = logging.getLogger()
log.setLevel(logging.INFO)

#: Set by tests to stubbed clients; created on first use in Lambda.
CODEDEPLOY: Any = None
ELBV2: Any = None
CLOUDWATCH: Any = None
#: What PutMetricAlarm takes back from DescribeAlarms unchanged, besides Metrics (an alarm's state,
#: ARN and timestamps are not its definition; tags are left as they are by an update).
KEPT = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "ThresholdMetricId",
)


class Refused(Exception):
    """What the function found does not let it tell green from production with certainty."""


def _client(name: str) -> Any:
    cached = globals()[name.upper()]
    if cached is None:
        import boto3
        from botocore.config import Config

        # Bounded: a hook that hangs on an API call leaves the deployment waiting for an hour.
        config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
        cached = globals()[name.upper()] = boto3.client(name, config=config)
    return cached


def _log(level: int, message: str, **fields: Any) -> None:
    log.log(level, json.dumps({"message": message, **fields}, default=str))


def _json(name: str) -> Any:
    try:
        return json.loads(os.environ[name])
    except KeyError:
        raise Refused(f"{name} is not set") from None
    except ValueError as error:
        raise Refused(f"{name} is not JSON: {error}") from None


def target_groups() -> dict[str, str]:
    """The two colours: target group ARN → ARN suffix (the TargetGroup dimension's value)."""
    groups = _json("TARGET_GROUPS")
    if not (
        isinstance(groups, dict)
        and len(groups) == 2
        and all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in groups.items())
        and len(set(groups.values())) == 2
    ):
        raise Refused("TARGET_GROUPS must map the two colours' target group ARNs to their ARN suffixes")
    return groups


def alarm_names() -> list[str]:
    names = _json("ALARM_NAMES")
    if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
        raise Refused("ALARM_NAMES must be a non-empty list of alarm names")
    if len(set(names)) != len(names):
        raise Refused(f"ALARM_NAMES names an alarm twice: {names}")
    return names


def described(names: list[str]) -> list[dict[str, Any]]:
    """The alarms as CloudWatch has them now, in the order of ``names``."""
    answer = _client("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])
    found = {a["AlarmName"]: a for a in answer.get("MetricAlarms") or []}
    missing = [n for n in names if n not in found]
    if missing:
        raise Refused(f"CloudWatch has no metric alarm named {missing}")
    return [found[n] for n in names]


def production_actions() -> tuple[str, list[dict[str, Any]]]:
    """(ARN, actions) of what forwards production now: the listener's default actions or the rule's."""
    listener = os.environ.get("PRODUCTION_LISTENER_ARN", "").strip()
    rule = os.environ.get("PRODUCTION_RULE_ARN", "").strip()
    if bool(listener) == bool(rule):
        raise Refused("exactly one of PRODUCTION_LISTENER_ARN and PRODUCTION_RULE_ARN must be set")
    elbv2 = _client("elbv2")
    if listener:
        listeners = elbv2.describe_listeners(ListenerArns=[listener]).get("Listeners") or []
        if len(listeners) != 1:
            raise Refused(f"the load balancer does not know the listener {listener}")
        return listener, listeners[0].get("DefaultActions") or []
    rules = elbv2.describe_rules(RuleArns=[rule]).get("Rules") or []
    if len(rules) != 1:
        raise Refused(f"the load balancer does not know the rule {rule}")
    return rule, rules[0].get("Actions") or []


def forward_weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    """Target group ARN → weight of the one forward action (a single target group weighs 1)."""
    forwards = [a for a in actions if a.get("Type") == "forward"]
    if len(forwards) != 1:
        raise Refused(f"production has {len(forwards)} forward actions; exactly one was expected")
    (action,) = forwards
    single = action.get("TargetGroupArn")
    tuples = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if not tuples:
        if not single:
            raise Refused("the forward action names no target group")
        return {single: 1}
    weights: dict[str, int] = {}
    for group in tuples:
        arn = group.get("TargetGroupArn")
        if not arn or arn in weights:
            raise Refused(f"the forward action's target groups are unclear: {tuples}")
        weights[arn] = int(group.get("Weight", 1))
    if single and list(weights) != [single]:  # AWS allows both only for one and the same group
        raise Refused(f"the forward action names {single} and, in its ForwardConfig, {sorted(weights)}")
    return weights


def production_and_green(weights: dict[str, int], colours: dict[str, str]) -> tuple[str, str]:
    """(production, green) target group ARNs: production is the one with the larger weight."""
    strangers = sorted(set(weights) - set(colours))
    if strangers:
        raise Refused(f"production forwards to target groups that are not the service's colours: {strangers}")
    top = max(weights.values())
    leaders = [arn for arn, weight in weights.items() if weight == top]
    if top <= 0:
        raise Refused(f"production forwards to no target group with a weight: {weights}")
    if len(leaders) > 1:
        raise Refused(f"production is split evenly between the colours, a shift is in progress: {weights}")
    (production,) = leaders
    (green,) = [arn for arn in colours if arn != production]
    return production, green


def pointed_at(alarm: dict[str, Any], colours: dict[str, str], green_suffix: str) -> tuple[dict[str, Any], int]:
    """put_metric_alarm arguments of ``alarm`` with each metric's TargetGroup set to green, and how
    many metrics that was. Every metric must watch one of the two colours: an alarm on anything
    else (the whole load balancer, a stranger's target group) would not judge green alone."""
    name = alarm["AlarmName"]
    metrics = copy.deepcopy(alarm.get("Metrics") or [])
    if not metrics:
        raise Refused(f"alarm {name} is not metric math over the target groups' metrics")
    pointed = 0
    for query in metrics:
        if "MetricStat" not in query:
            continue  # an expression over the metrics
        dimensions = query["MetricStat"]["Metric"].get("Dimensions") or []
        groups = [d for d in dimensions if d.get("Name") == "TargetGroup"]
        if len(groups) != 1 or groups[0].get("Value") not in colours.values():
            raise Refused(f"alarm {name}: metric {query.get('Id')} does not watch one of the service's colours")
        groups[0]["Value"] = green_suffix
        pointed += 1
    if not pointed:
        raise Refused(f"alarm {name} reads no target group's metric")
    arguments = {key: alarm[key] for key in KEPT if key in alarm}
    arguments["Metrics"] = metrics
    return arguments, pointed


def release(deployment: str) -> list[str]:
    """Point every alarm at green; the names of the alarms put. Raises on any doubt or error."""
    colours = target_groups()
    names = alarm_names()
    source, actions = production_actions()
    weights = forward_weights(actions)
    production, green = production_and_green(weights, colours)
    _log(
        logging.INFO,
        "green is the colour production does not forward to",
        deployment=deployment,
        read_from=source,
        weights=weights,
        production=production,
        green=green,
    )
    green_suffix = colours[green]
    put = []
    for alarm in described(names):
        arguments, pointed = pointed_at(alarm, colours, green_suffix)
        _client("cloudwatch").put_metric_alarm(**arguments)
        _log(
            logging.INFO,
            "alarm now judges green",
            deployment=deployment,
            alarm=arguments["AlarmName"],
            green=green_suffix,
            metrics=pointed,
        )
        put.append(arguments["AlarmName"])
    return put


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """CodeDeploy's hook event carries a hook execution id, and the result is reported through its
    API; ECS's lifecycle hook reads the result from the return value (hookStatus)."""
    codedeploy = "LifecycleEventHookExecutionId" in event
    deployment = event.get("DeploymentId") or (event.get("executionDetails") or {}).get("serviceArn", "ecs")
    try:
        alarms = release(str(deployment))
    except Exception as error:  # any doubt stops the deployment: better than judging the wrong colour
        status = "Failed"
        _log(
            logging.ERROR,
            "alarms not released to green",
            deployment=deployment,
            reason=f"{type(error).__name__}: {error}",
        )
    else:
        status = "Succeeded"
        _log(logging.INFO, "alarms released to green", deployment=deployment, alarms=alarms)
    if not codedeploy:
        return {"hookStatus": "SUCCEEDED" if status == "Succeeded" else "FAILED"}
    _client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status}
