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
- ALARMS: JSON list of complete cloudwatch.put_metric_alarm keyword arguments; every occurrence of
  "{GREEN_TARGET_GROUP}" in them becomes green's target group ARN suffix.
"""

from __future__ import annotations

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
#: Replaced, wherever it occurs in ALARMS, by green's target group ARN suffix.
PLACEHOLDER = "{GREEN_TARGET_GROUP}"


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


def alarm_definitions() -> list[dict[str, Any]]:
    alarms = _json("ALARMS")
    if not (
        isinstance(alarms, list)
        and alarms
        and all(isinstance(a, dict) and isinstance(a.get("AlarmName"), str) and a["AlarmName"] for a in alarms)
    ):
        raise Refused("ALARMS must be a non-empty list of put_metric_alarm arguments, each with an AlarmName")
    return alarms


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


def with_green(value: Any, suffix: str) -> Any:
    """``value`` with every PLACEHOLDER in its strings replaced by ``suffix``, at any depth."""
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, suffix)
    if isinstance(value, list):
        return [with_green(item, suffix) for item in value]
    if isinstance(value, dict):
        return {key: with_green(item, suffix) for key, item in value.items()}
    return value


def release(deployment: str) -> list[str]:
    """Point every alarm at green; the names of the alarms put. Raises on any doubt or error."""
    colours = target_groups()
    alarms = alarm_definitions()
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
    blue_suffix, green_suffix = colours[production], colours[green]
    put = []
    for definition in alarms:
        arguments = with_green(definition, green_suffix)
        if blue_suffix in json.dumps(arguments):
            raise Refused(f"alarm {definition['AlarmName']} names production's target group {blue_suffix}")
        _client("cloudwatch").put_metric_alarm(**arguments)
        _log(
            logging.INFO,
            "alarm now judges green",
            deployment=deployment,
            alarm=arguments["AlarmName"],
            green=green_suffix,
            replaced=json.dumps(definition).count(PLACEHOLDER),
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
