"""One service of the environment, on its platform: image, tasks, hooks, alarms, pipeline, policies.

Everything a service owns and releases on its own. The deployment controller's part (the
service's deployment settings, the pipeline's deploy action, the listener mode, the hooks' ways
of reporting) comes from the service's ``Deployer`` (modules/deployers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cdktf import TerraformResource
from constructs import Construct

from config import EnvironmentConfig
from config.naming import ALARM_SUFFIXES, ServiceNames
from config.schema import DatabaseIdentity, ServiceConfig, ServiceSpec
from modules import access_logs, deploy_specs, grants, service_network, task_grants
from modules.alarms import (
    AlarmThresholds,
    AppErrors,
    AppErrorsProps,
    RollbackAlarms,
    RollbackAlarmsOutputs,
    RollbackAlarmsProps,
)
from modules.codepipeline import CodePipeline, CodePipelineOutputs, CodePipelineProps
from modules.database import DatabaseOutputs
from modules.deployers import Deployer, DeployTarget, Release, ReleaseDeployer, ReleaseHooks, deployer_for
from modules.deployment_hooks import (
    DeploymentHooks,
    DeploymentHooksOutputs,
    DeploymentHooksProps,
    HookFunction,
    HookSite,
    ReleaseAlarmsHook,
    ReleaseAlarmsHookProps,
)
from modules.ecr import Ecr, EcrOutputs, EcrProps
from modules.ecs import (
    Autoscaling,
    BehindLoadBalancer,
    Ecs,
    EcsOutputs,
    EcsProps,
    InNamespace,
    Schedule,
    ServiceDeployment,
)
from modules.ecs_release import EcsRelease, EcsReleaseProps
from modules.layout import service_scope
from modules.load_balancer import (
    LAST_PRIORITY,
    LoadBalancerSettings,
    RuleConditions,
    ServiceRoute,
    ServiceRouteOutputs,
    ServiceRouteProps,
    TrafficRoute,
)
from modules.load_test import LoadTest, LoadTestOutputs, LoadTestProps, LoadTestSettings
from modules.migrations import Migrations, MigrationsProps
from modules.notifications import NotificationRules, NotificationRulesProps, NotificationTopicOutputs
from modules.platform import Platform, RegionSite, capacity_shares
from modules.security import (
    BlueGreenAccess,
    CodeDeployAccess,
    EnvironmentRoles,
    ReleaseStepAccess,
    RolePolicies,
    RolePoliciesProps,
    ServiceRolesOutputs,
)
from modules.service_network import ServicePeering
from modules.settings import from_section

#: The secret RDS manages is JSON; ECS injects it whole into the migration task, which reads the
#: master's username and password (the service never receives it).
DB_SECRET_ENV = "DB_SECRET"  # noqa: S105 - a variable name, not a secret
#: The migration task's command (app/service/migrate.py).
MIGRATE_COMMAND = ("python", "-m", "service.migrate")
#: After SIGTERM the app keeps serving this long (readiness failing), then finishes in-flight work.
APP_DRAIN_SECONDS = 2
#: Left between the app's own deadline and ECS's SIGKILL, for closing the pool and exiting.
APP_EXIT_MARGIN_SECONDS = 3


@dataclass(frozen=True)
class ServiceContext:
    """One service being built: the environment's config, the service's key, settings and names."""

    c: EnvironmentConfig
    key: str
    deployer: ReleaseDeployer

    @property
    def blue_green(self) -> Deployer:
        """The routed service's blue/green controller (``deployer_for`` gives every routed service one)."""
        if not isinstance(self.deployer, Deployer):
            raise TypeError(f"service {self.key} has no route: it is rolled, not released blue/green")
        return self.deployer

    @property
    def spec(self) -> ServiceSpec:
        return self.c.all_services[self.key]

    @property
    def names(self) -> ServiceNames:
        return self.c.names.service(self.key)

    @property
    def database(self) -> DatabaseIdentity:
        return self.c.database_identity(self.key)


def database_user_arn(s: ServiceContext, region: str, database: DatabaseOutputs) -> str:
    """The service's database user as IAM database authentication names it.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
    """
    c = s.c
    return f"arn:{c.partition}:rds-db:{region}:{c.account_id}:dbuser:{database.cluster_resource_id}/{s.database.user}"


