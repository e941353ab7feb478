"""The Fargate cluster, the service and its task definition; its deployer says how it deploys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from cdktf import ITerraformDependable, TerraformResource, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetrics,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStat,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetric,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetricDimensions,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_scheduled_action import (
    AppautoscalingScheduledAction,
    AppautoscalingScheduledActionScalableTargetAction,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceAlarms,
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentCircuitBreaker,
    EcsServiceDeploymentConfiguration,
    EcsServiceDeploymentConfigurationCanaryConfiguration,
    EcsServiceDeploymentConfigurationLifecycleHook,
    EcsServiceDeploymentConfigurationLinearConfiguration,
    EcsServiceDeploymentController,
    EcsServiceLoadBalancer,
    EcsServiceLoadBalancerAdvancedConfiguration,
    EcsServiceNetworkConfiguration,
    EcsServiceServiceRegistries,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionRuntimePlatform,
    EcsTaskDefinitionVolume,
)
from constructs import Construct

from modules import deploy_specs
from modules.depends import after
from modules.logs import encrypted_log_group


@dataclass(frozen=True)
class NativeBlueGreen:
    """ECS's own blue/green deployments (deployment controller ECS), instead of CodeDeploy."""

    #: "BLUE_GREEN" (all at once), "CANARY" or "LINEAR".
    strategy: str
    #: Canary: share of the first step; linear: share of each step.
    step_percent: int
    #: Canary: wait before the rest; linear: wait between steps.
    step_minutes: int
    #: Both revisions run this long after the shift, so rollback stays instant.
    bake_minutes: int
    green_target_group_arn: str
    prod_listener_rule_arn: str
    test_listener_rule_arn: str
    #: Role ECS assumes to rewrite the listener rules.
    infrastructure_role_arn: str
    #: Lambda run after test traffic reaches green (None: no hook), and the role ECS invokes hooks with.
    test_hook_arn: str | None
    hook_role_arn: str
    #: Lambda run before green's tasks start: points the rollback alarms at green.
    release_alarms_hook_arn: str
    #: Alarms that stop the deployment and roll back (by reference: they exist first).
    alarm_names: list[str]


@dataclass(frozen=True)
class ServiceDeployment:
    """How the service's deployments run, as its deployer (modules/deployers.py) sets them."""

    #: ECS's deployment controller type: CODE_DEPLOY or ECS.
    controller: str
    #: What Terraform ignores after creation: the controller changes it.
    owned_fields: tuple[str, ...]
    #: ECS's own blue/green settings, with the ECS-native deployer only.
    native: NativeBlueGreen | None = None
    #: A rolling release's circuit breaker: None for none (blue/green, the DR standby); True rolls a
    #: failed release back to the last revision that reached steady state, False only stops it.
    circuit_breaker_rollback: bool | None = None


@dataclass(frozen=True)
class BehindLoadBalancer:
    """A routed service: its tasks start in blue's target group, and its controller moves them."""

    blue_target_group_arn: str
    #: What forwards to the target groups (listeners, rules): ECS refuses a target group that no
    #: load balancer uses ("does not have an associated load balancer"), so the service waits.
    target_group_forwarders: Sequence[ITerraformDependable]
    health_check_grace_period_seconds: int


@dataclass(frozen=True)
class InNamespace:
    """A service without a route: ECS registers each task's address in its Cloud Map service,
    which callers resolve by name in the VPC.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-discovery.html
    """

    registry_arn: str


@dataclass(frozen=True)
class Schedule:
    name: str
    schedule: str
    timezone: str
    min_tasks: int
    max_tasks: int


@dataclass(frozen=True)
class Autoscaling:
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int | None
    memory_target_percent: int | None
    scale_in_cooldown_seconds: int
    scale_out_cooldown_seconds: int
    schedules: tuple[Schedule, ...] = ()
    #: Target of the load balancer's requests per running task per minute (None: not used), and
    #: the load balancer counted (its ARN suffix, the CloudWatch dimension).
    requests_per_task_per_minute: int | None = None
    alb_arn_suffix: str | None = None


@dataclass(frozen=True)
class CapacityShare:
    """One entry of the service's capacity provider strategy."""

    provider: str
    weight: int
    base: int = 0


