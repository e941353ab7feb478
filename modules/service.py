"""One service of the environment, on its platform: image, tasks, hooks, alarms, pipeline, policies.

Everything a service owns and releases on its own. The deployment controller's part (the
service's deployment settings, the pipeline's deploy action, the listener mode, the hooks' ways
of reporting) comes from the service's ``Deployer`` (modules/deployers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config import EnvironmentConfig
from config.naming import ALARM_SUFFIXES, LEGACY_SERVICE
from config.schema import ServiceConfig
from modules import access_logs, deploy_specs
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
from modules.deployers import Deployer, DeployTarget, Release, ReleaseHooks
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
from modules.ecs import Autoscaling, CapacityShare, Ecs, EcsOutputs, EcsProps, Schedule, ServiceDeployment
from modules.load_test import LoadTest, LoadTestOutputs, LoadTestProps, LoadTestSettings
from modules.migrations import Migrations, MigrationsProps
from modules.notifications import NotificationRules, NotificationRulesProps, NotificationTopicOutputs
from modules.platform import Platform, RegionSite
from modules.security import RolePolicies, RolePoliciesProps, ServiceRolesOutputs
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


def database_user_arn(c: EnvironmentConfig, region: str, database: DatabaseOutputs) -> str:
    """The app's database user as IAM database authentication names it.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
    """
    return (
        f"arn:{c.partition}:rds-db:{region}:{c.account_id}:dbuser:{database.cluster_resource_id}/"
        f"{c.database.app_username}"
    )


def database_environment(c: EnvironmentConfig, database: DatabaseOutputs) -> dict[str, str]:
    """Where the database is and who the app is in it: what the service and the migration share."""
    return {
        "DB_HOST": database.writer_endpoint,
        "DB_PORT": str(database.port),
        "DB_NAME": database.database_name,
        "DB_USER": c.database.app_username,
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


def capacity_shares(c: EnvironmentConfig) -> tuple[CapacityShare, ...]:
    capacity = c.service.capacity
    shares = [CapacityShare("FARGATE", capacity.fargate_weight, capacity.fargate_base)]
    spot = c.spot_weight(c.service)
    if spot:
        shares.append(CapacityShare("FARGATE_SPOT", spot))
    return tuple(shares)


def task_spec(
    c: EnvironmentConfig, site: RegionSite, roles: ServiceRolesOutputs, database: DatabaseOutputs
) -> deploy_specs.TaskSpec:
    """The service's task: it signs in as the app's own role with IAM tokens, never with a secret."""
    svc, names = c.service, c.names.service(LEGACY_SERVICE)
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
                **svc.environment,
                "PORT": str(svc.container_port),
                **app_shutdown_budget(svc.stop_timeout_seconds),
                **database_environment(c, database),
                "DB_AUTH": "iam",
            },
            secrets={name: secret.arn for name, secret in svc.secrets.items()},
            log_group_name=names.app_log_group,
            region=site.region,
            stop_timeout_seconds=svc.stop_timeout_seconds,
            readonly_root_filesystem=svc.readonly_root_filesystem,
        ),
    )


def migration_task(
    c: EnvironmentConfig, roles: ServiceRolesOutputs, database: DatabaseOutputs, log_group_name: str
) -> deploy_specs.TaskSpec:
    """The one-off migration: the master user's secret, the owner and runtime roles to set up."""
    svc, names = c.service, c.names.service(LEGACY_SERVICE)
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
                **database_environment(c, database),
                "DB_OWNER_ROLE": c.database.owner_role,
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
    repository: EcrOutputs
    ecs: EcsOutputs
    pipeline: CodePipelineOutputs
    hooks: Hooks
    test_url: str
    prod_url: str


def test_url(c: EnvironmentConfig, platform: Platform) -> str:
    lb = c.load_balancer
    return f"{'https' if lb.https else 'http'}://{platform.balancer.alb_dns_name}:{lb.test_listener_port}"


def repository(scope: Construct, c: EnvironmentConfig, kms_key_arn: str) -> EcrOutputs:
    return Ecr(
        scope,
        "ecr",
        EcrProps(
            repository_name=c.names.service(LEGACY_SERVICE).ecr_repository,
            kms_key_arn=kms_key_arn,
            protected_tag=c.service.initial_image_tag,
            prevent_destroy=c.production,
        ),
    ).outputs