def database_environment(s: ServiceContext, database: DatabaseOutputs) -> dict[str, str]:
    """Where the database is and who the service is in it: what the service and its migration share."""
    return {
        "DB_HOST": database.writer_endpoint,
        "DB_PORT": str(database.port),
        "DB_NAME": s.database.name,
        "DB_USER": s.database.user,
    }


def app_shutdown_budget(stop_timeout_seconds: int) -> dict[str, str]:
    """The app's drain and shutdown deadlines, derived so they always fit the ECS stop timeout."""
    shutdown = stop_timeout_seconds - APP_DRAIN_SECONDS - APP_EXIT_MARGIN_SECONDS
    return {"DRAIN_SECONDS": str(APP_DRAIN_SECONDS), "SHUTDOWN_TIMEOUT_SECONDS": str(shutdown)}


def service_autoscaling(svc: ServiceConfig, alb_arn_suffix: str) -> Autoscaling | None:
    scaling = svc.autoscaling
    if scaling is None:
        return None
    return from_section(
        Autoscaling,
        scaling,
        schedules=tuple(from_section(Schedule, schedule) for schedule in scaling.schedules),
        alb_arn_suffix=alb_arn_suffix,
    )


def callee_urls(s: ServiceContext) -> dict[str, str]:
    """Where the services this one is granted to call answer: ``<KEY>_URL`` each, by its name in
    the namespace (modules/service_network.py); the service's own environment may override it."""
    c = s.c
    return {
        f"{key.upper()}_URL": f"http://{key}.{c.names.service_namespace}:{c.all_services[key].container_port}"
        for key in grants.callees(s.spec.grants)
    }


def task_spec(
    s: ServiceContext, site: RegionSite, roles: ServiceRolesOutputs, database: DatabaseOutputs
) -> deploy_specs.TaskSpec:
    """The service's task: it signs in as its own database role with IAM tokens, never with a secret."""
    svc, names = s.spec, s.names
    return deploy_specs.TaskSpec(
        family=names.task_family,
        cpu=svc.cpu,
        memory=svc.memory,
        cpu_architecture=svc.cpu_architecture,
        execution_role_arn=roles.task_execution.role_arn,
        task_role_arn=roles.task.role_arn,
        container=deploy_specs.ContainerSpec(
            name=svc.container_name,
            port=svc.container_port,
            environment={
                **callee_urls(s),
                **svc.environment,
                "PORT": str(svc.container_port),
                **app_shutdown_budget(svc.stop_timeout_seconds),
                **database_environment(s, database),
                "DB_AUTH": "iam",
            },
            secrets={name: secret.arn for name, secret in svc.secrets.items()},
            log_group_name=names.app_log_group,
            region=site.region,
            stop_timeout_seconds=svc.stop_timeout_seconds,
            readonly_root_filesystem=svc.readonly_root_filesystem,
            health_check=svc.health_check_command,
        ),
    )


def migration_task(
    s: ServiceContext, roles: ServiceRolesOutputs, database: DatabaseOutputs, log_group_name: str
) -> deploy_specs.TaskSpec:
    """The one-off migration: the master user's secret, the owner and runtime roles to set up."""
    c, svc, names = s.c, s.spec, s.names
    assert database.master_secret_arn is not None
    return deploy_specs.TaskSpec(
        family=names.migration_task_family,
        cpu=svc.cpu,
        memory=svc.memory,
        cpu_architecture=svc.cpu_architecture,
        execution_role_arn=roles.task_execution.role_arn,
        task_role_arn=None,
        container=deploy_specs.ContainerSpec(
            name="migrate",
            port=svc.container_port,
            environment={
                **database_environment(s, database),
                "DB_OWNER_ROLE": s.database.owner,
                "DB_AUTH": "iam",
                "LOG_LEVEL": svc.environment.get("LOG_LEVEL", "info"),
            },
            secrets={DB_SECRET_ENV: database.master_secret_arn},
            log_group_name=log_group_name,
            region=c.region,
            stop_timeout_seconds=svc.stop_timeout_seconds,
            readonly_root_filesystem=svc.readonly_root_filesystem,
            command=MIGRATE_COMMAND,
            listens=False,
        ),
    )


