"""Disaster recovery in the DR region, and what connects it to the primary.

Every posture replicates the images; ``backup_restore`` copies the database's backups there;
``pilot_light`` and ``warm_standby`` run a platform there too (its database a member of the global
database) with the service waiting at its posture's size, and optionally a DNS failover. The DR
scope places resources in the DR region; the stack's own scope keeps them in the primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.rds_global_cluster import RdsGlobalCluster
from constructs import Construct

from config import EnvironmentConfig
from config.schema import DisasterRecoveryConfig
from modules import platform as platforms
from modules.deployers import RollingDeployer, deployer_for
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
from modules.ecr import EcrOutputs
from modules.ecs import Ecs, EcsProps
from modules.layout import service_scope
from modules.load_balancer import LoadBalancerOutputs, ServiceRouteOutputs
from modules.platform import Platform, capacity_shares
from modules.security import (
    DrServiceAccess,
    DrServicePolicies,
    EncryptionKeysOutputs,
    EnvironmentRoles,
    PlatformRolesOutputs,
    SecondaryRegionPolicies,
    SecondaryRegionPoliciesProps,
    ServiceRolesOutputs,
)
from modules.service import (
    ServiceContext,
    behind_load_balancer,
    contexts,
    database_user_arn,
    route_all,
    rule_conditions,
    task_spec,
)


@dataclass(frozen=True)
class Regions:
    """Where things go: ``primary`` is the stack itself, ``dr`` places resources in the DR region."""

    primary: Construct
    dr: Construct


def replicate_images(
    at: Regions,
    c: EnvironmentConfig,
    roles: PlatformRolesOutputs,
    keys: EncryptionKeysOutputs,
    repositories: Sequence[EcrOutputs],
) -> ReplicaRepositoryTemplate:
    """Every service's images, copied to the DR region into replicas the template creates."""
    dr = _dr(c)
    assert roles.ecr_replica_creator is not None
    tags = dict.fromkeys(spec.initial_image_tag for spec in c.all_services.values())
    template = ReplicaRepositoryTemplate(
        at.dr,
        "replica_repository",
        ReplicaRepositoryTemplateProps(
            prefix=c.names.ecr_namespace,
            kms_key_arn=keys.artifacts_key_arn,
            creator_role_arn=roles.ecr_replica_creator.role_arn,
            protected_tags=tuple(tags),
        ),
    )
    ImageReplication(
        at.primary,
        "image_replication",
        ImageReplicationProps(
            repository_names=tuple(repository.repository_name for repository in repositories),
            account_id=c.account_id,
            destination_region=dr.region,
            replica_template=template.template,
        ),
    )
    return template


def copy_backups(
    at: Regions,
    c: EnvironmentConfig,
    roles: PlatformRolesOutputs,
    primary_keys: EncryptionKeysOutputs,
    keys: EncryptionKeysOutputs,
    primary: Platform,
) -> str:
    """Daily backups of the primary cluster, copied to the DR region's vault: that vault's ARN."""
    dr, names = _dr(c), c.names
    assert roles.backup is not None
    primary_vault = BackupVault(
        at.primary, "backup_vault", BackupVaultProps(name=names.backup_vault, kms_key_arn=primary_keys.data_key_arn)
    ).outputs
    dr_vault = BackupVault(
        at.dr, "backup_vault", BackupVaultProps(name=names.dr_backup_vault, kms_key_arn=keys.data_key_arn)
    ).outputs
    CrossRegionBackup(
        at.primary,
        "dr_backup",
        CrossRegionBackupProps(
            plan_name=names.backup_plan,
            database_cluster_arn=primary.database.cluster_arn,
            vault_name=primary_vault.vault_name,
            dr_vault_arn=dr_vault.vault_arn,
            retention_days=dr.backup_copy_retention_days,
            backup_role=roles.backup,
        ),
    )
    return dr_vault.vault_arn


def standby_service(
    scope: Construct, s: ServiceContext, roles: ServiceRolesOutputs, site: Platform, routed: ServiceRouteOutputs
) -> Ecs:
    """A service in the DR region, at its posture's size; nothing deploys there until a failover."""
    c, dr = s.c, _dr(s.c)
    registry = f"{c.account_id}.dkr.ecr.{dr.region}.amazonaws.com"
    return Ecs(
        scope,
        "ecs",
        EcsProps(
            cluster=site.cluster,
            service_name=s.names.service,
            task=task_spec(s, site.site, roles, site.database),
            initial_image=f"{registry}/{s.names.ecr_repository}:{s.spec.initial_image_tag}",
            desired_count=dr.standby_tasks if dr.posture == "warm_standby" else 0,
            autoscaling=None,
            capacity=capacity_shares(c, s.spec),
            private_subnet_ids=site.network.private_subnet_ids,
            security_group_ids=[site.groups.tasks_security_group_id],
            reached=behind_load_balancer(s, routed),
            log_retention_days=s.spec.log_retention_days,
            logs_kms_key_arn=site.site.keys.logs_key_arn,
            # Nothing deploys here until a failover; then operators roll the service (README).
            deployment=RollingDeployer().service_deployment(None),
        ),
    )


