"""One environment's stack: providers, the platform, the service on it, disaster recovery, outputs.

Nothing else happens here: each part builds itself (modules/platform.py, modules/service.py,
modules/recovery.py), and the deployment controller's differences come from the one deployer
``deployer_for`` picks (modules/deployers.py). Terraform orders the API calls from references.
"""

from __future__ import annotations

from cdktf import S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from config import EnvironmentConfig
from modules import layout, platform, recovery, security_wiring, service
from modules.deployers import deployer_for
from modules.notifications import NotificationTopic, NotificationTopicOutputs, NotificationTopicProps
from modules.regions import in_region_of
from modules.security import EnvironmentRoles, PlatformRoles, PlatformRolesProps, ServiceRoles, ServiceRolesProps

# The app's shutdown budget is the service's; re-exported for the app's tests.
APP_DRAIN_SECONDS = service.APP_DRAIN_SECONDS
APP_EXIT_MARGIN_SECONDS = service.APP_EXIT_MARGIN_SECONDS


def stack_name(config: EnvironmentConfig) -> str:
    return config.names.prefix


class BlueGreenStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, stack_name(config))
        c = config
        dr_provider = self._provider_and_backend(c)
        # Everything built under this scope lands in the DR region (see modules/regions.py).
        dr_scope = in_region_of(Construct(self, "dr"), dr_provider) if dr_provider else None
        roles = self._roles(c)
        keys = platform.keys(self, c, c.region, roles)
        dr_keys = platform.keys(dr_scope, c, c.dr.region, roles) if dr_scope and c.dr else None
        global_cluster = platform.global_database(self, c)
        primary = platform.build_primary(
            self, c, platform.primary_site(c, keys), roles, global_cluster=global_cluster, dr_keys=dr_keys
        )
        shared = service.Shared(
            primary, roles, self._topic(c, keys.notifications_key_arn), platform.source_connection(self, c)
        )
        services = service.build_all(self, c, shared)
        outputs = self._outputs(c, primary, shared, services)
        if dr_scope is not None and dr_keys is not None:
            at = recovery.Regions(primary=self, dr=dr_scope)
            repositories = [built.repository for built in services.values()]
            outputs.update(recovery.build(at, c, roles, (keys, dr_keys), primary, global_cluster, repositories))
        for name, value in outputs.items():
            if value is not None:  # CodeDeploy's names do not exist with the ECS controller
                TerraformOutput(self, name, value=value)
        layout.move_legacy_addresses(self)

    def _roles(self, c: EnvironmentConfig) -> EnvironmentRoles:
        """The environment's roles (roles/), and each service's (services/<key>/roles): roles hold
        only trust, so all come first; their permissions follow once what they act on exists."""
        own = PlatformRoles(
            self,
            "roles",
            PlatformRolesProps(
                name_prefix=c.names.prefix,
                account_id=c.account_id,
                partition=c.partition,
                backup=c.dr is not None and c.dr.posture == "backup_restore",
                image_replicas=c.dr is not None,
                source_arns=security_wiring.platform_trust_sources(c),
            ),
        ).outputs
        services = {
            key: ServiceRoles(
                layout.service_scope(self, key),
                "roles",
                ServiceRolesProps(
                    name_prefix=c.names.service(key).prefix,
                    account_id=c.account_id,
                    partition=c.partition,
                    ecs_native=deployer_for(c, key).uses_ecs_roles,
                    ecs_release=deployer_for(c, key).release_step() is not None,
                    load_test=spec.deployment.load_test is not None,
                    blue_green=spec.route is not None,
                    source_arns=security_wiring.service_trust_sources(c, key),
                ),
            ).outputs
            for key, spec in c.all_services.items()
        }
        return EnvironmentRoles(own, services)

    def _topic(self, c: EnvironmentConfig, kms_key_arn: str) -> NotificationTopicOutputs:
        return NotificationTopic(
            self,
            "notifications",
            NotificationTopicProps(
                topic_name=c.names.topic,
                account_id=c.account_id,
                kms_key_arn=kms_key_arn,
                email_subscribers=c.notifications.email_subscribers,
                alarm_arns=security_wiring.alarm_sources(c),
            ),
        ).outputs

    @staticmethod
    def _outputs(
        c: EnvironmentConfig,
        primary: platform.Platform,
        shared: service.Shared,
        services: dict[str, service.ServiceOutputs],
    ) -> dict[str, str | None]:
        """The environment's outputs, and each service's (prefixed by its key when there are several)."""
        outputs: dict[str, str | None] = {
            "alb_dns_name": primary.balancer.alb_dns_name,
            "source_connection_arn": shared.connection_arn,
            "database_writer_endpoint": primary.database.writer_endpoint,
            "database_secret_arn": primary.database.master_secret_arn,
        }
        for key, built in services.items():
            prefix = "" if c.services is None else f"{key}_"
            ecs, pipeline, codedeploy = built.ecs, built.pipeline, built.pipeline.codedeploy
            outputs |= {
                f"{prefix}prod_url": built.prod_url,
                f"{prefix}test_url": built.test_url,
                f"{prefix}ecr_repository_url": built.repository.repository_url,
                f"{prefix}ecs_cluster_name": ecs.cluster_name,
                f"{prefix}ecs_service_name": ecs.service_name,
                f"{prefix}pipeline_name": pipeline.pipeline_name,
                f"{prefix}codedeploy_app_name": codedeploy.app_name if codedeploy else None,
                f"{prefix}deployment_group_name": codedeploy.deployment_group_name if codedeploy else None,
            }
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
