"""What only disaster recovery needs: images and backups copied to the DR region, DNS failover.

The DR region's VPC, load balancer, cluster, service and database are the ordinary constructs,
built a second time under the DR provider (modules/regions.py); this module holds the pieces
that connect the two regions. Each construct is created in the region its docstring names.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import ITerraformDependable, TerraformResource
from cdktf_cdktf_provider_aws.backup_plan import (
    BackupPlan,
    BackupPlanRule,
    BackupPlanRuleCopyAction,
    BackupPlanRuleCopyActionLifecycle,
    BackupPlanRuleLifecycle,
)
from cdktf_cdktf_provider_aws.backup_selection import BackupSelection
from cdktf_cdktf_provider_aws.backup_vault import BackupVault as BackupVaultResource
from cdktf_cdktf_provider_aws.ecr_replication_configuration import (
    EcrReplicationConfiguration,
    EcrReplicationConfigurationReplicationConfiguration,
    EcrReplicationConfigurationReplicationConfigurationRule,
    EcrReplicationConfigurationReplicationConfigurationRuleDestination,
    EcrReplicationConfigurationReplicationConfigurationRuleRepositoryFilter,
)
from cdktf_cdktf_provider_aws.ecr_repository_creation_template import (
    EcrRepositoryCreationTemplate,
    EcrRepositoryCreationTemplateEncryptionConfiguration,
)
from cdktf_cdktf_provider_aws.route53_health_check import Route53HealthCheck
from cdktf_cdktf_provider_aws.route53_record import (
    Route53Record,
    Route53RecordAlias,
    Route53RecordFailoverRoutingPolicy,
)
from constructs import Construct

from modules.depends import after
from modules.ecr import lifecycle_policy
from modules.security.roles import RoleOutputs

#: Daily, in the small hours UTC; the copy to the DR region follows each backup.
BACKUP_SCHEDULE = "cron(0 3 * * ? *)"


@dataclass(frozen=True)
class ImageReplicationProps:
    """Primary region: push once, the registry copies each image to the DR region."""

    #: Every service's repository: one filter each. ECR takes up to 100 per rule; an environment
    #: has at most 50 services (config/schema.py ALB_TARGET_GROUPS), all routed.
    #: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ReplicationRule.html
    repository_names: tuple[str, ...]
    account_id: str
    destination_region: str
    #: ECR applies the DR region's creation template when replication first creates the replica
    #: repository: the template must exist before the first image replicates.
    replica_template: ITerraformDependable


class ImageReplication(Construct):
    def __init__(self, scope: Construct, id: str, props: ImageReplicationProps) -> None:
        super().__init__(scope, id)
        # One replication configuration per registry (account and region): this stack owns it.
        EcrReplicationConfiguration(
            self,
            "replication",
            replication_configuration=EcrReplicationConfigurationReplicationConfiguration(
                rule=[
                    EcrReplicationConfigurationReplicationConfigurationRule(
                        destination=[
                            EcrReplicationConfigurationReplicationConfigurationRuleDestination(
                                region=props.destination_region, registry_id=props.account_id
                            )
                        ],
                        repository_filter=[
                            EcrReplicationConfigurationReplicationConfigurationRuleRepositoryFilter(
                                filter=name, filter_type="PREFIX_MATCH"
                            )
                            for name in props.repository_names
                        ],
                    )
                ]
            ),
            depends_on=[props.replica_template],
        )


@dataclass(frozen=True)
class ReplicaRepositoryTemplateProps:
    """DR region: how ECR creates the replica repository (the same guarantees as the primary's)."""

    #: The replica repositories' parent path (every service's repository is under it).
    prefix: str
    kms_key_arn: str
    #: Role ECR assumes to create the repository with the KMS key.
    creator_role_arn: str
    #: The tags of the images the DR task definitions name (one per service); never expired.
    protected_tags: tuple[str, ...]
    keep_tagged_images: int = 50
    untagged_expiry_days: int = 7


class ReplicaRepositoryTemplate(Construct):
    def __init__(self, scope: Construct, id: str, props: ReplicaRepositoryTemplateProps) -> None:
        super().__init__(scope, id)
        self.template = EcrRepositoryCreationTemplate(
            self,
            "template",
            # ECR reads a template's prefix as "<prefix>/": the repository's parent path matches it.
            # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepositoryCreationTemplate.html
            prefix=props.prefix,
            description="Replicas of the service's images: immutable, KMS-encrypted, same lifecycle",
            applied_for=["REPLICATION"],
            image_tag_mutability="IMMUTABLE",
            encryption_configuration=[
                EcrRepositoryCreationTemplateEncryptionConfiguration(encryption_type="KMS", kms_key=props.kms_key_arn)
            ],
            lifecycle_policy=lifecycle_policy(
                props.keep_tagged_images, props.untagged_expiry_days, *props.protected_tags
            ),
            custom_role_arn=props.creator_role_arn,
        )

    def create_after(self, permissions: TerraformResource) -> None:
        """ECR creates replicas with the custom role: its policy must exist before the template
        can be used (and must outlive it)."""
        after(self.template, permissions)


@dataclass(frozen=True)
class BackupVaultProps:
    """Either region: an encrypted vault for recovery points."""

    name: str
    kms_key_arn: str


@dataclass(frozen=True)
class BackupVaultOutputs:
    vault_arn: str
    vault_name: str


class BackupVault(Construct):
    def __init__(self, scope: Construct, id: str, props: BackupVaultProps) -> None:
        super().__init__(scope, id)
        vault = BackupVaultResource(self, "vault", name=props.name, kms_key_arn=props.kms_key_arn)
        self.outputs = BackupVaultOutputs(vault_arn=vault.arn, vault_name=vault.name)


@dataclass(frozen=True)
class CrossRegionBackupProps:
    """Primary region: a daily backup of the database, each copied to the DR region's vault."""

    plan_name: str
    database_cluster_arn: str
    vault_name: str
    dr_vault_arn: str
    retention_days: int
    #: AWS Backup checks the role when the selection is created: it waits for its managed policy.
    backup_role: RoleOutputs


class CrossRegionBackup(Construct):
    def __init__(self, scope: Construct, id: str, props: CrossRegionBackupProps) -> None:
        super().__init__(scope, id)
        p = props
        plan = BackupPlan(
            self,
            "plan",
            name=p.plan_name,
            rule=[
                BackupPlanRule(
                    rule_name="daily-with-dr-copy",
                    target_vault_name=p.vault_name,
                    schedule=BACKUP_SCHEDULE,
                    lifecycle=BackupPlanRuleLifecycle(delete_after=p.retention_days),
                    copy_action=[
                        BackupPlanRuleCopyAction(
                            destination_vault_arn=p.dr_vault_arn,
                            lifecycle=BackupPlanRuleCopyActionLifecycle(delete_after=p.retention_days),
                        )
                    ],
                )
            ],
        )
        BackupSelection(
            self,
            "database",
            name=f"{p.plan_name}-database",
            plan_id=plan.id,
            iam_role_arn=p.backup_role.role_arn,
            depends_on=[p.backup_role.permissions] if p.backup_role.permissions else None,
            resources=[p.database_cluster_arn],
        )


@dataclass(frozen=True)
class DnsFailoverProps:
    """Global (Route 53): users reach the primary ALB while it is healthy, else the DR ALB."""

    hosted_zone_id: str
    record_name: str
    health_check_path: str
    port: int
    https: bool
    #: (DNS name, Route 53 zone id) of each ALB.
    primary_alb: tuple[str, str]
    dr_alb: tuple[str, str]
    name_prefix: str


class DnsFailover(Construct):
    def __init__(self, scope: Construct, id: str, props: DnsFailoverProps) -> None:
        super().__init__(scope, id)
        p = props
        for role, (dns_name, zone_id) in (("PRIMARY", p.primary_alb), ("SECONDARY", p.dr_alb)):
            check = Route53HealthCheck(
                self,
                f"{role.lower()}_health",
                fqdn=dns_name,
                port=p.port,
                type="HTTPS" if p.https else "HTTP",
                resource_path=p.health_check_path,
                request_interval=10,
                failure_threshold=3,
                tags={"Name": f"{p.name_prefix}-{role.lower()}"},
            )
            Route53Record(
                self,
                f"{role.lower()}_record",
                zone_id=p.hosted_zone_id,
                name=p.record_name,
                type="A",
                set_identifier=f"{p.name_prefix}-{role.lower()}",
                failover_routing_policy=Route53RecordFailoverRoutingPolicy(type=role),
                health_check_id=check.id,
                alias=Route53RecordAlias(name=dns_name, zone_id=zone_id, evaluate_target_health=True),
            )