@dataclass(frozen=True)
class ClusterRef:
    """The environment's cluster, as its services see it."""

    arn: str
    name: str
    #: The cluster's capacity providers: a service's strategy may only name providers already associated.
    capacity_providers: ITerraformDependable


@dataclass(frozen=True)
class ClusterProps:
    name: str
    #: For services that set no strategy of their own (each service here sets one).
    default_capacity: tuple[CapacityShare, ...]


class Cluster(Construct):
    """The environment's Fargate cluster (Container Insights on) with FARGATE and FARGATE_SPOT."""

    def __init__(self, scope: Construct, id: str, props: ClusterProps) -> None:
        super().__init__(scope, id)
        cluster = EcsCluster(
            self, "cluster", name=props.name, setting=[EcsClusterSetting(name="containerInsights", value="enabled")]
        )
        capacity_providers = EcsClusterCapacityProviders(
            self,
            "capacity_providers",
            cluster_name=cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                    capacity_provider=share.provider, weight=share.weight, base=share.base
                )
                for share in props.default_capacity
            ],
        )
        self.outputs = ClusterRef(arn=cluster.arn, name=cluster.name, capacity_providers=capacity_providers)


@dataclass(frozen=True)
class EcsProps:
    cluster: ClusterRef
    service_name: str
    task: deploy_specs.TaskSpec
    #: Image of the first task definition, before the pipeline's first deployment replaces it.
    initial_image: str
    desired_count: int
    #: None keeps desired_count fixed; otherwise Application Auto Scaling owns the task count and
    #: Terraform stops resetting it.
    autoscaling: Autoscaling | None
    #: FARGATE / FARGATE_SPOT split (replaces a launch type).
    capacity: tuple[CapacityShare, ...]
    private_subnet_ids: Sequence[str]
    #: The tasks' shared group first, then the service's own (its callers' or callees' rules).
    security_group_ids: Sequence[str]
    #: How the service is reached: behind the load balancer, or by name in the namespace.
    reached: BehindLoadBalancer | InNamespace
    log_retention_days: int
    logs_kms_key_arn: str
    deployment: ServiceDeployment


@dataclass(frozen=True)
class EcsOutputs:
    cluster_arn: str
    cluster_name: str
    service_arn: str
    service_name: str
    task_definition_arn: str
    task_family: str
    log_group_arn: str
    log_group_name: str
    #: The task as registered: its family and log group are references, so whatever repeats it
    #: (the build's taskdef.json) is created after them.
    task: deploy_specs.TaskSpec