def standby_services(at: Regions, c: EnvironmentConfig, roles: EnvironmentRoles, there: Platform) -> dict[str, Ecs]:
    """Every service in the DR region, each on its route of the DR load balancer. Rolled, never
    blue/green: the default route is the listeners' default, with no catch-all rule."""
    services = contexts(c)
    routed = route_all(
        at.dr,
        services,
        there,
        lambda s: None if s.spec.route is None or s.spec.route.is_default else rule_conditions(s),
    )
    return {
        key: standby_service(service_scope(at.dr, key), s, roles.services[key], there, routed[key])
        for key, s in services.items()
    }


def dns_failover(scope: Construct, c: EnvironmentConfig, primary: LoadBalancerOutputs, dr: LoadBalancerOutputs) -> None:
    failover = _dr(c).failover
    if failover is None:
        return
    DnsFailover(
        scope,
        "dns_failover",
        DnsFailoverProps(
            hosted_zone_id=failover.hosted_zone_id,
            record_name=failover.record_name,
            health_check_path=failover.health_check_path,
            port=c.load_balancer.effective_prod_port,
            https=c.load_balancer.https,
            primary_alb=(primary.alb_dns_name, primary.alb_zone_id),
            dr_alb=(dr.alb_dns_name, dr.alb_zone_id),
            name_prefix=c.names.prefix,
        ),
    )


@dataclass(frozen=True)
class Standby:
    platform: Platform
    services: dict[str, Ecs]


def build(
    at: Regions,
    c: EnvironmentConfig,
    roles: EnvironmentRoles,
    keys: tuple[EncryptionKeysOutputs, EncryptionKeysOutputs],
    primary: Platform,
    global_cluster: RdsGlobalCluster | None,
    repositories: Sequence[EcrOutputs],
) -> dict[str, str | None]:
    """``keys``: the primary region's and the DR region's; ``global_cluster``: the database both
    regions' clusters join (None: backups only, nothing runs there). Returns the stack outputs DR adds."""
    dr = _dr(c)
    primary_keys, dr_keys = keys
    template = replicate_images(at, c, roles.platform, dr_keys, repositories)
    outputs: dict[str, str | None] = {}
    if dr.posture == "backup_restore":
        outputs["dr_backup_vault_arn"] = copy_backups(at, c, roles.platform, primary_keys, dr_keys, primary)
    standby = None
    # The postures that run a standby are those that replicate the database into its region
    # (DisasterRecoveryConfig.runs_compute and .global_database): the global cluster says which.
    if global_cluster is not None:
        site = platforms.dr_site(c, dr_keys)
        instances = 1 if dr.posture == "warm_standby" else 0
        there = platforms.build_secondary(
            at.dr, c, site, roles, global_cluster=global_cluster, primary=primary.database, instances=instances
        )
        standby = Standby(there, standby_services(at, c, roles, there))
        dns_failover(at.primary, c, primary.balancer, there.balancer)
        outputs.update(
            {
                "dr_alb_dns_name": there.balancer.alb_dns_name,
                "dr_ecs_cluster_name": there.cluster.name,
                "dr_database_endpoint": there.database.writer_endpoint,
                "global_database_id": global_cluster.id,
            }
        )
    _secondary_policies(at, c, roles, dr_keys, template, standby)
    return outputs


def _secondary_policies(
    at: Regions,
    c: EnvironmentConfig,
    roles: EnvironmentRoles,
    keys: EncryptionKeysOutputs,
    template: ReplicaRepositoryTemplate,
    standby: Standby | None,
) -> None:
    """What the (global) roles need in the DR region, and what waits there for those policies."""
    dr = _dr(c)

    def replica(key: str) -> str:
        return f"arn:{c.partition}:ecr:{dr.region}:{c.account_id}:repository/{c.names.service(key).ecr_repository}"

    policies = SecondaryRegionPolicies(
        at.primary,
        "dr_role_policies",
        SecondaryRegionPoliciesProps(
            roles=roles.platform,
            region=dr.region,
            replica_repository_arns=[replica(key) for key in c.all_services],
            artifacts_key_arn=keys.artifacts_key_arn,
            # Nothing runs in the DR region with backup_restore.
            flow_log_group_arn=standby.platform.network.flow_log_group_arn if standby else None,
        ),
    )
    assert policies.ecr_replica_creator is not None
    template.create_after(policies.ecr_replica_creator)
    if standby is None:
        return
    assert policies.flow_logs is not None
    standby.platform.vpc.log_after(policies.flow_logs)
    for key, service in standby.services.items():
        s = ServiceContext(c, key, deployer_for(c, key))
        access = DrServiceAccess(
            replica_repository_arn=replica(key),
            app_log_group_arn=service.outputs.log_group_arn,
            database_user_arn=database_user_arn(s, dr.region, standby.platform.database),
        )
        own = DrServicePolicies(service_scope(at.primary, key), "dr_role_policies", roles.services[key], access)
        service.start_after(
            own.task_execution, *standby.platform.groups.tasks_egress_rules, *standby.platform.vpc.endpoints
        )


def _dr(c: EnvironmentConfig) -> DisasterRecoveryConfig:
    assert c.dr is not None, "only built with a dr section"
    return c.dr
