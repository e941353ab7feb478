"""One environment's stack: the only place modules are connected, each by explicit ARNs/ids.

Order of construction (Terraform orders the API calls itself, from the references):
roles (trust only) -> keys -> networking -> security groups -> ecr -> database -> load balancer
-> ecs -> codepipeline -> the roles' permission policies, scoped to everything above.
"""

from __future__ import annotations

from cdktf import S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from config import EnvironmentConfig
from config.schema import Canary, Linear, ServiceConfig, Traffic
from modules import access_logs, deploy_specs
from modules.codepipeline import AlarmThresholds, CodePipeline, CodePipelineProps, rollback_alarm_names
from modules.database import Database, DatabaseProps
from modules.deployment_hooks import DeploymentHooks, DeploymentHooksProps
from modules.ecr import Ecr, EcrProps
from modules.ecs import Autoscaling, CapacityShare, Ecs, EcsProps, NativeBlueGreen, Schedule
from modules.load_balancer import LoadBalancer, LoadBalancerOutputs, LoadBalancerProps
from modules.load_test import LoadTest, LoadTestProps
from modules.networking import Networking, NetworkingProps
from modules.notifications import NotificationRules, NotificationRulesProps, NotificationTopic, NotificationTopicProps
from modules.s3 import SecureBucket, SecureBucketProps
from modules.security import (
    EncryptionKeys,
    EncryptionKeysProps,
    RolePolicies,
    RolePoliciesProps,
    SecurityGroups,
    SecurityGroupsProps,
    ServiceRoles,
    ServiceRolesOutputs,
    ServiceRolesProps,
)
from modules.traffic import TrafficShifting
from modules.waf import Waf, WafProps

#: The secret RDS manages is JSON; ECS injects it whole, the app reads username and password.
DB_SECRET_ENV = "DB_SECRET"  # noqa: S105 - a variable name, not a secret


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
    c: EnvironmentConfig, balancer: LoadBalancerOutputs, roles: ServiceRolesOutputs, hook_arn: str | None
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
        alarm_names=rollback_alarm_names(c.names.prefix),
    )


def service_autoscaling(svc: ServiceConfig) -> Autoscaling | None:
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
    )


def capacity_shares(c: EnvironmentConfig) -> tuple[CapacityShare, ...]:
    capacity = c.service.capacity
    shares = [CapacityShare("FARGATE", capacity.fargate_weight, capacity.fargate_base)]
    if c.spot_weight:
        shares.append(CapacityShare("FARGATE_SPOT", c.spot_weight))
    return tuple(shares)


def stack_name(config: EnvironmentConfig) -> str:
    return config.names.prefix


class BlueGreenStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, stack_name(config))
        c = config
        names = c.names
        self._provider_and_backend(c)

        roles = ServiceRoles(
            self,
            "roles",
            ServiceRolesProps(
                name_prefix=names.prefix,
                account_id=c.account_id,
                partition=c.partition,
                ecs_native=c.deployment.controller == "ecs",
                load_test=c.deployment.load_test is not None,
            ),
        ).outputs
        keys = EncryptionKeys(
            self,
            "keys",
            EncryptionKeysProps(
                name_prefix=names.prefix,
                account_id=c.account_id,
                partition=c.partition,
                region=c.region,
                pipeline_role_arns=(
                    roles.codepipeline.role_arn,
                    roles.codebuild.role_arn,
                    *([roles.load_test.role_arn] if roles.load_test else []),
                ),
                secret_reader_role_arn=roles.task_execution.role_arn,
                prevent_destroy=c.production,
            ),
        ).outputs

        net = c.networking
        network = Networking(
            self,
            "networking",
            NetworkingProps(
                name_prefix=names.prefix,
                region=c.region,
                vpc_cidr=str(net.vpc_cidr),
                availability_zones=c.availability_zones,
                public_subnet_cidrs=[str(s) for s in net.tiers["public"]],
                private_subnet_cidrs=[str(s) for s in net.tiers["private"]],
                database_subnet_cidrs=[str(s) for s in net.tiers["database"]],
                nat_mode=net.nat_mode,
                interface_endpoints=net.interface_endpoints,
                flow_log_group_name=names.flow_log_group,
                flow_log_retention_days=net.flow_log_retention_days,
                flow_log_role_arn=roles.flow_logs.role_arn,
                logs_kms_key_arn=keys.logs_key_arn,
            ),
        ).outputs

        lb = c.load_balancer
        groups = SecurityGroups(
            self,
            "security_groups",
            SecurityGroupsProps(
                name_prefix=names.prefix,
                vpc_id=network.vpc_id,
                nat_public_cidrs=network.nat_public_cidrs,
                prod_listener_port=lb.effective_prod_port,
                http_redirect=lb.https,
                test_listener_port=lb.test_listener_port,
                ingress_cidrs=[str(n) for n in lb.ingress_cidrs],
                test_ingress_cidrs=[str(n) for n in lb.test_ingress_cidrs],
                container_port=c.service.container_port,
            ),
        ).outputs

        ecr = Ecr(
            self,
            "ecr",
            EcrProps(
                repository_name=names.ecr_repository, kms_key_arn=keys.artifacts_key_arn, prevent_destroy=c.production
            ),
        ).outputs

        db = c.database
        database = Database(
            self,
            "database",
            DatabaseProps(
                cluster_identifier=names.db_cluster,
                engine_version=db.engine_version,
                instance_class=db.effective_instance_class,
                instance_count=db.instance_count,
                serverless_capacity=(db.serverless_v2.min_acu, db.serverless_v2.max_acu) if db.serverless_v2 else None,
                database_name=db.database_name,
                master_username=db.master_username,
                subnet_ids=network.database_subnet_ids,
                availability_zones=c.availability_zones,
                security_group_id=groups.database_security_group_id,
                kms_key_arn=keys.data_key_arn,
                logs_kms_key_arn=keys.logs_key_arn,
                backup_retention_days=db.backup_retention_days,
                preferred_backup_window=db.preferred_backup_window,
                preferred_maintenance_window=db.preferred_maintenance_window,
                deletion_protection=db.deletion_protection,
                skip_final_snapshot=db.skip_final_snapshot,
                monitoring_interval_seconds=db.monitoring_interval_seconds,
                monitoring_role_arn=roles.rds_monitoring.role_arn,
                performance_insights=db.performance_insights,
                log_retention_days=db.log_retention_days,
                prevent_destroy=c.production,
            ),
        ).outputs

        log_bucket = SecureBucket(
            self,
            "access_logs",
            SecureBucketProps(
                bucket_name=names.access_log_bucket,
                expiration_days=lb.access_log_retention_days,
                kms_key_arn=None,  # ALB log delivery supports SSE-S3 only.
                extra_statements=(
                    access_logs.delivery_statement(names.access_log_bucket, c.region, c.account_id, c.partition),
                    access_logs.s3_server_log_statement(names.access_log_bucket, c.account_id, c.partition),
                ),
            ),
        ).outputs
        web_acl_arn = lb.waf_web_acl_arn
        if web_acl_arn is None and lb.managed_waf:
            web_acl_arn = Waf(
                self,
                "waf",
                WafProps(
                    name=names.prefix,
                    rate_limit_per_5_minutes=lb.waf_rate_limit_per_5_minutes,
                    log_retention_days=lb.waf_log_retention_days,
                    logs_kms_key_arn=keys.logs_key_arn,
                ),
            ).outputs.web_acl_arn
        balancer = LoadBalancer(
            self,
            "load_balancer",
            LoadBalancerProps(
                alb_name=names.alb,
                blue_target_group_name=names.target_group_blue,
                green_target_group_name=names.target_group_green,
                vpc_id=network.vpc_id,
                public_subnet_ids=network.public_subnet_ids,
                security_group_id=groups.alb_security_group_id,
                access_log_bucket_name=log_bucket.bucket_name,
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
                certificate_arn=lb.certificate_arn,
                ssl_policy=lb.ssl_policy,
                waf_web_acl_arn=web_acl_arn,
                listener_rules=c.deployment.controller == "ecs",
            ),
        ).outputs

        scheme = "https" if lb.https else "http"
        test_url = f"{scheme}://{balancer.alb_dns_name}:{lb.test_listener_port}"
        load_test_name = f"{names.prefix}-load-test" if c.deployment.load_test else None
        hook = (
            DeploymentHooks(
                self,
                "deployment_hooks",
                DeploymentHooksProps(
                    function_name=f"{names.prefix}-test-traffic-hook",
                    role_arn=roles.test_hook.role_arn,
                    test_url=test_url,
                    private_subnet_ids=network.private_subnet_ids,
                    security_group_id=groups.test_hook_security_group_id,
                    kms_key_arn=keys.artifacts_key_arn,
                    logs_kms_key_arn=keys.logs_key_arn,
                    log_retention_days=c.service.log_retention_days,
                    load_test_project_name=load_test_name,
                ),
            ).outputs
            if c.deployment.test_hook
            else None
        )
        load_test = None
        if c.deployment.load_test is not None:
            assert hook is not None and roles.load_test is not None and load_test_name is not None
            lt = c.deployment.load_test
            load_test = LoadTest(
                self,
                "load_test",
                LoadTestProps(
                    project_name=load_test_name,
                    role_arn=roles.load_test.role_arn,
                    test_url=test_url,
                    duration_seconds=lt.duration_seconds,
                    concurrency=lt.concurrency,
                    max_error_percent=lt.max_error_percent,
                    max_p99_ms=lt.max_p99_ms,
                    compute_type=lt.compute_type,
                    vpc_id=network.vpc_id,
                    private_subnet_ids=network.private_subnet_ids,
                    # The hook's group: out to the test listener and HTTPS, nothing else.
                    security_group_id=groups.test_hook_security_group_id,
                    kms_key_arn=keys.artifacts_key_arn,
                    logs_kms_key_arn=keys.logs_key_arn,
                    log_retention_days=c.pipeline.build_log_retention_days,
                    reporter=(hook.function_arn, hook.function_name)
                    if c.deployment.controller == "codedeploy"
                    else None,
                ),
            ).outputs

        svc = c.service
        task = deploy_specs.TaskSpec(
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
                    "DB_HOST": database.writer_endpoint,
                    "DB_PORT": str(database.port),
                    "DB_NAME": database.database_name,
                },
                secrets={DB_SECRET_ENV: database.master_secret_arn},
                log_group_name=names.app_log_group,
                region=c.region,
                stop_timeout_seconds=svc.stop_timeout_seconds,
                readonly_root_filesystem=svc.readonly_root_filesystem,
            ),
        )
        ecs = Ecs(
            self,
            "ecs",
            EcsProps(
                cluster_name=names.cluster,
                service_name=names.service,
                task=task,
                initial_image=f"{ecr.repository_url}:{svc.initial_image_tag}",
                desired_count=svc.desired_count,
                autoscaling=service_autoscaling(svc),
                capacity=capacity_shares(c),
                private_subnet_ids=network.private_subnet_ids,
                security_group_id=groups.tasks_security_group_id,
                blue_target_group_arn=balancer.blue_target_group_arn,
                health_check_grace_period_seconds=svc.health_check_grace_period_seconds,
                log_retention_days=svc.log_retention_days,
                logs_kms_key_arn=keys.logs_key_arn,
                native_blue_green=native_blue_green(c, balancer, roles, hook.function_arn if hook else None),
            ),
        ).outputs

        topic = NotificationTopic(
            self,
            "notifications",
            NotificationTopicProps(
                topic_name=f"{names.prefix}-releases",
                account_id=c.account_id,
                kms_key_arn=keys.notifications_key_arn,
                email_subscribers=c.notifications.email_subscribers,
            ),
        ).outputs
        pl, dep = c.pipeline, c.deployment
        pipeline = CodePipeline(
            self,
            "codepipeline",
            CodePipelineProps(
                name_prefix=names.prefix,
                pipeline_name=names.pipeline,
                artifact_bucket_name=names.artifact_bucket,
                artifact_retention_days=pl.artifact_retention_days,
                artifact_access_log_target=(log_bucket.bucket_name, f"{access_logs.S3_ACCESS_LOG_PREFIX}/artifacts/"),
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
                task=task,
                capacity=tuple((share.provider, share.weight, share.base) for share in capacity_shares(c)),
                codebuild_role_arn=roles.codebuild.role_arn,
                codepipeline_role_arn=roles.codepipeline.role_arn,
                codedeploy_app_name=names.codedeploy_app,
                deployment_group_name=names.deployment_group,
                codedeploy_role_arn=roles.codedeploy.role_arn,
                controller=dep.controller,
                traffic=traffic_shifting(dep.traffic),
                test_hook_function_arn=hook.function_arn if hook else None,
                approval_timeout_minutes=dep.approval_timeout_minutes,
                termination_wait_minutes=dep.termination_wait_minutes,
                auto_rollback=dep.auto_rollback,
                ecs_cluster_name=ecs.cluster_name,
                ecs_service_name=ecs.service_name,
                prod_listener_arn=balancer.prod_listener_arn,
                test_listener_arn=balancer.test_listener_arn,
                blue_target_group_name=balancer.blue_target_group_name,
                green_target_group_name=balancer.green_target_group_name,
                alb_arn_suffix=balancer.alb_arn_suffix,
                target_group_arn_suffixes=[
                    ("blue", balancer.blue_target_group_arn_suffix),
                    ("green", balancer.green_target_group_arn_suffix),
                ],
                alarms=AlarmThresholds(**dep.alarms.model_dump()),
                app_log_group_name=names.app_log_group,
                notification_topic_arn=topic.topic_arn,
                approval_stage=c.approval_stage,
            ),
        ).outputs

        NotificationRules(
            self,
            "notification_rules",
            NotificationRulesProps(
                name_prefix=names.prefix,
                topic_arn=topic.topic_arn,
                pipeline_arn=pipeline.pipeline_arn,
                codedeploy_app_arn=pipeline.codedeploy_app_arn,
            ),
        )

        RolePolicies(
            self,
            "role_policies",
            RolePoliciesProps(
                roles=roles,
                partition=c.partition,
                region=c.region,
                account_id=c.account_id,
                ecr_repository_arn=ecr.repository_arn,
                database_secret_arn=database.master_secret_arn,
                data_key_arn=keys.data_key_arn,
                artifacts_key_arn=keys.artifacts_key_arn,
                artifact_bucket_arn=pipeline.artifact_bucket_arn,
                app_log_group_arn=ecs.log_group_arn,
                build_log_group_arn=pipeline.build_log_group_arn,
                flow_log_group_arn=network.flow_log_group_arn,
                source_connection_arn=pipeline.connection_arn,
                build_project_arn=pipeline.build_project_arn,
                codedeploy_app_arn=pipeline.codedeploy_app_arn,
                deployment_group_arn=pipeline.deployment_group_arn,
                deployment_config_name=pipeline.deployment_config_name,
                ecs_cluster_name=ecs.cluster_name,
                ecs_service_arn=ecs.service_arn,
                ecs_service_name=ecs.service_name,
                task_family=ecs.task_family,
                listener_arns=[balancer.prod_listener_arn, balancer.test_listener_arn],
                listener_rule_arns=[a for a in (balancer.prod_listener_rule_arn, balancer.test_listener_rule_arn) if a],
                alarm_arns=pipeline.alarm_arns,
                test_hook_function_arn=hook.function_arn if hook else None,
                test_hook_log_group_arn=hook.log_group_arn if hook else None,
                notification_topic_arn=topic.topic_arn,
                load_test_project_arn=load_test.project_arn if load_test else None,
                load_test_log_group_arn=load_test.log_group_arn if load_test else None,
                private_subnet_ids=network.private_subnet_ids,
            ),
        )

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
        for name, value in outputs.items():
            if value is not None:  # CodeDeploy's names do not exist with the ECS controller
                TerraformOutput(self, name, value=value)

    def _provider_and_backend(self, c: EnvironmentConfig) -> None:
        AwsProvider(
            self,
            "aws",
            region=c.region,
            # A stack can only ever be applied to the account its config names.
            allowed_account_ids=[c.account_id],
            default_tags=[
                AwsProviderDefaultTags(
                    tags={"project": c.project, "environment": c.environment, "managed-by": "bluegreen", **c.tags}
                )
            ],
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
