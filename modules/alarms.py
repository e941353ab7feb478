"""The alarms that roll a release back, judged on green alone, and the app's own error count.

Each rollback alarm is metric math on one target group: green's 5xx rate and p99 latency, both
counted only in minutes with at least ``min_requests_per_minute`` requests (so a few requests
cannot reach a rate), and green's unhealthy targets. Which target group is green alternates with
every deployment, so before a deployment starts green (CodeDeploy's BeforeInstall, ECS's
PRE_SCALE_UP), hooks/release_alarms.py reads each alarm back and puts it again with green's
target group as every metric's TargetGroup. Terraform creates them on the colour production does
not use yet, and leaves the metrics to the hook afterwards: the definition here is the only one.

The app's own logged 5xx count cannot tell the colours apart: it notifies, it never rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from constructs import Construct

PERIOD_SECONDS = 60
ELB_NAMESPACE = "AWS/ApplicationELB"


@dataclass(frozen=True)
class AlarmThresholds:
    target_5xx_percent: float
    min_requests_per_minute: int
    p99_latency_ms: int
    unhealthy_hosts: int
    app_5xx_per_minute: int


@dataclass(frozen=True)
class Measured:
    """One metric of a target group (GREEN) on the load balancer."""

    id: str
    metric: str
    stat: str


@dataclass(frozen=True)
class ReleaseAlarm:
    """A rollback alarm: metric math over green's metrics, breaching in ``datapoints`` of ``periods``."""

    key: str
    suffix: str
    description: str
    measured: tuple[Measured, ...]
    expression: str
    label: str
    threshold: float
    periods: int
    datapoints: int


def release_alarms(t: AlarmThresholds) -> tuple[ReleaseAlarm, ...]:
    requests = Measured("requests", "RequestCount", "Sum")
    enough = f"requests >= {t.min_requests_per_minute}"
    return (
        ReleaseAlarm(
            "release_5xx_rate",
            "release-5xx-rate",
            "Green's 5xx share of its requests; rolls the release back",
            (Measured("errors", "HTTPCode_Target_5XX_Count", "Sum"), requests),
            f"IF({enough}, 100 * errors / requests, 0)",
            "green 5xx percent",
            t.target_5xx_percent,
            3,
            2,
        ),
        ReleaseAlarm(
            "release_p99_latency",
            "release-p99-latency",
            "Green's p99 response time; rolls the release back",
            (Measured("latency", "TargetResponseTime", "p99"), requests),
            f"IF({enough}, latency, 0)",
            "green p99 seconds",
            t.p99_latency_ms / 1000,
            2,
            2,
        ),
        ReleaseAlarm(
            "release_unhealthy_hosts",
            "release-unhealthy-hosts",
            "Green's unhealthy targets; rolls the release back",
            (Measured("unhealthy", "UnHealthyHostCount", "Maximum"),),
            "unhealthy",
            "green unhealthy targets",
            t.unhealthy_hosts,
            2,
            2,
        ),
    )


@dataclass(frozen=True)
class RollbackAlarmsProps:
    #: Alarm name of each release alarm's suffix (config/naming.py).
    alarm_names: dict[str, str]
    thresholds: AlarmThresholds
    alb_arn_suffix: str
    #: The target group production does not forward to when the stack is created: the first green.
    first_green_target_group_arn_suffix: str
    topic_arn: str


@dataclass(frozen=True)
class RollbackAlarmsOutputs:
    #: What rolls back (the deployment group's or the ECS service's alarms), by reference.
    rollback_alarm_names: list[str]
    rollback_alarm_arns: list[str]


class RollbackAlarms(Construct):
    def __init__(self, scope: Construct, id: str, props: RollbackAlarmsProps) -> None:
        super().__init__(scope, id)
        p = props
        rollback = []
        for alarm in release_alarms(p.thresholds):
            resource = CloudwatchMetricAlarm(
                self,
                alarm.key,
                alarm_name=p.alarm_names[alarm.suffix],
                alarm_description=alarm.description,
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=alarm.threshold,
                evaluation_periods=alarm.periods,
                datapoints_to_alarm=alarm.datapoints,
                treat_missing_data="notBreaching",
                alarm_actions=[p.topic_arn],
                metric_query=[
                    *(
                        CloudwatchMetricAlarmMetricQuery(
                            id=m.id,
                            return_data=False,
                            metric=CloudwatchMetricAlarmMetricQueryMetric(
                                namespace=ELB_NAMESPACE,
                                metric_name=m.metric,
                                period=PERIOD_SECONDS,
                                stat=m.stat,
                                dimensions={
                                    "LoadBalancer": p.alb_arn_suffix,
                                    "TargetGroup": p.first_green_target_group_arn_suffix,
                                },
                            ),
                        )
                        for m in alarm.measured
                    ),
                    CloudwatchMetricAlarmMetricQuery(
                        id="verdict", expression=alarm.expression, label=alarm.label, return_data=True
                    ),
                ],
                # The hook rewrites which target group it watches before every deployment.
                lifecycle=TerraformResourceLifecycle(ignore_changes=["metric_query"]),
            )
            rollback.append(resource)
        self.outputs = RollbackAlarmsOutputs(
            rollback_alarm_names=[a.alarm_name for a in rollback],
            rollback_alarm_arns=[a.arn for a in rollback],
        )


@dataclass(frozen=True)
class AppErrorsProps:
    #: The app's own 5xx, counted from its JSON request log lines (every error path logs its status).
    app_log_group_name: str
    filter_name: str
    alarm_name: str
    metric_namespace: str
    per_minute: int
    topic_arn: str


@dataclass(frozen=True)
class AppErrorsOutputs:
    alarm_arn: str


class AppErrors(Construct):
    """The app's logged 5xx, both colours together: it notifies, it never rolls back."""

    def __init__(self, scope: Construct, id: str, props: AppErrorsProps) -> None:
        super().__init__(scope, id)
        p = props
        CloudwatchLogMetricFilter(
            self,
            "app_5xx_filter",
            name=p.filter_name,
            log_group_name=p.app_log_group_name,
            pattern="{ $.status >= 500 }",
            metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name="App5xx", namespace=p.metric_namespace, value="1", default_value="0"
            ),
        )
        app = CloudwatchMetricAlarm(
            self,
            "app_5xx",
            alarm_name=p.alarm_name,
            alarm_description="5xx responses the app logged (both colours); notifies, never rolls back",
            namespace=p.metric_namespace,
            metric_name="App5xx",
            statistic="Sum",
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=p.per_minute,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[p.topic_arn],
        )
        self.outputs = AppErrorsOutputs(alarm_arn=app.arn)