class Ecs(Construct):
    def __init__(self, scope: Construct, id: str, props: EcsProps) -> None:
        super().__init__(scope, id)
        p = props
        cluster = p.cluster
        log_group = encrypted_log_group(
            self, "log_group", p.task.container.log_group_name, p.log_retention_days, p.logs_kms_key_arn
        )
        # The awslogs driver names the log group: reference it, so it exists before any task starts.
        task = replace(p.task, container=replace(p.task.container, log_group_name=log_group.name))
        task_definition = self._task_definition(task, p.initial_image)
        native = p.deployment.native
        ignored = [*p.deployment.owned_fields, *(["desired_count"] if p.autoscaling else [])]
        service = EcsService(
            self,
            "service",
            name=p.service_name,
            cluster=cluster.arn,
            task_definition=task_definition.arn,
            desired_count=p.desired_count,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(
                    capacity_provider=share.provider, weight=share.weight, base=share.base
                )
                for share in p.capacity
            ],
            platform_version="LATEST",
            deployment_controller=EcsServiceDeploymentController(type=p.deployment.controller),
            deployment_configuration=_deployment_configuration(native) if native else None,
            deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(
                enable=True, rollback=p.deployment.circuit_breaker_rollback
            )
            if p.deployment.circuit_breaker_rollback is not None
            else None,
            alarms=EcsServiceAlarms(alarm_names=native.alarm_names, enable=True, rollback=True) if native else None,
            load_balancer=self._load_balancer(p.reached, task, native),
            service_registries=EcsServiceServiceRegistries(registry_arn=p.reached.registry_arn)
            if isinstance(p.reached, InNamespace)
            else None,
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=list(p.private_subnet_ids), security_groups=list(p.security_group_ids), assign_public_ip=False
            ),
            # The grace period delays the load balancer's health checks; without one, the container
            # health check's own start period covers start-up.
            health_check_grace_period_seconds=p.reached.health_check_grace_period_seconds
            if isinstance(p.reached, BehindLoadBalancer)
            else None,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            lifecycle=TerraformResourceLifecycle(ignore_changes=ignored),
            # A strategy may only name capacity providers associated with the cluster already.
            # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html
            depends_on=[
                log_group,
                cluster.capacity_providers,
                *(p.reached.target_group_forwarders if isinstance(p.reached, BehindLoadBalancer) else ()),
            ],
        )
        self._service = service
        if p.autoscaling:
            self._autoscaling(p.autoscaling, cluster, service)
        self.outputs = EcsOutputs(
            cluster_arn=cluster.arn,
            cluster_name=cluster.name,
            service_arn=service.id,
            service_name=service.name,
            task_definition_arn=task_definition.arn,
            task_family=task_definition.family,
            log_group_arn=log_group.arn,
            log_group_name=log_group.name,
            task=replace(task, family=task_definition.family),
        )

    @staticmethod
    def _load_balancer(
        reached: BehindLoadBalancer | InNamespace, task: deploy_specs.TaskSpec, native: NativeBlueGreen | None
    ) -> list[EcsServiceLoadBalancer]:
        if not isinstance(reached, BehindLoadBalancer):
            return []
        return [
            EcsServiceLoadBalancer(
                target_group_arn=reached.blue_target_group_arn,
                container_name=task.container.name,
                container_port=task.container.port,
                advanced_configuration=EcsServiceLoadBalancerAdvancedConfiguration(
                    alternate_target_group_arn=native.green_target_group_arn,
                    production_listener_rule=native.prod_listener_rule_arn,
                    test_listener_rule=native.test_listener_rule_arn,
                    role_arn=native.infrastructure_role_arn,
                )
                if native
                else None,
            )
        ]

    def start_after(self, *permissions: TerraformResource) -> None:
        """The service's tasks start at once: they (and ECS, for ECS-native blue/green) need these
        role policies from the first task on, and until the last task has drained on destroy."""
        after(self._service, *permissions)

    def _task_definition(self, task: deploy_specs.TaskSpec, initial_image: str) -> EcsTaskDefinition:
        return EcsTaskDefinition(
            self,
            "task_definition",
            family=task.family,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(task.cpu),
            memory=str(task.memory),
            execution_role_arn=task.execution_role_arn,
            task_role_arn=task.task_role_arn,
            runtime_platform=EcsTaskDefinitionRuntimePlatform(
                operating_system_family="LINUX", cpu_architecture=task.cpu_architecture
            ),
            container_definitions=deploy_specs.container_definitions_json(task.container, initial_image),
            volume=[EcsTaskDefinitionVolume(name=deploy_specs.TMP_VOLUME)],
        )

    def _autoscaling(self, scaling: Autoscaling, cluster: ClusterRef, service: EcsService) -> None:
        """Scale the service itself (not a task set), so scaling keeps working through deployments."""
        target = AppautoscalingTarget(
            self,
            "scaling_target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{cluster.name}/{service.name}",
            min_capacity=scaling.min_tasks,
            max_capacity=scaling.max_tasks,
            # Scheduled actions move the range themselves (e.g. to 0 at night); re-applying the
            # daytime range would undo them.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["min_capacity", "max_capacity"])
            if scaling.schedules
            else None,
        )
        predefined = AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification
        # name -> (target, what is measured); a target of None switches that policy off.
        tracked: dict[str, tuple[int | None, dict[str, object]]] = {
            "cpu": (
                scaling.cpu_target_percent,
                {
                    "predefined_metric_specification": predefined(
                        predefined_metric_type="ECSServiceAverageCPUUtilization"
                    )
                },
            ),
            "memory": (
                scaling.memory_target_percent,
                {
                    "predefined_metric_specification": predefined(
                        predefined_metric_type="ECSServiceAverageMemoryUtilization"
                    )
                },
            ),
        }
        if scaling.requests_per_task_per_minute is not None:
            assert scaling.alb_arn_suffix, "requests-per-task scaling needs the load balancer"
            tracked["requests"] = (
                scaling.requests_per_task_per_minute,
                {
                    "customized_metric_specification": _requests_per_task(
                        scaling.alb_arn_suffix, cluster.name, service.name
                    )
                },
            )
        for name, (target_value, measured) in tracked.items():
            if target_value is None:
                continue
            AppautoscalingPolicy(
                self,
                f"scale_on_{name}",
                name=f"{service.name}-{name}",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=target_value,
                    scale_in_cooldown=scaling.scale_in_cooldown_seconds,
                    scale_out_cooldown=scaling.scale_out_cooldown_seconds,
                    **measured,
                ),
            )
        for schedule in scaling.schedules:
            AppautoscalingScheduledAction(
                self,
                f"schedule_{schedule.name}",
                name=f"{service.name}-{schedule.name}",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                schedule=schedule.schedule,
                timezone=schedule.timezone,
                scalable_target_action=AppautoscalingScheduledActionScalableTargetAction(
                    min_capacity=str(schedule.min_tasks), max_capacity=str(schedule.max_tasks)
                ),
            )