def rollback_alarms(
    scope: Construct, c: EnvironmentConfig, platform: Platform, topic: NotificationTopicOutputs
) -> RollbackAlarmsOutputs:
    names, balancer = c.names.service(LEGACY_SERVICE), platform.balancer
    return RollbackAlarms(
        scope,
        "alarms",
        RollbackAlarmsProps(
            alarm_names={suffix: names.alarm(suffix) for suffix in ALARM_SUFFIXES},
            thresholds=from_section(AlarmThresholds, c.deployment.alarms),
            alb_arn_suffix=balancer.alb_arn_suffix,
            # Production starts on blue: green is the first colour a deployment starts.
            first_green_target_group_arn_suffix=balancer.route.green.arn_suffix,
            topic_arn=topic.topic_arn,
        ),
    ).outputs


def hook_site(c: EnvironmentConfig, platform: Platform) -> HookSite:
    hook_security_group_id = platform.groups.test_hook_security_group_id
    assert hook_security_group_id is not None
    return HookSite(
        private_subnet_ids=platform.network.private_subnet_ids,
        security_group_id=hook_security_group_id,
        ec2_arn_prefix=f"arn:{c.partition}:ec2:{c.region}:{c.account_id}",
        kms_key_arn=platform.site.keys.artifacts_key_arn,
        logs_kms_key_arn=platform.site.keys.logs_key_arn,
        log_retention_days=c.service.log_retention_days,
    )


def load_test(
    scope: Construct, c: EnvironmentConfig, platform: Platform, roles: ServiceRolesOutputs, site: HookSite
) -> LoadTest | None:
    lt = c.deployment.load_test
    if lt is None:
        return None
    assert roles.load_test is not None and c.deployment.test_hook
    keys = platform.site.keys
    return LoadTest(
        scope,
        "load_test",
        LoadTestProps(
            project_name=c.names.service(LEGACY_SERVICE).load_test,
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
        ),
    )