@dataclass(frozen=True)
class Hooks:
    """What runs around a release: the alarms that judge green and the Lambdas that prepare and test it."""

    alarms: RollbackAlarmsOutputs
    release_alarms: HookFunction
    test_traffic: DeploymentHooksOutputs | None
    load_test: LoadTestOutputs | None


@dataclass(frozen=True)
class ServiceOutputs:
    key: str
    repository: EcrOutputs
    ecs: EcsOutputs
    pipeline: CodePipelineOutputs
    #: None for a service without a route, which has no listener, hooks or URLs.
    hooks: Hooks | None
    test_url: str | None
    prod_url: str | None


def listener_url(c: EnvironmentConfig, platform: Platform, port: int) -> str:
    return f"{'https' if c.load_balancer.https else 'http'}://{platform.balancer.alb_dns_name}:{port}"


def test_url(c: EnvironmentConfig, platform: Platform) -> str:
    return listener_url(c, platform, c.load_balancer.test_listener_port)


def target_groups(scope: Construct, s: ServiceContext, platform: Platform) -> ServiceRoute:
    """The service's blue and green target groups (its route is wired once the listeners exist)."""
    c, spec = s.c, s.spec
    return ServiceRoute(
        scope,
        "route",
        ServiceRouteProps(
            blue_target_group_name=s.names.target_group_blue,
            green_target_group_name=s.names.target_group_green,
            vpc_id=platform.network.vpc_id,
            container_port=spec.container_port,
            health_check_path=spec.health_check_path,
            settings=from_section(LoadBalancerSettings, c.load_balancer),
        ),
    )


def rule_conditions(s: ServiceContext) -> RuleConditions | None:
    """The service's listener rules: none for CodeDeploy's default route (the listeners' defaults
    are its route), a last-evaluated catch-all for ECS's, the host and paths for every other."""
    route = s.spec.route
    assert route is not None, "only a routed service has rules"
    if route.is_default:
        return RuleConditions(LAST_PRIORITY, None, (), None) if s.blue_green.listener_rules else None
    return RuleConditions(s.c.rule_priorities()[s.key], route.host, route.paths, s.key)


def repository(scope: Construct, s: ServiceContext, kms_key_arn: str) -> EcrOutputs:
    return Ecr(
        scope,
        "ecr",
        EcrProps(
            repository_name=s.names.ecr_repository,
            kms_key_arn=kms_key_arn,
            protected_tag=s.spec.initial_image_tag,
            prevent_destroy=s.c.production,
        ),
    ).outputs


def rollback_alarms(
    scope: Construct, s: ServiceContext, platform: Platform, route: TrafficRoute, topic: NotificationTopicOutputs
) -> RollbackAlarmsOutputs:
    return RollbackAlarms(
        scope,
        "alarms",
        RollbackAlarmsProps(
            alarm_names={suffix: s.names.alarm(suffix) for suffix in ALARM_SUFFIXES},
            thresholds=from_section(AlarmThresholds, s.spec.deployment.alarms),
            alb_arn_suffix=platform.balancer.alb_arn_suffix,
            # Production starts on blue: green is the first colour a deployment starts.
            first_green_target_group_arn_suffix=route.green.arn_suffix,
            topic_arn=topic.topic_arn,
        ),
    ).outputs


def hook_site(s: ServiceContext, platform: Platform) -> HookSite:
    c = s.c
    hook_security_group_id = platform.groups.test_hook_security_group_id
    assert hook_security_group_id is not None
    return HookSite(
        private_subnet_ids=platform.network.private_subnet_ids,
        security_group_id=hook_security_group_id,
        ec2_arn_prefix=f"arn:{c.partition}:ec2:{c.region}:{c.account_id}",
        kms_key_arn=platform.site.keys.artifacts_key_arn,
        logs_kms_key_arn=platform.site.keys.logs_key_arn,
        log_retention_days=s.spec.log_retention_days,
    )


