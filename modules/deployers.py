"""Who deploys a service, one type per deployment controller; ``deployer_for`` chooses, once.

A deployer gives everything that differs between controllers: the ECS service's deployment
settings and the fields Terraform leaves to the controller after creation, whether the load
balancer needs listener rules, how the hooks find production and report, which extra roles the
controller needs, and the pipeline's deploy action with what it needs (CodeDeploy's application
and deployment group). No other module asks which controller is in use.

- ``CodeDeployDeployer``: CodeDeploy blue/green (CODE_DEPLOY controller): it swaps the listeners'
  default actions between the target groups, runs the hooks named in the AppSpec.
- ``EcsNativeDeployer``: ECS's own blue/green (ECS controller): ECS rewrites one listener rule
  per listener through an infrastructure role and invokes the hooks as lifecycle hooks.
- ``RollingReleaseDeployer``: a service without a route (a worker, an internal service): the
  pipeline's release step rolls it, and ECS's circuit breaker rolls a release back whose tasks fail.
- ``RollingDeployer``: a plain rolling ECS service, the DR region's standby (nothing deploys there
  until a failover; then operators roll it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import (
    CodedeployDeploymentGroup,
    CodedeployDeploymentGroupAlarmConfiguration,
    CodedeployDeploymentGroupAutoRollbackConfiguration,
    CodedeployDeploymentGroupBlueGreenDeploymentConfig,
    CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption,
    CodedeployDeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccess,
    CodedeployDeploymentGroupDeploymentStyle,
    CodedeployDeploymentGroupEcsService,
    CodedeployDeploymentGroupLoadBalancerInfo,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfo,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRoute,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroup,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRoute,
)
from cdktf_cdktf_provider_aws.codepipeline import CodepipelineStageAction
from constructs import Construct

from config import EnvironmentConfig
from config.schema import ROLLING_RELEASE_MINUTES, Canary, Linear, Traffic, ecs_native_release_minutes
from modules import codebuild, deploy_specs
from modules.deployment_hooks import ListenerForward, RuleForward
from modules.ecs import NativeBlueGreen, ServiceDeployment
from modules.load_balancer import TrafficRoute
from modules.security import ServiceRolesOutputs
from modules.traffic import TrafficShifting, deployment_config_name

#: Either controller registers task definitions and moves the service between target groups after
#: creation; Terraform must leave both alone or the next apply would undo a deployment.
CONTROLLER_OWNED_SERVICE_FIELDS = ("task_definition", "load_balancer")
#: CodeDeploy also owns what only a deployment can change: UpdateService refuses these for a
#: CODE_DEPLOY service, and each release's AppSpec carries them to green's task set instead.
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
CODEDEPLOY_OWNED_SERVICE_FIELDS = (
    *CONTROLLER_OWNED_SERVICE_FIELDS,
    "network_configuration",
    "platform_version",
    "capacity_provider_strategy",
)
#: A failed deployment and an alarm during one both return traffic to blue.
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
#: ECS-native strategies for each kind of traffic shifting.
ECS_STRATEGIES = {"all_at_once": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}


def traffic_shifting(traffic: Traffic) -> TrafficShifting:
    if isinstance(traffic, Canary):
        return TrafficShifting("canary", traffic.percent, traffic.minutes)
    if isinstance(traffic, Linear):
        return TrafficShifting("linear", traffic.percent, traffic.every_minutes)
    return TrafficShifting("all_at_once")


@dataclass(frozen=True)
class ReleaseHooks:
    """The Lambdas a release runs: before green starts, and (optionally) once test traffic reaches it."""

    release_alarms_arn: str
    test_traffic_arn: str | None


@dataclass(frozen=True)
class Release:
    """What a release of the service runs and is judged by."""

    route: TrafficRoute
    roles: ServiceRolesOutputs
    hooks: ReleaseHooks
    #: The alarms that stop and roll back a deployment (modules/alarms.py), by reference.
    rollback_alarm_names: Sequence[str]


@dataclass(frozen=True)
class DeployTarget:
    """The service a pipeline deploys, as its deployer needs it."""

    cluster_name: str
    service_name: str
    #: The blue/green release (None: a rolling release, which needs only the service).
    release: Release | None
    #: The release step's CodeBuild project (modules/ecs_release.py), when the deployer has one.
    release_project_name: str | None = None


@dataclass(frozen=True)
class CodeDeployRefs:
    app_arn: str
    app_name: str
    deployment_group_arn: str
    deployment_group_name: str
    deployment_config_name: str


@dataclass(frozen=True)
class DeployStage:
    """The pipeline's deploy action, and CodeDeploy's resources behind it (None under ECS)."""

    action: CodepipelineStageAction
    codedeploy: CodeDeployRefs | None = None
    #: What waits for the deploying role's policy (CodeDeploy checks it at CreateDeploymentGroup).
    checks_its_role: TerraformResource | None = None


def deploy_action(
    provider: str, configuration: dict[str, str], name: str = "BlueGreenDeploy"
) -> CodepipelineStageAction:
    """The pipeline's deploy action; it reads the build's output artifact."""
    return CodepipelineStageAction(
        name=name,
        category="Deploy",
        owner="AWS",
        provider=provider,
        version="1",
        input_artifacts=[deploy_specs.BUILD_ARTIFACT],
        configuration=configuration,
    )


class ServiceDeployer(ABC):
    """How the service's deployments run."""

    @abstractmethod
    def service_deployment(self, release: Release | None) -> ServiceDeployment: ...


