"""One environment's stack: the only place modules are connected, each by explicit ARNs/ids.

Order of construction (Terraform orders the API calls itself, from the references):
roles (trust only) -> keys -> networking -> security groups -> ecr -> database -> load balancer
-> ecs -> codepipeline -> the roles' permission policies, scoped to everything above.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from cdktf_cdktf_provider_aws.rds_global_cluster import RdsGlobalCluster
from constructs import Construct

from config import EnvironmentConfig
from config.naming import ALARM_SUFFIXES
from config.schema import Canary, Linear, NetworkingConfig, ServiceConfig, Traffic
from modules import access_logs, deploy_specs
from modules.alarms import AlarmThresholds, AppErrors, AppErrorsProps, RollbackAlarms, RollbackAlarmsProps
from modules.codepipeline import CodePipeline, CodePipelineProps
from modules.database import Database, DatabaseOutputs, DatabaseProps
from modules.deployment_hooks import (
    DeploymentHooks,
    DeploymentHooksProps,
    HookSite,
    ListenerForward,
    ReleaseAlarmsHook,
    ReleaseAlarmsHookProps,
    RuleForward,
)
from modules.disaster_recovery import (
    BackupVault,
    BackupVaultProps,
    CrossRegionBackup,
    CrossRegionBackupProps,
    DnsFailover,
    DnsFailoverProps,
    ImageReplication,
    ImageReplicationProps,
    ReplicaRepositoryTemplate,
    ReplicaRepositoryTemplateProps,
)
from modules.ecr import Ecr, EcrOutputs, EcrProps
from modules.ecs import Autoscaling, CapacityShare, Ecs, EcsProps, NativeBlueGreen, Schedule
from modules.endpoint_policies import VpcCallers
from modules.load_balancer import LoadBalancer, LoadBalancerOutputs, LoadBalancerProps
from modules.load_test import LoadTest, LoadTestProps
from modules.migrations import Migrations, MigrationsProps
from modules.networking import Networking, NetworkingOutputs, NetworkingProps
from modules.notifications import NotificationRules, NotificationRulesProps, NotificationTopic, NotificationTopicProps
from modules.regions import in_region_of
from modules.s3 import SecureBucket, SecureBucketOutputs, SecureBucketProps
from modules.security import (
    DrServiceAccess,
    EncryptionKeys,
    EncryptionKeysOutputs,
    EncryptionKeysProps,
    PrivateApis,
    RolePolicies,
    RolePoliciesProps,
    SecondaryRegionPolicies,
    SecondaryRegionPoliciesProps,
    SecurityGroups,
    SecurityGroupsOutputs,
    SecurityGroupsProps,
    ServiceRoles,
    ServiceRolesOutputs,
    ServiceRolesProps,
    ThroughNat,
)
from modules.traffic import TrafficShifting
from modules.waf import Waf, WafProps

#: The secret RDS manages is JSON; ECS injects it whole into the migration task, which reads the
#: master's username and password (the service never receives it).
DB_SECRET_ENV = "DB_SECRET"  # noqa: S105 - a variable name, not a secret
#: The migration task's command (app/service/migrate.py).
MIGRATE_COMMAND = ("python", "-m", "service.migrate")


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


#: After SIGTERM the app keeps serving this long (readiness failing), then finishes in-flight work.
APP_DRAIN_SECONDS = 2
#: Left between the app's own deadline and ECS's SIGKILL, for closing the pool and exiting.
APP_EXIT_MARGIN_SECONDS = 3


def app_shutdown_budget(stop_timeout_seconds: int) -> dict[str, str]:
    """The app's drain and shutdown deadlines, derived so they always fit the ECS stop timeout."""
    shutdown = stop_timeout_seconds - APP_DRAIN_SECONDS - APP_EXIT_MARGIN_SECONDS
    return {"DRAIN_SECONDS": str(APP_DRAIN_SECONDS), "SHUTDOWN_TIMEOUT_SECONDS": str(shutdown)}


def traffic_shifting(traffic: Traffic) -> TrafficShifting:
    if isinstance(traffic, Canary):
        return TrafficShifting("canary", traffic.percent, traffic.minutes)
    if isinstance(traffic, Linear):
        return TrafficShifting("linear", traffic.percent, traffic.every_minutes)
    return TrafficShifting("all_at_once")


#: ECS-native strategies for each kind of traffic shifting.
ECS_STRATEGIES = {"all_at_once": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}


def native_blue_green(
    c: EnvironmentConfig,
    balancer: LoadBalancerOutputs,
    roles: ServiceRolesOutputs,
    hook_arn: str | None,
    release_alarms_hook_arn: str,
    alarm_names: list[str],
) -> NativeBlueGreen | None:
    """ECS's own blue/green settings, when the config chooses that controller."""
    if c.deployment.controller != "ecs":
        return None
    assert roles.ecs_infrastructure and roles.ecs_hook_invoker
    assert balancer.prod_listener_rule_arn and balancer.test_listener_rule_arn
    shifting = traffic_shifting(c.deployment.traffic)
    return NativeBlueGreen(
        strategy=ECS_STRATEGIES[shifting.kind],
        step_percent=shifting.percent,
        step_minutes=shifting.interval_minutes,
        bake_minutes=c.deployment.termination_wait_minutes,
        green_target_group_arn=balancer.green_target_group_arn,
        prod_listener_rule_arn=balancer.prod_listener_rule_arn,
        test_listener_rule_arn=balancer.test_listener_rule_arn,
        infrastructure_role_arn=roles.ecs_infrastructure.role_arn,
        test_hook_arn=hook_arn,
        hook_role_arn=roles.ecs_hook_invoker.role_arn,
        release_alarms_hook_arn=release_alarms_hook_arn,
        alarm_names=alarm_names,
    )