def load_test(
    scope: Construct, s: ServiceContext, platform: Platform, roles: ServiceRolesOutputs, site: HookSite
) -> LoadTest | None:
    c, lt = s.c, s.spec.deployment.load_test
    if lt is None:
        return None
    assert roles.load_test is not None and s.spec.deployment.test_hook
    keys = platform.site.keys
    return LoadTest(
        scope,
        "load_test",
        LoadTestProps(
            project_name=s.names.load_test,
            role_arn=roles.load_test.role_arn,
            role_name=roles.load_test.role_name,
            partition=c.partition,
            region=c.region,
            account_id=c.account_id,
            test_url=test_url(c, platform),
            settings=from_section(LoadTestSettings, lt),
            vpc_id=platform.network.vpc_id,
            private_subnet_ids=platform.network.private_subnet_ids,
            # The hook's group: out to the test listener and HTTPS, nothing else.
            security_group_id=site.security_group_id,
            kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=c.pipeline.build_log_retention_days,
            test_route=test_route(s),
        ),
    )


def test_route(s: ServiceContext) -> str | None:
    """What the test listener routes this service's test traffic on: its key, unless it is the
    listener's default route (modules/load_balancer.py TEST_ROUTE_HEADER)."""
    route = s.spec.route
    return None if route is None or route.is_default else s.key


def test_hostname(s: ServiceContext) -> str | None:
    """The name green's certificate is checked for: the configured one, else the route's host;
    None: the certificate's own name."""
    route = s.spec.route
    return s.spec.deployment.test_hostname or (route.host if route is not None else None)


def hooks(
    scope: Construct,
    s: ServiceContext,
    platform: Platform,
    roles: ServiceRolesOutputs,
    route: TrafficRoute,
    topic: NotificationTopicOutputs,
) -> Hooks:
    c, dep, deployer = s.c, s.spec.deployment, s.blue_green
    assert roles.release_alarms is not None and roles.test_hook is not None, "a routed service has its hooks' roles"
    alarms = rollback_alarms(scope, s, platform, route, topic)
    site = hook_site(s, platform)
    release = ReleaseAlarmsHook(
        scope,
        "release_alarms",
        ReleaseAlarmsHookProps(
            function_name=s.names.release_alarms_hook,
            role=roles.release_alarms,
            site=site,
            production=deployer.production_route(route),
            colours=route.colours,
            rollback_alarm_names=alarms.rollback_alarm_names,
            rollback_alarm_arns=alarms.rollback_alarm_arns,
            reports_to_codedeploy=deployer.hooks_report_to_codedeploy,
        ),
    ).outputs
    tester = load_test(scope, s, platform, roles, site)
    hook = (
        DeploymentHooks(
            scope,
            "deployment_hooks",
            DeploymentHooksProps(
                function_name=s.names.test_hook,
                role=roles.test_hook,
                site=site,
                test_url=test_url(c, platform),
                test_hostname=test_hostname(s),
                certificate_arn=c.load_balancer.certificate_arn,
                load_test_project_name=tester.outputs.project_name if tester else None,
                test_route=test_route(s),
            ),
        ).outputs
        if dep.test_hook
        else None
    )
    if tester is not None and hook is not None and deployer.hooks_report_to_codedeploy:
        # Under ECS the hook polls the build itself; under CodeDeploy the build's end reaches it.
        tester.report_to(hook.function_arn, hook.function_name)
    return Hooks(alarms, release, hook, tester.outputs if tester else None)


def runtime(
    scope: Construct,
    s: ServiceContext,
    platform: Platform,
    roles: ServiceRolesOutputs,
    ecr: EcrOutputs,
    reached: BehindLoadBalancer | InNamespace,
    network: deploy_specs.TaskNetwork,
    deployment: ServiceDeployment,
) -> Ecs:
    """The task definition and the service, in their first revision, on the environment's cluster."""
    c, svc, balancer = s.c, s.spec, platform.balancer
    return Ecs(
        scope,
        "ecs",
        EcsProps(
            cluster=platform.cluster,
            service_name=s.names.service,
            task=task_spec(s, platform.site, roles, platform.database),
            initial_image=f"{ecr.repository_url}:{svc.initial_image_tag}",
            desired_count=svc.desired_count,
            autoscaling=service_autoscaling(svc, balancer.alb_arn_suffix),
            capacity=capacity_shares(c, svc),
            private_subnet_ids=network.subnet_ids,
            security_group_ids=network.security_group_ids,
            reached=reached,
            log_retention_days=svc.log_retention_days,
            logs_kms_key_arn=platform.site.keys.logs_key_arn,
            deployment=deployment,
        ),
    )