def hooks(
    scope: Construct,
    c: EnvironmentConfig,
    platform: Platform,
    roles: ServiceRolesOutputs,
    deployer: Deployer,
    topic: NotificationTopicOutputs,
) -> Hooks:
    alarms = rollback_alarms(scope, c, platform, topic)
    site = hook_site(c, platform)
    balancer = platform.balancer
    release = ReleaseAlarmsHook(
        scope,
        "release_alarms",
        ReleaseAlarmsHookProps(
            function_name=c.names.service(LEGACY_SERVICE).release_alarms_hook,
            role=roles.release_alarms,
            site=site,
            production=deployer.production_route(balancer.route),
            colours=balancer.route.colours,
            rollback_alarm_names=alarms.rollback_alarm_names,
            rollback_alarm_arns=alarms.rollback_alarm_arns,
            reports_to_codedeploy=deployer.hooks_report_to_codedeploy,
        ),
    ).outputs
    tester = load_test(scope, c, platform, roles, site)
    dep = c.deployment
    hook = (
        DeploymentHooks(
            scope,
            "deployment_hooks",
            DeploymentHooksProps(
                function_name=c.names.service(LEGACY_SERVICE).test_hook,
                role=roles.test_hook,
                site=site,
                test_url=test_url(c, platform),
                test_hostname=dep.test_hostname,
                certificate_arn=c.load_balancer.certificate_arn,
                load_test_project_name=tester.outputs.project_name if tester else None,
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
    c: EnvironmentConfig,
    platform: Platform,
    roles: ServiceRolesOutputs,
    ecr: EcrOutputs,
    deployment: ServiceDeployment,
) -> Ecs:
    """The cluster, the task definition and the service, in their first revision."""
    svc, balancer = c.service, platform.balancer
    return Ecs(
        scope,
        "ecs",
        EcsProps(
            cluster_name=c.names.cluster,
            service_name=c.names.service(LEGACY_SERVICE).service,
            task=task_spec(c, platform.site, roles, platform.database),
            initial_image=f"{ecr.repository_url}:{svc.initial_image_tag}",
            desired_count=svc.desired_count,
            autoscaling=service_autoscaling(svc, balancer.alb_arn_suffix),
            capacity=capacity_shares(c),
            private_subnet_ids=platform.network.private_subnet_ids,
            security_group_id=platform.groups.tasks_security_group_id,
            blue_target_group_arn=balancer.route.blue.arn,
            target_group_forwarders=balancer.forwarding,
            health_check_grace_period_seconds=svc.health_check_grace_period_seconds,
            log_retention_days=svc.log_retention_days,
            logs_kms_key_arn=platform.site.keys.logs_key_arn,
            deployment=deployment,
        ),
    )


def task_network(platform: Platform) -> deploy_specs.TaskNetwork:
    return deploy_specs.TaskNetwork(
        subnet_ids=platform.network.private_subnet_ids, security_group_ids=[platform.groups.tasks_security_group_id]
    )


def migrations(
    scope: Construct, c: EnvironmentConfig, platform: Platform, roles: ServiceRolesOutputs, ecs: EcsOutputs
) -> Migrations:
    keys = platform.site.keys
    return Migrations(
        scope,
        "migrations",
        MigrationsProps(
            project_name=c.names.service(LEGACY_SERVICE).migrate_project,
            log_group_name=c.names.service(LEGACY_SERVICE).migrate_log_group,
            role_arn=roles.migrate.role_arn,
            role_name=roles.migrate.role_name,
            task=migration_task(c, roles, platform.database, ecs.log_group_name),
            cluster_arn=ecs.cluster_arn,
            cluster_name=ecs.cluster_name,
            network=task_network(platform),
            artifacts_kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=c.pipeline.build_log_retention_days,
            partition=c.partition,
            region=c.region,
            account_id=c.account_id,
        ),
    )


def app_errors(scope: Construct, c: EnvironmentConfig, ecs: EcsOutputs, topic: NotificationTopicOutputs) -> None:
    names = c.names.service(LEGACY_SERVICE)
    AppErrors(
        scope,
        "app_errors",
        AppErrorsProps(
            app_log_group_name=ecs.log_group_name,
            filter_name=names.app_5xx_filter,
            alarm_name=names.alarm("app-5xx"),
            metric_namespace=names.metric_namespace,
            per_minute=c.deployment.alarms.app_5xx_per_minute,
            topic_arn=topic.topic_arn,
        ),
    )


@dataclass(frozen=True)
class Delivery:
    """What the pipeline connects: the service it deploys, its image, its hooks and its migration."""

    ecr: EcrOutputs
    ecs: EcsOutputs
    hooks: Hooks
    migrate_project_name: str
    topic: NotificationTopicOutputs


def pipeline(
    scope: Construct,
    c: EnvironmentConfig,
    platform: Platform,
    roles: ServiceRolesOutputs,
    deployer: Deployer,
    d: Delivery,
) -> CodePipeline:
    names, pl, svc, keys = c.names.service(LEGACY_SERVICE), c.pipeline, c.service, platform.site.keys
    src = c.all_services[LEGACY_SERVICE].source
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
            existing_connection_arn=pl.connection_arn,
            connection_name=c.names.connection,
            build_project_name=names.build_project,
            build_log_group_name=names.build_log_group,
            build_log_retention_days=pl.build_log_retention_days,
            build_compute_type=src.build_compute_type,
            build_timeout_minutes=src.build_timeout_minutes,
            cpu_architecture=svc.cpu_architecture,
            app_path=src.app_path,
            ecr_repository_url=d.ecr.repository_url,
            task=d.ecs.task,
            capacity=tuple((share.provider, share.weight, share.base) for share in capacity_shares(c)),
            task_network=task_network(platform),
            codebuild_role_arn=roles.codebuild.role_arn,
            codepipeline_role_arn=roles.codepipeline.role_arn,
            deployer=deployer,
            deploy_target=DeployTarget(d.ecs.cluster_name, d.ecs.service_name, release(platform, roles, d.hooks)),
            test_hook_function_arn=d.hooks.test_traffic.function_arn if d.hooks.test_traffic else None,
            release_alarms_function_arn=d.hooks.release_alarms.function_arn,
            notification_topic_arn=d.topic.topic_arn,
            approval_stage=c.approval_stage(c.deployment),
            migrate_project_name=d.migrate_project_name,
        ),
    )


def release(platform: Platform, roles: ServiceRolesOutputs, hooks: Hooks) -> Release:
    return Release(
        route=platform.balancer.route,
        roles=roles,
        hooks=ReleaseHooks(
            release_alarms_arn=hooks.release_alarms.function_arn,
            test_traffic_arn=hooks.test_traffic.function_arn if hooks.test_traffic else None,
        ),
        rollback_alarm_names=hooks.alarms.rollback_alarm_names,
    )


