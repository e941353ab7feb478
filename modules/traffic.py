"""Traffic shifting for CodeDeploy ECS deployments: a predefined config when one matches, else our own."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.codedeploy_deployment_config import (
    CodedeployDeploymentConfig,
    CodedeployDeploymentConfigTrafficRoutingConfig,
    CodedeployDeploymentConfigTrafficRoutingConfigTimeBasedCanary,
    CodedeployDeploymentConfigTrafficRoutingConfigTimeBasedLinear,
)
from constructs import Construct


@dataclass(frozen=True)
class TrafficShifting:
    #: "all_at_once", "canary" (percent first, the rest after interval) or "linear" (percent every interval).
    kind: str
    percent: int = 100
    interval_minutes: int = 0


#: CodeDeploy's predefined ECS configurations, by what they do.
PREDEFINED = {
    TrafficShifting("all_at_once"): "CodeDeployDefault.ECSAllAtOnce",
    TrafficShifting("canary", 10, 5): "CodeDeployDefault.ECSCanary10Percent5Minutes",
    TrafficShifting("canary", 10, 15): "CodeDeployDefault.ECSCanary10Percent15Minutes",
    TrafficShifting("linear", 10, 1): "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    TrafficShifting("linear", 10, 3): "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
}


def deployment_config_name(scope: Construct, name_prefix: str, shifting: TrafficShifting) -> str:
    """The predefined config's name, or the name of one created for this shifting."""
    if shifting in PREDEFINED:
        return PREDEFINED[shifting]
    name = f"{name_prefix}-{shifting.kind}-{shifting.percent}pct-{shifting.interval_minutes}min"
    if shifting.kind == "canary":
        routing = CodedeployDeploymentConfigTrafficRoutingConfig(
            type="TimeBasedCanary",
            time_based_canary=CodedeployDeploymentConfigTrafficRoutingConfigTimeBasedCanary(
                percentage=shifting.percent, interval=shifting.interval_minutes
            ),
        )
    elif shifting.kind == "linear":
        routing = CodedeployDeploymentConfigTrafficRoutingConfig(
            type="TimeBasedLinear",
            time_based_linear=CodedeployDeploymentConfigTrafficRoutingConfigTimeBasedLinear(
                percentage=shifting.percent, interval=shifting.interval_minutes
            ),
        )
    else:
        raise ValueError(f"unknown traffic shifting {shifting.kind!r}")
    config = CodedeployDeploymentConfig(
        scope, "deployment_config", deployment_config_name=name, compute_platform="ECS", traffic_routing_config=routing
    )
    created: str = config.deployment_config_name
    return created