def behind_load_balancer(s: ServiceContext, routed: ServiceRouteOutputs) -> BehindLoadBalancer:
    return BehindLoadBalancer(
        blue_target_group_arn=routed.route.blue.arn,
        target_group_forwarders=routed.forwarding,
        health_check_grace_period_seconds=s.spec.health_check_grace_period_seconds,
    )


@dataclass(frozen=True)
class TaskPlacement:
    """Where the service's tasks (and its migration's) run, and the egress rules of its own group."""

    subnets: deploy_specs.TaskNetwork
    egress: tuple[TerraformResource, ...]


def task_network(s: ServiceContext, platform: Platform, peering: ServicePeering) -> TaskPlacement:
    """The private subnets, the tasks' group and the service's own, if its grants give it one."""
    return TaskPlacement(
        deploy_specs.TaskNetwork(
            subnet_ids=platform.network.private_subnet_ids,
            security_group_ids=peering.security_groups(s.key, platform.groups.tasks_security_group_id),
        ),
        peering.egress.get(s.key, ()),
    )


def migrations(
    scope: Construct,
    s: ServiceContext,
    platform: Platform,
    roles: ServiceRolesOutputs,
    ecs: EcsOutputs,
    network: deploy_specs.TaskNetwork,
) -> Migrations:
    c, keys = s.c, platform.site.keys
    return Migrations(
        scope,
        "migrations",
        MigrationsProps(
            project_name=s.names.migrate_project,
            log_group_name=s.names.migrate_log_group,
            role_arn=roles.migrate.role_arn,
            role_name=roles.migrate.role_name,
            task=migration_task(s, roles, platform.database, ecs.log_group_name),
            cluster_arn=ecs.cluster_arn,
            cluster_name=ecs.cluster_name,
            network=network,
            artifacts_kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=c.pipeline.build_log_retention_days,
            partition=c.partition,
            region=c.region,
            account_id=c.account_id,
        ),
    )


def ecs_release(
    scope: Construct, s: ServiceContext, platform: Platform, roles: ServiceRolesOutputs, ecs: EcsOutputs
) -> EcsRelease | None:
    """The release step, for a deployer that needs one (the ECS controller's)."""
    step = s.deployer.release_step()
    if step is None:
        return None
    c, keys = s.c, platform.site.keys
    assert roles.ecs_release is not None, "a service the ECS controller deploys has the release step's role"
    return EcsRelease(
        scope,
        "ecs_release",
        EcsReleaseProps(
            project_name=s.names.release_project,
            log_group_name=s.names.release_log_group,
            role=roles.ecs_release,
            cluster_name=ecs.cluster_name,
            service_name=ecs.service_name,
            service_arn=ecs.service_arn,
            task_role_arns=(roles.task_execution.role_arn, roles.task.role_arn),
            wait_minutes=step.wait_minutes,
            artifacts_kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=c.pipeline.build_log_retention_days,
            partition=c.partition,
            region=c.region,
            account_id=c.account_id,
        ),
    )


def app_errors(scope: Construct, s: ServiceContext, ecs: EcsOutputs, topic: NotificationTopicOutputs) -> None:
    names = s.names
    AppErrors(
        scope,
        "app_errors",
        AppErrorsProps(
            app_log_group_name=ecs.log_group_name,
            filter_name=names.app_5xx_filter,
            alarm_name=names.alarm("app-5xx"),
            metric_namespace=names.metric_namespace,
            per_minute=s.spec.deployment.alarms.app_5xx_per_minute,
            topic_arn=topic.topic_arn,
        ),
    )


@dataclass(frozen=True)
class Delivery:
    """What the pipeline connects: the service it deploys, its image, its hooks and its migration."""

    ecr: EcrOutputs
    ecs: EcsOutputs
    #: The blue/green release and what runs around it; None for a service without a route.
    hooks: Hooks | None
    release: Release | None
    migrate_project_name: str
    topic: NotificationTopicOutputs
    network: deploy_specs.TaskNetwork
    #: The service's own egress rules (to the services it calls), beside the shared group's.
    own_egress: tuple[TerraformResource, ...] = ()