class RollingDeployer(ServiceDeployer):
    """The DR region's standby: ECS rolls it when operators deploy; Terraform leaves its tasks alone."""

    def service_deployment(self, release: Release | None) -> ServiceDeployment:
        return ServiceDeployment("ECS", ("task_definition",))


@dataclass(frozen=True)
class ReleaseStep:
    """The pipeline's own release step (modules/ecs_release.py): under the ECS controller nothing
    else registers the stack's task definition for a release."""

    #: How long one release may take ECS, rollback included, before the step gives up.
    wait_minutes: int


class ReleaseDeployer(ServiceDeployer):
    """Whoever a service's pipeline releases through."""

    #: Whether the controller needs ECS's infrastructure and hook-invoker roles.
    uses_ecs_roles: bool = False

    @abstractmethod
    def deploy_stage(self, scope: Construct, target: DeployTarget) -> DeployStage:
        """The pipeline's deploy action, built in the pipeline's scope."""

    def release_step(self) -> ReleaseStep | None:
        """The release step the pipeline runs as its deploy action (None: the controller's own action)."""
        return None


def release_step_action(target: DeployTarget, name: str) -> CodepipelineStageAction:
    """The release step as the pipeline's deploy action: a CodeBuild action reading the build's
    taskdef.json and imageDetail.json. CodePipeline's ECS action is not used: it copies the
    revision the service runs and would drop Terraform's changes to the task definition.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECS.html
    """
    assert target.release_project_name is not None, "the service has its release step"
    return codebuild.build_action(name, target.release_project_name, deploy_specs.BUILD_ARTIFACT)


class RollingReleaseDeployer(ReleaseDeployer):
    """A service without a route: ECS replaces its tasks one batch at a time and, when the new
    tasks fail to start or to stay healthy, rolls back to the last revision that did (the
    deployment circuit breaker).
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
    """

    def __init__(self, rollback: bool) -> None:
        self.rollback = rollback

    def service_deployment(self, release: Release | None) -> ServiceDeployment:
        return ServiceDeployment("ECS", ("task_definition",), circuit_breaker_rollback=self.rollback)

    def deploy_stage(self, scope: Construct, target: DeployTarget) -> DeployStage:
        return DeployStage(release_step_action(target, "RollingDeploy"))

    def release_step(self) -> ReleaseStep:
        return ReleaseStep(ROLLING_RELEASE_MINUTES)