def _requests_per_task(
    alb_arn_suffix: str, cluster_name: str, service_name: str
) -> AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification:
    """The load balancer's requests per minute over the service's running tasks (metric math).

    ALBRequestCountPerTarget names one target group, and the one serving production alternates
    between blue and green; the load balancer and the service stay the same across deployments.
    """
    spec = AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification
    metric = AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetrics
    stat = AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStat
    named = (
        AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetric
    )
    dimension = AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetricDimensions  # noqa: E501

    def measured(id: str, namespace: str, name: str, statistic: str, dimensions: dict[str, str]) -> object:
        return metric(
            id=id,
            return_data=False,
            metric_stat=stat(
                stat=statistic,
                metric=named(
                    namespace=namespace,
                    metric_name=name,
                    dimensions=[dimension(name=k, value=v) for k, v in dimensions.items()],
                ),
            ),
        )

    return spec(
        metrics=[
            measured("requests", "AWS/ApplicationELB", "RequestCount", "Sum", {"LoadBalancer": alb_arn_suffix}),
            # Container Insights (on for every cluster here) counts the service's running tasks.
            measured(
                "tasks",
                "ECS/ContainerInsights",
                "RunningTaskCount",
                "Average",
                {"ClusterName": cluster_name, "ServiceName": service_name},
            ),
            metric(id="per_task", expression="requests / tasks", label="ALB requests per task", return_data=True),
        ]
    )


def _deployment_configuration(native: NativeBlueGreen) -> EcsServiceDeploymentConfiguration:
    hooks = [
        # As CodeDeploy's BeforeInstall: the rollback alarms judge green before any of its tasks run.
        EcsServiceDeploymentConfigurationLifecycleHook(
            hook_target_arn=native.release_alarms_hook_arn,
            role_arn=native.hook_role_arn,
            lifecycle_stages=["PRE_SCALE_UP"],
        ),
        *(
            [
                EcsServiceDeploymentConfigurationLifecycleHook(
                    hook_target_arn=native.test_hook_arn,
                    role_arn=native.hook_role_arn,
                    # The same checks as CodeDeploy's AfterAllowTestTraffic: green, via the test listener.
                    lifecycle_stages=["POST_TEST_TRAFFIC_SHIFT"],
                )
            ]
            if native.test_hook_arn
            else []
        ),
    ]
    return EcsServiceDeploymentConfiguration(
        strategy=native.strategy,
        bake_time_in_minutes=str(native.bake_minutes),
        canary_configuration=EcsServiceDeploymentConfigurationCanaryConfiguration(
            canary_percent=native.step_percent, canary_bake_time_in_minutes=str(native.step_minutes)
        )
        if native.strategy == "CANARY"
        else None,
        linear_configuration=EcsServiceDeploymentConfigurationLinearConfiguration(
            step_percent=native.step_percent, step_bake_time_in_minutes=str(native.step_minutes)
        )
        if native.strategy == "LINEAR"
        else None,
        lifecycle_hook=hooks,
    )