def pipeline(
    scope: Construct,
    s: ServiceContext,
    platform: Platform,
    roles: ServiceRolesOutputs,
    connection_arn: str,
    d: Delivery,
    release_step: EcsRelease | None,
) -> CodePipeline:
    c, names, svc, src, keys = s.c, s.names, s.spec, s.spec.source, platform.site.keys
    pl = c.pipeline
    return CodePipeline(
        scope,
        "codepipeline",
        CodePipelineProps(
            name_prefix=names.prefix,
            pipeline_name=names.pipeline,
            artifact_bucket_name=names.artifact_bucket,
            artifact_retention_days=pl.artifact_retention_days,
            artifact_access_log_target=(platform.log_bucket, f"{access_logs.S3_ACCESS_LOG_PREFIX}/artifacts/"),
            artifacts_kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            source_provider=pl.source_provider,
            repository=src.repository,
            branch=src.branch,
            trigger_paths=src.trigger_paths,
            connection_arn=connection_arn,
            build_project_name=names.build_project,
            build_log_group_name=names.build_log_group,
            build_log_retention_days=pl.build_log_retention_days,
            build_compute_type=src.build_compute_type,
            build_timeout_minutes=src.build_timeout_minutes,
            cpu_architecture=svc.cpu_architecture,
            app_path=src.app_path,
            ecr_repository_url=d.ecr.repository_url,
            task=d.ecs.task,
            capacity=tuple((share.provider, share.weight, share.base) for share in capacity_shares(c, svc)),
            task_network=d.network,
            codebuild_role_arn=roles.codebuild.role_arn,
            codepipeline_role_arn=roles.codepipeline.role_arn,
            deployer=s.deployer,
            deploy_target=DeployTarget(
                d.ecs.cluster_name,
                d.ecs.service_name,
                d.release,
                release_step.outputs.project_name if release_step else None,
            ),
            test_hook_function_arn=d.hooks.test_traffic.function_arn if d.hooks and d.hooks.test_traffic else None,
            release_alarms_function_arn=d.hooks.release_alarms.function_arn if d.hooks else None,
            notification_topic_arn=d.topic.topic_arn,
            approval_stage=c.approval_stage(svc.deployment),
            migrate_project_name=d.migrate_project_name,
        ),
    )


def release(route: TrafficRoute, roles: ServiceRolesOutputs, hooks: Hooks) -> Release:
    return Release(
        route=route,
        roles=roles,
        hooks=ReleaseHooks(
            release_alarms_arn=hooks.release_alarms.function_arn,
            test_traffic_arn=hooks.test_traffic.function_arn if hooks.test_traffic else None,
        ),
        rollback_alarm_names=hooks.alarms.rollback_alarm_names,
    )


def permissions(
    scope: Construct,
    s: ServiceContext,
    platform: Platform,
    roles: ServiceRolesOutputs,
    d: Delivery,
    delivered: CodePipelineOutputs,
    migrate_project_arn: str,
    deploy: CodeDeployAccess | ReleaseStepAccess,
) -> RolePolicies:
    """The roles' permission policies, scoped to everything the service and its pipeline created."""
    c, keys, database, ecs = s.c, platform.site.keys, platform.database, d.ecs
    assert database.master_secret_arn is not None
    return RolePolicies(
        scope,
        "role_policies",
        RolePoliciesProps(
            roles=roles,
            partition=c.partition,
            region=c.region,
            account_id=c.account_id,
            ecr_repository_arn=d.ecr.repository_arn,
            database_secret_arn=database.master_secret_arn,
            database_user_arn=database_user_arn(s, c.region, database),
            service_secrets=tuple(s.spec.secrets.values()),
            data_key_arn=keys.data_key_arn,
            artifacts_key_arn=keys.artifacts_key_arn,
            artifact_bucket_arn=delivered.artifact_bucket_arn,
            app_log_group_arn=ecs.log_group_arn,
            build_log_group_arn=delivered.build_log_group_arn,
            source_connection_arn=delivered.connection_arn,
            build_project_arn=delivered.build_project_arn,
            migrate_project_arn=migrate_project_arn,
            ecs_cluster_name=ecs.cluster_name,
            ecs_service_arn=ecs.service_arn,
            ecs_service_name=ecs.service_name,
            task_family=ecs.task_family,
            notification_topic_arn=d.topic.topic_arn,
            notifications_key_arn=keys.notifications_key_arn,
            deploy=deploy,
            release=blue_green_access(s, d) if d.hooks and d.release else None,
        ),
    )