def service_autoscaling(svc: ServiceConfig, alb_arn_suffix: str) -> Autoscaling | None:
    scaling = svc.autoscaling
    if scaling is None:
        return None
    return Autoscaling(
        min_tasks=scaling.min_tasks,
        max_tasks=scaling.max_tasks,
        cpu_target_percent=scaling.cpu_target_percent,
        memory_target_percent=scaling.memory_target_percent,
        scale_in_cooldown_seconds=scaling.scale_in_cooldown_seconds,
        scale_out_cooldown_seconds=scaling.scale_out_cooldown_seconds,
        schedules=tuple(Schedule(**schedule.model_dump()) for schedule in scaling.schedules),
        requests_per_task_per_minute=scaling.requests_per_task_per_minute,
        alb_arn_suffix=alb_arn_suffix,
    )


def capacity_shares(c: EnvironmentConfig) -> tuple[CapacityShare, ...]:
    capacity = c.service.capacity
    shares = [CapacityShare("FARGATE", capacity.fargate_weight, capacity.fargate_base)]
    if c.spot_weight:
        shares.append(CapacityShare("FARGATE_SPOT", c.spot_weight))
    return tuple(shares)


def vpc_callers(c: EnvironmentConfig, region: str, roles: ServiceRolesOutputs) -> VpcCallers:
    """Who calls AWS from inside the VPC of ``region``, and which of the tasks' secrets live there."""
    here = [s.source for s in c.service.secrets.values() if s.source.split(":")[3] == region]
    primary = region == c.region
    return VpcCallers(
        partition=c.partition,
        region=region,
        account_id=c.account_id,
        task_execution_role_arn=roles.task_execution.role_arn,
        # The load test runs in the primary region's VPC; the DR region runs no deployments.
        log_writer_role_arns=(roles.load_test.role_arn,) if primary and roles.load_test else (),
        # Only the migration task reads it, and migrations run in the primary region only.
        reads_database_secret=primary,
        secret_arns=tuple(a for a in here if ":secretsmanager:" in a),
        parameter_arns=tuple(a for a in here if ":ssm:" in a),
    )


def task_apis(c: EnvironmentConfig, site: RegionSite, network: NetworkingOutputs) -> PrivateApis | ThroughNat:
    """Inside the VPC when its endpoints cover every AWS API the tasks call, otherwise through NAT."""
    if network.endpoint_security_group_id is None:
        return ThroughNat("HTTPS to ECR, Logs and Secrets Manager through NAT: no interface endpoints in this VPC")
    if any(s.source.split(":")[3] != site.region for s in c.service.secrets.values()):
        # A VPC endpoint serves its own region only.
        return ThroughNat("HTTPS through NAT: service.secrets names a secret or parameter of another region")
    return PrivateApis(network.endpoint_security_group_id, network.s3_prefix_list_id)


def stack_name(config: EnvironmentConfig) -> str:
    return config.names.prefix


@dataclass(frozen=True)
class RegionSite:
    """What differs when the same constructs are built in the primary or the DR region."""

    region: str
    networking: NetworkingConfig
    availability_zones: tuple[str, ...]
    certificate_arn: str | None
    keys: EncryptionKeysOutputs
    #: S3 bucket names are global; every other name may repeat across regions.
    access_log_bucket: str


class BlueGreenStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, stack_name(config))
        c = config
        names = c.names
        dr_provider = self._provider_and_backend(c)
        # Everything built under this scope lands in the DR region (see modules/regions.py).
        dr_scope = in_region_of(Construct(self, "dr"), dr_provider) if dr_provider else None

        roles = ServiceRoles(
            self,
            "roles",
            ServiceRolesProps(
                name_prefix=names.prefix,
                account_id=c.account_id,
                partition=c.partition,
                ecs_native=c.deployment.controller == "ecs",
                load_test=c.deployment.load_test is not None,
                backup=c.dr is not None and c.dr.posture == "backup_restore",
                image_replicas=c.dr is not None,
            ),
        ).outputs
        keys = self._keys(self, c, c.region, roles)
        site = RegionSite(
            region=c.region,
            networking=c.networking,
            availability_zones=c.availability_zones,
            certificate_arn=c.load_balancer.certificate_arn,
            keys=keys,
            access_log_bucket=names.access_log_bucket,
        )
        vpc = self._networking(self, c, site, roles)
        network = vpc.outputs
        groups = self._security_groups(self, c, site, network)
        hook_security_group_id = groups.test_hook_security_group_id
        assert hook_security_group_id is not None

        ecr = Ecr(
            self,
            "ecr",
            EcrProps(
                repository_name=names.ecr_repository,
                kms_key_arn=keys.artifacts_key_arn,
                protected_tag=c.service.initial_image_tag,
                prevent_destroy=c.production,
            ),
        ).outputs

        dr_keys = self._keys(dr_scope, c, c.dr.region, roles) if dr_scope and c.dr else None
        global_cluster = None
        if c.dr is not None and c.dr.global_database:
            global_cluster = RdsGlobalCluster(
                self,
                "global_database",
                global_cluster_identifier=names.db_global_cluster,
                engine="aurora-postgresql",
                engine_version=c.database.engine_version,
                storage_encrypted=True,
                deletion_protection=c.database.deletion_protection,
            )
        database = self._database(
            self,
            c,
            site,
            network,
            groups,
            roles,
            global_cluster_identifier=global_cluster.id if global_cluster else None,
            secret_replicas=((c.dr.region, dr_keys.data_key_arn),) if c.dr and dr_keys and global_cluster else (),
        )
        assert database.master_secret_arn is not None

        balancer, log_bucket = self._load_balancer(self, c, site, network, groups)
        lb = c.load_balancer
        scheme = "https" if lb.https else "http"
        test_url = f"{scheme}://{balancer.alb_dns_name}:{lb.test_listener_port}"
        topic = NotificationTopic(
            self,
            "notifications",
            NotificationTopicProps(
                topic_name=names.topic,
                account_id=c.account_id,
                kms_key_arn=keys.notifications_key_arn,
                email_subscribers=c.notifications.email_subscribers,
            ),
        ).outputs
        dep = c.deployment
        alarms = RollbackAlarms(
            self,
            "alarms",
            RollbackAlarmsProps(
                alarm_names={suffix: names.alarm(suffix) for suffix in ALARM_SUFFIXES},
                thresholds=AlarmThresholds(**dep.alarms.model_dump()),
                alb_arn_suffix=balancer.alb_arn_suffix,
                # Production starts on blue: green is the first colour a deployment starts.
                first_green_target_group_arn_suffix=balancer.green_target_group_arn_suffix,
                topic_arn=topic.topic_arn,
            ),
        ).outputs
        hook_site = HookSite(
            private_subnet_ids=network.private_subnet_ids,
            security_group_id=hook_security_group_id,
            ec2_arn_prefix=f"arn:{c.partition}:ec2:{c.region}:{c.account_id}",
            kms_key_arn=keys.artifacts_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=c.service.log_retention_days,
        )
        ecs_native = dep.controller == "ecs"
        assert not ecs_native or balancer.prod_listener_rule_arn is not None
        release_hook = ReleaseAlarmsHook(
            self,
            "release_alarms",
            ReleaseAlarmsHookProps(
                function_name=names.release_alarms_hook,
                role=roles.release_alarms,
                site=hook_site,
                production=RuleForward(balancer.prod_listener_rule_arn)
                if ecs_native and balancer.prod_listener_rule_arn
                else ListenerForward(balancer.prod_listener_arn),
                target_groups=(
                    (balancer.blue_target_group_arn, balancer.blue_target_group_arn_suffix),
                    (balancer.green_target_group_arn, balancer.green_target_group_arn_suffix),
                ),
                rollback_alarm_names=alarms.rollback_alarm_names,
                rollback_alarm_arns=alarms.rollback_alarm_arns,
                reports_to_codedeploy=not ecs_native,
            ),
        ).outputs
        load_test, tester = None, None
        if c.deployment.load_test is not None:
            assert roles.load_test is not None and c.deployment.test_hook
            lt = c.deployment.load_test
            tester = LoadTest(
                self,
                "load_test",
                LoadTestProps(
                    project_name=names.load_test,
                    role_arn=roles.load_test.role_arn,
                    role_name=roles.load_test.role_name,
                    partition=c.partition,
                    region=c.region,
                    account_id=c.account_id,
                    test_url=test_url,
                    duration_seconds=lt.duration_seconds,
                    concurrency=lt.concurrency,
                    max_error_percent=lt.max_error_percent,
                    max_p99_ms=lt.max_p99_ms,
                    compute_type=lt.compute_type,
                    vpc_id=network.vpc_id,
                    private_subnet_ids=network.private_subnet_ids,
                    # The hook's group: out to the test listener and HTTPS, nothing else.
                    security_group_id=hook_security_group_id,
                    kms_key_arn=keys.artifacts_key_arn,
                    logs_kms_key_arn=keys.logs_key_arn,
                    log_retention_days=c.pipeline.build_log_retention_days,
                ),
            )
            load_test = tester.outputs
        hook = (
            DeploymentHooks(
                self,
                "deployment_hooks",
                DeploymentHooksProps(
                    function_name=names.test_hook,
                    role=roles.test_hook,
                    site=hook_site,
                    test_url=test_url,
                    test_hostname=dep.test_hostname,
                    certificate_arn=lb.certificate_arn,
                    load_test_project_name=load_test.project_name if load_test else None,
                ),
            ).outputs
            if c.deployment.test_hook
            else None
        )
        if tester is not None and hook is not None and c.deployment.controller == "codedeploy":
            # Under ECS the hook polls the build itself; under CodeDeploy the build's end reaches it.
            tester.report_to(hook.function_arn, hook.function_name)

        task = self._task(c, site, roles, database)
        task_network = deploy_specs.TaskNetwork(
            subnet_ids=network.private_subnet_ids, security_group_ids=[groups.tasks_security_group_id]
        )
        svc = c.service
        service = Ecs(
            self,
            "ecs",
            EcsProps(
                cluster_name=names.cluster,
                service_name=names.service,
                task=task,
                initial_image=f"{ecr.repository_url}:{svc.initial_image_tag}",
                desired_count=svc.desired_count,
                autoscaling=service_autoscaling(svc, balancer.alb_arn_suffix),
                capacity=capacity_shares(c),
                private_subnet_ids=network.private_subnet_ids,
                security_group_id=groups.tasks_security_group_id,
                blue_target_group_arn=balancer.blue_target_group_arn,
                target_group_forwarders=balancer.forwarding,
                health_check_grace_period_seconds=svc.health_check_grace_period_seconds,
                log_retention_days=svc.log_retention_days,
                logs_kms_key_arn=keys.logs_key_arn,
                native_blue_green=native_blue_green(
                    c,
                    balancer,
                    roles,
                    hook.function_arn if hook else None,
                    release_hook.function_arn,
                    alarms.rollback_alarm_names,
                ),
            ),
        )
        ecs = service.outputs

        migrations = Migrations(
            self,
            "migrations",
            MigrationsProps(
                project_name=names.migrate_project,
                log_group_name=names.migrate_log_group,
                role_arn=roles.migrate.role_arn,
                role_name=roles.migrate.role_name,
                task=self._migration_task(c, roles, database, ecs.log_group_name),
                cluster_arn=ecs.cluster_arn,
                cluster_name=ecs.cluster_name,
                network=task_network,
                artifacts_kms_key_arn=keys.artifacts_key_arn,
                logs_kms_key_arn=keys.logs_key_arn,
                log_retention_days=c.pipeline.build_log_retention_days,
                partition=c.partition,
                region=c.region,
                account_id=c.account_id,
            ),
        )
        AppErrors(
            self,
            "app_errors",
            AppErrorsProps(
                app_log_group_name=ecs.log_group_name,
                filter_name=names.app_5xx_filter,
                alarm_name=names.alarm("app-5xx"),
                metric_namespace=names.metric_namespace,
                per_minute=dep.alarms.app_5xx_per_minute,
                topic_arn=topic.topic_arn,
            ),
        )
        pl = c.pipeline
        delivery = CodePipeline(
            self,
            "codepipeline",
            CodePipelineProps(
                name_prefix=names.prefix,
                pipeline_name=names.pipeline,
                artifact_bucket_name=names.artifact_bucket,
                artifact_retention_days=pl.artifact_retention_days,
                artifact_access_log_target=(log_bucket, f"{access_logs.S3_ACCESS_LOG_PREFIX}/artifacts/"),
                artifacts_kms_key_arn=keys.artifacts_key_arn,
                logs_kms_key_arn=keys.logs_key_arn,
                source_provider=pl.source_provider,
                repository=pl.repository,
                branch=pl.branch,
                existing_connection_arn=pl.connection_arn,
                connection_name=names.connection,
                build_project_name=names.build_project,
                build_log_group_name=names.build_log_group,
                build_log_retention_days=pl.build_log_retention_days,
                build_compute_type=pl.build_compute_type,
                build_timeout_minutes=pl.build_timeout_minutes,
                cpu_architecture=svc.cpu_architecture,
                app_path=pl.app_path,
                ecr_repository_url=ecr.repository_url,
                task=ecs.task,
                capacity=tuple((share.provider, share.weight, share.base) for share in capacity_shares(c)),
                task_network=task_network,
                codebuild_role_arn=roles.codebuild.role_arn,
                codepipeline_role_arn=roles.codepipeline.role_arn,
                codedeploy_app_name=names.codedeploy_app,
                deployment_group_name=names.deployment_group,
                codedeploy_role_arn=roles.codedeploy.role_arn,
                controller=dep.controller,
                traffic=traffic_shifting(dep.traffic),
                test_hook_function_arn=hook.function_arn if hook else None,
                release_alarms_function_arn=release_hook.function_arn,
                approval_timeout_minutes=dep.approval_timeout_minutes,
                termination_wait_minutes=dep.termination_wait_minutes,
                auto_rollback=dep.auto_rollback,
                ecs_cluster_name=ecs.cluster_name,
                ecs_service_name=ecs.service_name,
                prod_listener_arn=balancer.prod_listener_arn,
                test_listener_arn=balancer.test_listener_arn,
                blue_target_group_name=balancer.blue_target_group_name,
                green_target_group_name=balancer.green_target_group_name,
                rollback_alarm_names=alarms.rollback_alarm_names,
                notification_topic_arn=topic.topic_arn,
                approval_stage=c.approval_stage,
                migrate_project_name=migrations.outputs.project_name,
            ),
        )
        pipeline = delivery.outputs
        migrations.read_build_output(pipeline.artifact_bucket_arn)

        NotificationRules(
            self,
            "notification_rules",
            NotificationRulesProps(
                name_prefix=names.prefix,
                topic=topic,
                pipeline_arn=pipeline.pipeline_arn,
                codedeploy_app_arn=pipeline.codedeploy_app_arn,
            ),
        )

        policies = RolePolicies(
            self,
            "role_policies",
            RolePoliciesProps(
                roles=roles,
                partition=c.partition,
                region=c.region,
                account_id=c.account_id,
                ecr_repository_arn=ecr.repository_arn,
                database_secret_arn=database.master_secret_arn,
                database_user_arn=database_user_arn(c, c.region, database),
                service_secrets=tuple(c.service.secrets.values()),
                data_key_arn=keys.data_key_arn,
                artifacts_key_arn=keys.artifacts_key_arn,
                artifact_bucket_arn=pipeline.artifact_bucket_arn,
                app_log_group_arn=ecs.log_group_arn,
                build_log_group_arn=pipeline.build_log_group_arn,
                flow_log_group_arn=network.flow_log_group_arn,
                source_connection_arn=pipeline.connection_arn,
                build_project_arn=pipeline.build_project_arn,
                migrate_project_arn=migrations.outputs.project_arn,
                codedeploy_app_arn=pipeline.codedeploy_app_arn,
                deployment_group_arn=pipeline.deployment_group_arn,
                deployment_config_name=pipeline.deployment_config_name,
                ecs_cluster_name=ecs.cluster_name,
                ecs_service_arn=ecs.service_arn,
                ecs_service_name=ecs.service_name,
                task_family=ecs.task_family,
                listener_arns=[balancer.prod_listener_arn, balancer.test_listener_arn],
                target_group_arns=[balancer.blue_target_group_arn, balancer.green_target_group_arn],
                listener_rule_arns=[a for a in (balancer.prod_listener_rule_arn, balancer.test_listener_rule_arn) if a],
                alarm_arns=alarms.rollback_alarm_arns,
                test_hook_function_arn=hook.function_arn if hook else None,
                release_alarms_function_arn=release_hook.function_arn,
                test_certificate_arn=lb.certificate_arn if hook and not dep.test_hostname else None,
                test_hook_log_group_arn=hook.log_group_arn if hook else None,
                notification_topic_arn=topic.topic_arn,
                notifications_key_arn=keys.notifications_key_arn,
                load_test_project_arn=load_test.project_arn if load_test else None,
                load_test_log_group_arn=load_test.log_group_arn if load_test else None,
                private_subnet_ids=network.private_subnet_ids,
            ),
        ).outputs
        # What AWS checks (or first uses) when these are created: their roles' policies.
        service.start_after(
            policies.task_execution,
            *(p for p in (policies.ecs_infrastructure, policies.ecs_hook_invoker) if p is not None),
            # Its first tasks pull, log and read secrets at once, only through these.
            *groups.tasks_egress_rules,
            *vpc.endpoints,
        )
        delivery.start_after(pipeline=policies.codepipeline, deployer=policies.codedeploy)
        vpc.log_after(policies.flow_logs)

        outputs = {
            "alb_dns_name": balancer.alb_dns_name,
            "prod_url": f"{scheme}://{balancer.alb_dns_name}:{lb.effective_prod_port}",
            "test_url": test_url,
            "ecr_repository_url": ecr.repository_url,
            "ecs_cluster_name": ecs.cluster_name,
            "ecs_service_name": ecs.service_name,
            "pipeline_name": pipeline.pipeline_name,
            "source_connection_arn": pipeline.connection_arn,
            "codedeploy_app_name": pipeline.codedeploy_app_name,
            "deployment_group_name": pipeline.deployment_group_name,
            "database_writer_endpoint": database.writer_endpoint,
            "database_secret_arn": database.master_secret_arn,
        }
        if dr_scope is not None and dr_keys is not None:
            outputs.update(
                self._disaster_recovery(dr_scope, c, roles, keys, dr_keys, database, global_cluster, balancer, ecr)
            )
        for name, value in outputs.items():
            if value is not None:  # CodeDeploy's names do not exist with the ECS controller
                TerraformOutput(self, name, value=value)

    # --- Built the same way in either region (scope: the stack, or the DR region's scope) ---

    @staticmethod
    def _keys(scope: Construct, c: EnvironmentConfig, region: str, roles: ServiceRolesOutputs) -> EncryptionKeysOutputs:
        in_dr = region != c.region
        return EncryptionKeys(
            scope,
            "keys",
            EncryptionKeysProps(
                name_prefix=c.names.prefix,
                account_id=c.account_id,
                partition=c.partition,
                region=region,
                pipeline_role_arns=(
                    roles.codepipeline.role_arn,
                    roles.codebuild.role_arn,
                    roles.migrate.role_arn,
                    *([roles.load_test.role_arn] if roles.load_test else []),
                ),
                secret_reader_role_arn=roles.task_execution.role_arn,
                prevent_destroy=c.production,
                artifacts_grant_role_arns=(
                    (roles.ecr_replica_creator.role_arn,) if in_dr and roles.ecr_replica_creator else ()
                ),
            ),
        ).outputs

    @staticmethod
    def _networking(scope: Construct, c: EnvironmentConfig, site: RegionSite, roles: ServiceRolesOutputs) -> Networking:
        net = site.networking
        callers = vpc_callers(c, site.region, roles)
        return Networking(
            scope,
            "networking",
            NetworkingProps(
                name_prefix=c.names.prefix,
                region=site.region,
                vpc_cidr=str(net.vpc_cidr),
                availability_zones=site.availability_zones,
                public_subnet_cidrs=[str(s) for s in net.tiers["public"]],
                private_subnet_cidrs=[str(s) for s in net.tiers["private"]],
                database_subnet_cidrs=[str(s) for s in net.tiers["database"]],
                nat_mode=net.nat_mode,
                gateway_policy=callers.gateway_policy(),
                interface_endpoints=(
                    {service: callers.interface_policy(service) for service in callers.interface_services()}
                    if net.interface_endpoints
                    else {}
                ),
                flow_log_group_name=c.names.flow_log_group,
                flow_log_retention_days=net.flow_log_retention_days,
                flow_log_role_arn=roles.flow_logs.role_arn,
                logs_kms_key_arn=site.keys.logs_key_arn,
            ),
        )

    @staticmethod
    def _security_groups(
        scope: Construct, c: EnvironmentConfig, site: RegionSite, network: NetworkingOutputs, *, test_hook: bool = True
    ) -> SecurityGroupsOutputs:
        lb = c.load_balancer
        return SecurityGroups(
            scope,
            "security_groups",
            SecurityGroupsProps(
                name_prefix=c.names.prefix,
                vpc_id=network.vpc_id,
                nat_public_cidrs=network.nat_public_cidrs,
                prod_listener_port=lb.effective_prod_port,
                http_redirect=lb.https,
                test_listener_port=lb.test_listener_port,
                ingress_cidrs=[str(n) for n in lb.ingress_cidrs],
                test_ingress_cidrs=[str(n) for n in lb.test_ingress_cidrs],
                container_port=c.service.container_port,
                task_apis=task_apis(c, site, network),
                service_https_cidrs=[str(n) for n in c.service.https_egress_cidrs],
                test_hook=test_hook,
            ),
        ).outputs

    @staticmethod
    def _database(
        scope: Construct,
        c: EnvironmentConfig,
        site: RegionSite,
        network: NetworkingOutputs,
        groups: SecurityGroupsOutputs,
        roles: ServiceRolesOutputs,
        *,
        global_cluster_identifier: str | None = None,
        secret_replicas: tuple[tuple[str, str], ...] = (),
        secondary_instances: int | None = None,
        primary: DatabaseOutputs | None = None,
    ) -> DatabaseOutputs:
        """The primary cluster, or (``secondary_instances`` set) a global database's DR member."""
        db = c.database
        return Database(
            scope,
            "database",
            DatabaseProps(
                cluster_identifier=c.names.db_cluster,
                engine_version=db.engine_version,
                auto_minor_version_upgrade=db.auto_minor_version_upgrade,
                instance_class=db.effective_instance_class,
                instance_count=db.instance_count if secondary_instances is None else secondary_instances,
                serverless_capacity=(db.serverless_v2.min_acu, db.serverless_v2.max_acu) if db.serverless_v2 else None,
                seconds_until_auto_pause=(
                    db.serverless_v2.seconds_until_auto_pause
                    if db.serverless_v2 and db.serverless_v2.auto_pause
                    else None
                ),
                database_name=db.database_name,
                master_username=db.master_username,
                subnet_ids=network.database_subnet_ids,
                availability_zones=site.availability_zones,
                security_group_id=groups.database_security_group_id,
                kms_key_arn=site.keys.data_key_arn,
                logs_kms_key_arn=site.keys.logs_key_arn,
                backup_retention_days=db.backup_retention_days,
                preferred_backup_window=db.preferred_backup_window,
                preferred_maintenance_window=db.preferred_maintenance_window,
                deletion_protection=db.deletion_protection,
                skip_final_snapshot=db.skip_final_snapshot,
                monitoring_interval_seconds=db.monitoring_interval_seconds,
                monitoring_role=roles.rds_monitoring,
                performance_insights=db.performance_insights,
                log_retention_days=db.log_retention_days,
                prevent_destroy=c.production,
                global_cluster_identifier=global_cluster_identifier,
                secondary=secondary_instances is not None,
                password_version=db.password_version,
                secret_replicas=secret_replicas,
                primary_instances=primary.instances if primary else (),
            ),
        ).outputs

    @staticmethod
    def _load_balancer(
        scope: Construct,
        c: EnvironmentConfig,
        site: RegionSite,
        network: NetworkingOutputs,
        groups: SecurityGroupsOutputs,
    ) -> tuple[LoadBalancerOutputs, SecureBucketOutputs]:
        """The ALB with its WAF, and its access-log bucket (returned: other buckets log there too)."""
        names, lb = c.names, c.load_balancer
        log_bucket = SecureBucket(
            scope,
            "access_logs",
            SecureBucketProps(
                bucket_name=site.access_log_bucket,
                expiration_days=lb.access_log_retention_days,
                kms_key_arn=None,  # ALB log delivery supports SSE-S3 only.
                extra_statements=(
                    access_logs.delivery_statement(site.access_log_bucket, site.region, c.account_id, c.partition),
                    access_logs.s3_server_log_statement(site.access_log_bucket, c.account_id, c.partition),
                ),
            ),
        ).outputs
        web_acl_arn = lb.waf_web_acl_arn if site.region == c.region else None
        if web_acl_arn is None and lb.managed_waf:
            web_acl_arn = Waf(
                scope,
                "waf",
                WafProps(
                    name=names.prefix,
                    rate_limit_per_5_minutes=lb.waf_rate_limit_per_5_minutes,
                    log_retention_days=lb.waf_log_retention_days,
                    logs_kms_key_arn=site.keys.logs_key_arn,
                    own_egress_cidrs=network.nat_public_cidrs,
                ),
            ).outputs.web_acl_arn
        balancer = LoadBalancer(
            scope,
            "load_balancer",
            LoadBalancerProps(
                alb_name=names.alb,
                blue_target_group_name=names.target_group_blue,
                green_target_group_name=names.target_group_green,
                vpc_id=network.vpc_id,
                public_subnet_ids=network.public_subnet_ids,
                security_group_id=groups.alb_security_group_id,
                access_log_bucket=log_bucket,
                container_port=c.service.container_port,
                health_check_path=c.service.health_check_path,
                health_check_interval_seconds=lb.health_check_interval_seconds,
                health_check_timeout_seconds=lb.health_check_timeout_seconds,
                healthy_threshold=lb.healthy_threshold,
                unhealthy_threshold=lb.unhealthy_threshold,
                deregistration_delay_seconds=lb.deregistration_delay_seconds,
                idle_timeout_seconds=lb.idle_timeout_seconds,
                deletion_protection=lb.deletion_protection,
                prod_listener_port=lb.effective_prod_port,
                test_listener_port=lb.test_listener_port,
                certificate_arn=site.certificate_arn,
                ssl_policy=lb.ssl_policy,
                waf_web_acl_arn=web_acl_arn,
                listener_rules=c.deployment.controller == "ecs" and site.region == c.region,
            ),
        ).outputs
        return balancer, log_bucket

    @staticmethod
    @staticmethod
    def _task(
        c: EnvironmentConfig, site: RegionSite, roles: ServiceRolesOutputs, database: DatabaseOutputs
    ) -> deploy_specs.TaskSpec:
        """The service's task: it signs in as the app's own role with IAM tokens, never with a secret."""
        svc, names = c.service, c.names
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

    @staticmethod
    def _migration_task(
        c: EnvironmentConfig, roles: ServiceRolesOutputs, database: DatabaseOutputs, log_group_name: str
    ) -> deploy_specs.TaskSpec:
        """The one-off migration: the master user's secret, the owner and runtime roles to set up."""
        svc, names = c.service, c.names
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

    # --- The DR region, and what connects it to the primary ---

    def _disaster_recovery(
        self,
        scope: Construct,
        c: EnvironmentConfig,
        roles: ServiceRolesOutputs,
        primary_keys: EncryptionKeysOutputs,
        keys: EncryptionKeysOutputs,
        primary_database: DatabaseOutputs,
        global_cluster: RdsGlobalCluster | None,
        primary_balancer: LoadBalancerOutputs,
        repository: EcrOutputs,
    ) -> dict[str, str | None]:
        """``keys`` are the DR region's; the scope places resources there, ``self`` in the primary."""
        dr = c.dr
        assert dr is not None
        names = c.names
        replica_repository_arn = f"arn:{c.partition}:ecr:{dr.region}:{c.account_id}:repository/{names.ecr_repository}"
        assert roles.ecr_replica_creator is not None
        template = ReplicaRepositoryTemplate(
            scope,
            "replica_repository",
            ReplicaRepositoryTemplateProps(
                repository_name=names.ecr_repository,
                kms_key_arn=keys.artifacts_key_arn,
                creator_role_arn=roles.ecr_replica_creator.role_arn,
                protected_tag=c.service.initial_image_tag,
            ),
        )
        ImageReplication(
            self,
            "image_replication",
            ImageReplicationProps(
                repository_name=repository.repository_name,
                account_id=c.account_id,
                destination_region=dr.region,
                replica_template=template.template,
            ),
        )
        outputs: dict[str, str | None] = {}
        service_access = None  # nothing runs in the DR region with backup_restore
        dr_vpc, dr_service = None, None
        if dr.posture == "backup_restore":
            assert roles.backup is not None
            primary_vault = BackupVault(
                self,
                "backup_vault",
                BackupVaultProps(name=names.backup_vault, kms_key_arn=primary_keys.data_key_arn),
            ).outputs
            dr_vault = BackupVault(
                scope, "backup_vault", BackupVaultProps(name=names.dr_backup_vault, kms_key_arn=keys.data_key_arn)
            ).outputs
            CrossRegionBackup(
                self,
                "dr_backup",
                CrossRegionBackupProps(
                    plan_name=names.backup_plan,
                    database_cluster_arn=primary_database.cluster_arn,
                    vault_name=primary_vault.vault_name,
                    dr_vault_arn=dr_vault.vault_arn,
                    retention_days=dr.backup_copy_retention_days,
                    backup_role=roles.backup,
                ),
            )
            outputs["dr_backup_vault_arn"] = dr_vault.vault_arn
        if dr.runs_compute:
            assert global_cluster is not None
            site = RegionSite(
                region=dr.region,
                networking=dr.networking,
                availability_zones=c.dr_availability_zones,
                certificate_arn=dr.certificate_arn,
                keys=keys,
                access_log_bucket=names.dr_access_log_bucket(dr.region),
            )
            dr_vpc = self._networking(scope, c, site, roles)
            network = dr_vpc.outputs
            groups = self._security_groups(scope, c, site, network, test_hook=False)
            database = self._database(
                scope,
                c,
                site,
                network,
                groups,
                roles,
                global_cluster_identifier=global_cluster.id,
                secondary_instances=1 if dr.posture == "warm_standby" else 0,
                primary=primary_database,
            )
            balancer, _ = self._load_balancer(scope, c, site, network, groups)
            task = self._task(c, site, roles, database)
            registry = f"{c.account_id}.dkr.ecr.{dr.region}.amazonaws.com"
            dr_service = Ecs(
                scope,
                "ecs",
                EcsProps(
                    cluster_name=names.cluster,
                    service_name=names.service,
                    task=task,
                    initial_image=f"{registry}/{names.ecr_repository}:{c.service.initial_image_tag}",
                    desired_count=dr.standby_tasks if dr.posture == "warm_standby" else 0,
                    autoscaling=None,
                    capacity=capacity_shares(c),
                    private_subnet_ids=network.private_subnet_ids,
                    security_group_id=groups.tasks_security_group_id,
                    blue_target_group_arn=balancer.blue_target_group_arn,
                    target_group_forwarders=balancer.forwarding,
                    health_check_grace_period_seconds=c.service.health_check_grace_period_seconds,
                    log_retention_days=c.service.log_retention_days,
                    logs_kms_key_arn=keys.logs_key_arn,
                    native_blue_green=None,
                    # Nothing deploys here until a failover; then operators roll the service (README).
                    rolling_updates=True,
                ),
            )
            ecs = dr_service.outputs
            service_access = DrServiceAccess(
                app_log_group_arn=ecs.log_group_arn,
                flow_log_group_arn=network.flow_log_group_arn,
                database_user_arn=database_user_arn(c, dr.region, database),
            )
            if dr.failover is not None:
                DnsFailover(
                    self,
                    "dns_failover",
                    DnsFailoverProps(
                        hosted_zone_id=dr.failover.hosted_zone_id,
                        record_name=dr.failover.record_name,
                        health_check_path=dr.failover.health_check_path,
                        port=c.load_balancer.effective_prod_port,
                        https=c.load_balancer.https,
                        primary_alb=(primary_balancer.alb_dns_name, primary_balancer.alb_zone_id),
                        dr_alb=(balancer.alb_dns_name, balancer.alb_zone_id),
                        name_prefix=c.names.prefix,
                    ),
                )
            outputs.update(
                {
                    "dr_alb_dns_name": balancer.alb_dns_name,
                    "dr_ecs_cluster_name": ecs.cluster_name,
                    "dr_database_endpoint": database.writer_endpoint,
                    "global_database_id": global_cluster.id,
                }
            )
        dr_policies = SecondaryRegionPolicies(
            self,
            "dr_role_policies",
            SecondaryRegionPoliciesProps(
                roles=roles,
                region=dr.region,
                replica_repository_arn=replica_repository_arn,
                artifacts_key_arn=keys.artifacts_key_arn,
                service=service_access,
            ),
        )
        assert dr_policies.ecr_replica_creator is not None
        template.create_after(dr_policies.ecr_replica_creator)
        if dr_vpc is not None and dr_service is not None:
            assert dr_policies.flow_logs is not None and dr_policies.task_execution is not None
            dr_vpc.log_after(dr_policies.flow_logs)
            dr_service.start_after(dr_policies.task_execution, *groups.tasks_egress_rules, *dr_vpc.endpoints)
        return outputs

    def _provider_and_backend(self, c: EnvironmentConfig) -> AwsProvider | None:
        """The primary region's provider (the default) and, with DR, the DR region's (alias "dr")."""
        default_tags = [
            AwsProviderDefaultTags(
                tags={"project": c.project, "environment": c.environment, "managed-by": "bluegreen", **c.tags}
            )
        ]
        AwsProvider(
            self,
            "aws",
            region=c.region,
            # A stack can only ever be applied to the account its config names.
            allowed_account_ids=[c.account_id],
            default_tags=default_tags,
        )
        dr_provider = (
            AwsProvider(
                self,
                "aws_dr",
                alias="dr",
                region=c.dr.region,
                allowed_account_ids=[c.account_id],
                default_tags=default_tags,
            )
            if c.dr is not None
            else None
        )
        if c.state is not None:
            backend = S3Backend(
                self,
                bucket=c.state.bucket,
                key=c.state_key,
                region=c.state.region or c.region,
                encrypt=True,
                kms_key_id=c.state.kms_key_id,
            )
            # cdktf 0.21's S3Backend predates S3-native locking; the argument is plain Terraform.
            backend.add_override("use_lockfile", c.state.use_lockfile)
        return dr_provider