class Deployer(ReleaseDeployer):
    """A blue/green controller: a pipeline releases through it, with hooks and rollback alarms."""

    #: Whether the load balancer gets one rule per listener for the controller to rewrite.
    listener_rules: bool = False
    #: CodeDeploy waits for a hook's verdict through its API; ECS reads the hook's return value.
    hooks_report_to_codedeploy: bool = False

    @abstractmethod
    def production_route(self, route: TrafficRoute) -> ListenerForward | RuleForward:
        """What forwards production: the colour it does not forward to is green."""


@dataclass(frozen=True)
class CodeDeploySettings:
    name_prefix: str
    app_name: str
    deployment_group_name: str
    shifting: TrafficShifting
    #: None: shift as soon as green passes its tests; N: wait up to N minutes for an operator.
    approval_timeout_minutes: int | None
    termination_wait_minutes: int
    auto_rollback: bool


class CodeDeployDeployer(Deployer):
    hooks_report_to_codedeploy = True

    def __init__(self, settings: CodeDeploySettings) -> None:
        self.settings = settings

    def service_deployment(self, release: Release | None) -> ServiceDeployment:
        return ServiceDeployment("CODE_DEPLOY", CODEDEPLOY_OWNED_SERVICE_FIELDS)

    def production_route(self, route: TrafficRoute) -> ListenerForward:
        return ListenerForward(route.prod_listener_arn)

    def deploy_stage(self, scope: Construct, target: DeployTarget) -> DeployStage:
        s = self.settings
        assert target.release is not None, "CodeDeploy releases blue/green"
        app = CodedeployApp(scope, "codedeploy_app", name=s.app_name, compute_platform="ECS")
        group = self._deployment_group(scope, app, target)
        action = deploy_action(
            "CodeDeployToECS",
            {
                "ApplicationName": app.name,
                "DeploymentGroupName": group.deployment_group_name,
                "TaskDefinitionTemplateArtifact": deploy_specs.BUILD_ARTIFACT,
                "TaskDefinitionTemplatePath": deploy_specs.TASKDEF_FILE,
                "AppSpecTemplateArtifact": deploy_specs.BUILD_ARTIFACT,
                "AppSpecTemplatePath": deploy_specs.APPSPEC_FILE,
                "Image1ArtifactName": deploy_specs.BUILD_ARTIFACT,
                "Image1ContainerName": "IMAGE1_NAME",
            },
        )
        refs = CodeDeployRefs(app.arn, app.name, group.arn, group.deployment_group_name, group.deployment_config_name)
        return DeployStage(action, refs, group)

    def _deployment_group(self, scope: Construct, app: CodedeployApp, t: DeployTarget) -> CodedeployDeploymentGroup:
        assert t.release is not None and t.release.roles.codedeploy is not None, "CodeDeploy releases blue/green"
        s, route = self.settings, t.release.route
        ready = (
            CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption(
                action_on_timeout="CONTINUE_DEPLOYMENT"
            )
            if s.approval_timeout_minutes is None
            else CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption(
                action_on_timeout="STOP_DEPLOYMENT", wait_time_in_minutes=s.approval_timeout_minutes
            )
        )
        pair = CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfo(
            prod_traffic_route=CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRoute(
                listener_arns=[route.prod_listener_arn]
            ),
            test_traffic_route=CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRoute(
                listener_arns=[route.test_listener_arn]
            ),
            target_group=[
                CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroup(name=name)
                for name in (route.blue.name, route.green.name)
            ],
        )
        return CodedeployDeploymentGroup(
            scope,
            "deployment_group",
            app_name=app.name,
            deployment_group_name=s.deployment_group_name,
            service_role_arn=t.release.roles.codedeploy.role_arn,
            deployment_config_name=deployment_config_name(scope, s.name_prefix, s.shifting),
            deployment_style=CodedeployDeploymentGroupDeploymentStyle(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            blue_green_deployment_config=CodedeployDeploymentGroupBlueGreenDeploymentConfig(
                deployment_ready_option=ready,
                terminate_blue_instances_on_deployment_success=CodedeployDeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccess(
                    action="TERMINATE", termination_wait_time_in_minutes=s.termination_wait_minutes
                ),
            ),
            ecs_service=CodedeployDeploymentGroupEcsService(cluster_name=t.cluster_name, service_name=t.service_name),
            load_balancer_info=CodedeployDeploymentGroupLoadBalancerInfo(target_group_pair_info=pair),
            auto_rollback_configuration=CodedeployDeploymentGroupAutoRollbackConfiguration(
                enabled=s.auto_rollback, events=ROLLBACK_EVENTS if s.auto_rollback else []
            ),
            alarm_configuration=CodedeployDeploymentGroupAlarmConfiguration(
                enabled=True, alarms=list(t.release.rollback_alarm_names)
            ),
        )


@dataclass(frozen=True)
class EcsNativeSettings:
    shifting: TrafficShifting
    #: Both revisions run this long after the shift, so rollback stays instant.
    bake_minutes: int
    #: The longest a release takes, the shift and bake included (config.schema.ecs_native_release_minutes).
    release_minutes: int


class EcsNativeDeployer(Deployer):
    uses_ecs_roles = True
    listener_rules = True

    def __init__(self, settings: EcsNativeSettings) -> None:
        self.settings = settings

    def service_deployment(self, release: Release | None) -> ServiceDeployment:
        assert release is not None, "ECS's blue/green runs the release's hooks"
        roles, route, hooks, s = release.roles, release.route, release.hooks, self.settings
        assert roles.ecs_infrastructure and roles.ecs_hook_invoker
        assert route.rules is not None, "the listener rules come with this deployer"
        native = NativeBlueGreen(
            strategy=ECS_STRATEGIES[s.shifting.kind],
            step_percent=s.shifting.percent,
            step_minutes=s.shifting.interval_minutes,
            bake_minutes=s.bake_minutes,
            green_target_group_arn=route.green.arn,
            prod_listener_rule_arn=route.rules.prod_rule_arn,
            test_listener_rule_arn=route.rules.test_rule_arn,
            infrastructure_role_arn=roles.ecs_infrastructure.role_arn,
            test_hook_arn=hooks.test_traffic_arn,
            hook_role_arn=roles.ecs_hook_invoker.role_arn,
            release_alarms_hook_arn=hooks.release_alarms_arn,
            alarm_names=list(release.rollback_alarm_names),
        )
        return ServiceDeployment("ECS", CONTROLLER_OWNED_SERVICE_FIELDS, native)

    def production_route(self, route: TrafficRoute) -> RuleForward:
        assert route.rules is not None, "the listener rules come with this deployer"
        return RuleForward(route.rules.prod_rule_arn)

    def deploy_stage(self, scope: Construct, target: DeployTarget) -> DeployStage:
        """The release step; the service's blue/green deployment configuration does the rest."""
        return DeployStage(release_step_action(target, "BlueGreenDeploy"))

    def release_step(self) -> ReleaseStep:
        return ReleaseStep(self.settings.release_minutes)


def deployer_for(c: EnvironmentConfig, key: str) -> ReleaseDeployer:
    """The one place a service's configured controller is read: a service without a route is
    rolled; any other is released blue/green by its configured controller."""
    spec, names = c.all_services[key], c.names.service(key)
    dep = spec.deployment
    if spec.released_by == "rolling":
        return RollingReleaseDeployer(rollback=dep.auto_rollback)
    shifting = traffic_shifting(dep.traffic)
    if spec.released_by == "ecs_native":
        return EcsNativeDeployer(
            EcsNativeSettings(shifting, dep.termination_wait_minutes, ecs_native_release_minutes(dep))
        )
    return CodeDeployDeployer(
        CodeDeploySettings(
            name_prefix=names.prefix,
            app_name=names.codedeploy_app,
            deployment_group_name=names.deployment_group,
            shifting=shifting,
            approval_timeout_minutes=dep.approval_timeout_minutes,
            termination_wait_minutes=dep.termination_wait_minutes,
            auto_rollback=dep.auto_rollback,
        )
    )