def permissions(
    scope: Construct,
    c: EnvironmentConfig,
    platform: Platform,
    roles: ServiceRolesOutputs,
    d: Delivery,
    delivered: CodePipelineOutputs,
    migrate_project_arn: str,
) -> RolePolicies:
    """The roles' permission policies, scoped to everything the service and its pipeline created."""
    keys, route, database, ecs, hooks = platform.site.keys, platform.balancer.route, platform.database, d.ecs, d.hooks
    codedeploy, test_hook = delivered.codedeploy, hooks.test_traffic
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
            database_user_arn=database_user_arn(c, c.region, database),
            service_secrets=tuple(c.service.secrets.values()),
            data_key_arn=keys.data_key_arn,
            artifacts_key_arn=keys.artifacts_key_arn,
            artifact_bucket_arn=delivered.artifact_bucket_arn,
            app_log_group_arn=ecs.log_group_arn,
            build_log_group_arn=delivered.build_log_group_arn,
            flow_log_group_arn=platform.network.flow_log_group_arn,
            source_connection_arn=delivered.connection_arn,
            build_project_arn=delivered.build_project_arn,
            migrate_project_arn=migrate_project_arn,
            codedeploy_app_arn=codedeploy.app_arn if codedeploy else None,
            deployment_group_arn=codedeploy.deployment_group_arn if codedeploy else None,
            deployment_config_name=codedeploy.deployment_config_name if codedeploy else None,
            ecs_cluster_name=ecs.cluster_name,
            ecs_service_arn=ecs.service_arn,
            ecs_service_name=ecs.service_name,
            task_family=ecs.task_family,
            listener_arns=route.listener_arns,
            target_group_arns=[colour.arn for colour in route.colours],
            listener_rule_arns=[route.rules.prod_rule_arn, route.rules.test_rule_arn] if route.rules else [],
            alarm_arns=hooks.alarms.rollback_alarm_arns,
            test_hook_function_arn=test_hook.function_arn if test_hook else None,
            release_alarms_function_arn=hooks.release_alarms.function_arn,
            test_certificate_arn=c.load_balancer.certificate_arn
            if test_hook and not c.deployment.test_hostname
            else None,
            test_hook_log_group_arn=test_hook.log_group_arn if test_hook else None,
            notification_topic_arn=d.topic.topic_arn,
            notifications_key_arn=keys.notifications_key_arn,
            load_test_project_arn=hooks.load_test.project_arn if hooks.load_test else None,
            load_test_log_group_arn=hooks.load_test.log_group_arn if hooks.load_test else None,
            private_subnet_ids=platform.network.private_subnet_ids,
        ),
    )


def build(
    scope: Construct,
    c: EnvironmentConfig,
    platform: Platform,
    roles: ServiceRolesOutputs,
    deployer: Deployer,
    topic: NotificationTopicOutputs,
) -> ServiceOutputs:
    """The service, its release machinery and its pipeline; each role's policy once all exist."""
    ecr = repository(scope, c, platform.site.keys.artifacts_key_arn)
    around = hooks(scope, c, platform, roles, deployer, topic)
    service = runtime(scope, c, platform, roles, ecr, deployer.service_deployment(release(platform, roles, around)))
    ecs = service.outputs
    migration = migrations(scope, c, platform, roles, ecs)
    app_errors(scope, c, ecs, topic)
    delivery = Delivery(ecr, ecs, around, migration.outputs.project_name, topic)
    pipe = pipeline(scope, c, platform, roles, deployer, delivery)
    delivered = pipe.outputs
    migration.read_build_output(delivered.artifact_bucket_arn)
    NotificationRules(
        scope,
        "notification_rules",
        NotificationRulesProps(
            name_prefix=c.names.service(LEGACY_SERVICE).prefix,
            topic=topic,
            pipeline_arn=delivered.pipeline_arn,
            codedeploy_app_arn=delivered.codedeploy.app_arn if delivered.codedeploy else None,
        ),
    )
    policies = permissions(scope, c, platform, roles, delivery, delivered, migration.outputs.project_arn).outputs
    # What AWS checks (or first uses) when these are created: their roles' policies.
    service.start_after(
        policies.task_execution,
        *(p for p in (policies.ecs_infrastructure, policies.ecs_hook_invoker) if p is not None),
    )
    pipe.start_after(pipeline=policies.codepipeline, deployer=policies.codedeploy)
    platform.vpc.log_after(policies.flow_logs)
    lb = c.load_balancer
    prod_url = f"{'https' if lb.https else 'http'}://{platform.balancer.alb_dns_name}:{lb.effective_prod_port}"
    return ServiceOutputs(ecr, ecs, delivered, around, test_url(c, platform), prod_url)