def codedeploy_access(delivered: CodePipelineOutputs) -> CodeDeployAccess:
    """What the pipeline starts when CodeDeploy deploys (a deployer without a release step)."""
    codedeploy = delivered.codedeploy
    assert codedeploy is not None, "CodeDeploy's deployer built its application and group"
    return CodeDeployAccess(codedeploy.app_arn, codedeploy.deployment_group_arn, codedeploy.deployment_config_name)


def blue_green_access(s: ServiceContext, d: Delivery) -> BlueGreenAccess:
    """What the service's blue/green release acts on (its roles' policies are scoped to it)."""
    assert d.hooks is not None and d.release is not None
    hooks, route = d.hooks, d.release.route
    test_hook = hooks.test_traffic
    return BlueGreenAccess(
        listener_arns=route.listener_arns,
        target_group_arns=[colour.arn for colour in route.colours],
        listener_rule_arns=[route.rules.prod_rule_arn, route.rules.test_rule_arn] if route.rules else [],
        alarm_arns=hooks.alarms.rollback_alarm_arns,
        test_hook_function_arn=test_hook.function_arn if test_hook else None,
        release_alarms_function_arn=hooks.release_alarms.function_arn,
        test_certificate_arn=s.c.load_balancer.certificate_arn if test_hook and not test_hostname(s) else None,
        test_hook_log_group_arn=test_hook.log_group_arn if test_hook else None,
        load_test_project_arn=hooks.load_test.project_arn if hooks.load_test else None,
        load_test_log_group_arn=hooks.load_test.log_group_arn if hooks.load_test else None,
    )


@dataclass(frozen=True)
class Shared:
    """What every service of the environment is built with: platform pieces it does not own."""

    platform: Platform
    roles: EnvironmentRoles
    topic: NotificationTopicOutputs
    connection_arn: str


def build(
    scope: Construct, s: ServiceContext, shared: Shared, routed: ServiceRouteOutputs, network: TaskPlacement
) -> ServiceOutputs:
    """A routed service, its blue/green release machinery and its pipeline; each role's policy once all exist."""
    platform, roles, topic = shared.platform, shared.roles.services[s.key], shared.topic
    ecr = repository(scope, s, platform.site.keys.artifacts_key_arn)
    around = hooks(scope, s, platform, roles, routed.route, topic)
    shift = release(routed.route, roles, around)
    deployment = s.deployer.service_deployment(shift)
    service = runtime(scope, s, platform, roles, ecr, behind_load_balancer(s, routed), network.subnets, deployment)
    migration = migrations(scope, s, platform, roles, service.outputs, network.subnets)
    app_errors(scope, s, service.outputs, topic)
    delivery = Delivery(
        ecr, service.outputs, around, shift, migration.outputs.project_name, topic, network.subnets, network.egress
    )
    delivered = deliver(scope, s, shared, delivery, service, migration)
    prod_url = listener_url(s.c, platform, s.c.load_balancer.effective_prod_port)
    return ServiceOutputs(s.key, ecr, service.outputs, delivered, around, test_url(s.c, platform), prod_url)


def build_rolling(
    scope: Construct, s: ServiceContext, shared: Shared, registry_arn: str, network: TaskPlacement
) -> ServiceOutputs:
    """A service without a route: its tasks, found by name, and its pipeline, which ECS rolls out."""
    platform, roles, topic = shared.platform, shared.roles.services[s.key], shared.topic
    ecr = repository(scope, s, platform.site.keys.artifacts_key_arn)
    deployment = s.deployer.service_deployment(None)
    service = runtime(scope, s, platform, roles, ecr, InNamespace(registry_arn), network.subnets, deployment)
    migration = migrations(scope, s, platform, roles, service.outputs, network.subnets)
    # Its own errors still page the team; only the release alarms are blue/green's.
    app_errors(scope, s, service.outputs, topic)
    delivery = Delivery(
        ecr, service.outputs, None, None, migration.outputs.project_name, topic, network.subnets, network.egress
    )
    delivered = deliver(scope, s, shared, delivery, service, migration)
    return ServiceOutputs(s.key, ecr, service.outputs, delivered, None, None, None)


def deliver(
    scope: Construct, s: ServiceContext, shared: Shared, delivery: Delivery, service: Ecs, migration: Migrations
) -> CodePipelineOutputs:
    """The pipeline and its notifications, then every role's policy, and what waits for them."""
    platform, roles, topic = shared.platform, shared.roles.services[s.key], shared.topic
    release_step = ecs_release(scope, s, platform, roles, delivery.ecs)
    pipe = pipeline(scope, s, platform, roles, shared.connection_arn, delivery, release_step)
    delivered = pipe.outputs
    migration.read_build_output(delivered.artifact_bucket_arn)
    if release_step is not None:
        release_step.read_build_output(delivered.artifact_bucket_arn)
    NotificationRules(
        scope,
        "notification_rules",
        NotificationRulesProps(
            name_prefix=s.names.prefix,
            topic=topic,
            pipeline_arn=delivered.pipeline_arn,
            codedeploy_app_arn=delivered.codedeploy.app_arn if delivered.codedeploy else None,
        ),
    )
    role_policies = permissions(
        scope,
        s,
        platform,
        roles,
        delivery,
        delivered,
        migration.outputs.project_arn,
        ReleaseStepAccess(release_step.outputs.project_arn) if release_step else codedeploy_access(delivered),
    )
    policies = role_policies.outputs
    # What AWS checks (or first uses) when these are created: their roles' policies.
    service.start_after(
        policies.task_execution,
        *(p for p in (policies.ecs_infrastructure, policies.ecs_hook_invoker) if p is not None),
        # Its first tasks pull, log and read secrets at once, only through these, and call the
        # services they are granted to through their own group's rules.
        *platform.groups.tasks_egress_rules,
        *platform.vpc.endpoints,
        *delivery.own_egress,
        # The app's calls under its config grants (none without grants).
        *task_grants.attach(scope, s.c, s.key, roles.task),
    )
    pipe.start_after(pipeline=policies.codepipeline, deployer=policies.codedeploy)
    return delivered


def contexts(c: EnvironmentConfig) -> dict[str, ServiceContext]:
    return {key: ServiceContext(c, key, deployer_for(c, key)) for key in c.all_services}


def route_all(
    at: Construct,
    services: dict[str, ServiceContext],
    platform: Platform,
    conditions: Callable[[ServiceContext], RuleConditions | None],
) -> dict[str, ServiceRouteOutputs]:
    """Every service's target groups (under ``at``/services/<key>), then the listeners (forwarding
    to the default route's), then each service's rules from ``conditions``."""
    groups = {key: target_groups(service_scope(at, key), s, platform) for key, s in services.items()}
    default = next((k for k, s in services.items() if s.spec.route is not None and s.spec.route.is_default), None)
    listeners = platform.load_balancer.listeners(groups[default].colours if default else None)
    return {key: groups[key].forward(listeners, conditions(s)) for key, s in services.items()}


def build_all(stack: Construct, c: EnvironmentConfig, shared: Shared) -> dict[str, ServiceOutputs]:
    """Every service: the routed ones on their routes, the others in the namespace."""
    services = contexts(c)
    platform = shared.platform
    peering = service_network.build(stack, c, platform.network.vpc_id)
    routed = route_all(
        stack, {k: s for k, s in services.items() if s.spec.route is not None}, platform, rule_conditions
    )
    built = {}
    for key, s in services.items():
        network = task_network(s, platform, peering)
        at = service_scope(stack, key)
        if key in routed:
            built[key] = build(at, s, shared, routed[key], network)
        else:
            built[key] = build_rolling(at, s, shared, peering.registries[key], network)
    return built
