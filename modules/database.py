"""Aurora PostgreSQL: encrypted, spread over the AZs, master password owned by Secrets Manager.

The same construct builds a DR region's secondary cluster of an Aurora global database: no
credentials of its own (it replicates the primary's), possibly no instance (pilot light).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf import ITerraformDependable, TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster, RdsClusterServerlessv2ScalingConfiguration
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance
from cdktf_cdktf_provider_aws.rds_cluster_parameter_group import (
    RdsClusterParameterGroup,
    RdsClusterParameterGroupParameter,
)
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret, SecretsmanagerSecretReplica
from cdktf_cdktf_provider_aws.secretsmanager_secret_policy import SecretsmanagerSecretPolicy
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from modules import iam
from modules.logs import encrypted_log_group
from modules.security.roles import RoleOutputs

ENGINE = "aurora-postgresql"
PORT = 5432
#: Cluster parameters every environment gets: TLS only, and enough logging to audit connections.
CLUSTER_PARAMETERS = {
    "rds.force_ssl": "1",
    "log_connections": "1",
    "log_disconnections": "1",
    "log_min_duration_statement": "1000",
}


@dataclass(frozen=True)
class Regional:
    """A cluster of its own: RDS generates, stores and rotates the master password."""


@dataclass(frozen=True)
class GlobalPrimary:
    """The writer of an Aurora global database.

    Members of a global database cannot have RDS manage the password. Then Secrets Manager
    generates it at apply time (an ephemeral value, sent write-only: never in the plan or state)
    and this stack keeps it in its own secret; raising the version rotates it.
    """

    global_cluster_identifier: str
    password_version: int
    #: Regions (with their KMS keys) the password secret is replicated to.
    secret_replicas: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GlobalSecondary:
    """A global database's DR member: replicates the primary, has no credentials of its own."""

    global_cluster_identifier: str
    #: It joins the global database only once the primary has an available instance.
    #: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-getting-started.html
    primary_instances: Sequence[ITerraformDependable]


#: Exactly one of these: which cluster this is decides who owns the credentials.
DatabaseMode = Regional | GlobalPrimary | GlobalSecondary


@dataclass(frozen=True)
class DatabaseProps:
    cluster_identifier: str
    mode: DatabaseMode
    #: The major version (AWS picks and upgrades the minor), or an exact one.
    engine_version: str
    auto_minor_version_upgrade: bool
    instance_class: str
    instance_count: int
    #: (min, max) Aurora capacity units, for db.serverless instances; None for provisioned classes.
    serverless_capacity: tuple[float, float] | None
    #: With a minimum of 0 ACU: idle seconds before the cluster pauses (None: it never pauses).
    seconds_until_auto_pause: int | None
    database_name: str
    master_username: str
    subnet_ids: Sequence[str]
    availability_zones: Sequence[str]
    security_group_id: str
    kms_key_arn: str
    logs_kms_key_arn: str
    backup_retention_days: int
    preferred_backup_window: str
    preferred_maintenance_window: str
    deletion_protection: bool
    skip_final_snapshot: bool
    monitoring_interval_seconds: int
    #: RDS checks this role (and its AWS-managed policy) when an instance with monitoring is created.
    monitoring_role: RoleOutputs
    performance_insights: bool
    log_retention_days: int
    #: Terraform refuses to destroy the cluster (production data).
    prevent_destroy: bool = False
    #: The roles that read the master secret (the migration task's execution role), and the
    #: stack's other roles, which the secret's resource policy denies.
    secret_readers: tuple[str, ...] = ()
    secret_denied_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatabaseOutputs:
    cluster_arn: str
    cluster_identifier: str
    #: What IAM database authentication names (rds-db:connect on dbuser:<resource id>/<user>).
    cluster_resource_id: str
    writer_endpoint: str
    reader_endpoint: str
    port: int
    database_name: str
    #: The Secrets Manager secret (JSON with username and password); a secondary has none.
    master_secret_arn: str | None
    #: Its name, when this stack names it (a global database's secret; replicas share the name).
    master_secret_name: str | None = None
    #: The instances (a global database's secondary waits for the primary's).
    instances: tuple[ITerraformDependable, ...] = ()


def _global_member_owned(mode: DatabaseMode) -> list[str]:
    """What the global database, not Terraform, decides for its members."""
    if isinstance(mode, Regional):
        return []
    # A global database is upgraded through its global cluster, which upgrades every member: the
    # members' versions follow it. After a failover the global database decides who replicates whom.
    # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/rds_global_cluster#upgrading-engine-versions
    return ["engine_version", *(["replication_source_identifier"] if isinstance(mode, GlobalSecondary) else [])]


def master_secret_policy(readers: Sequence[str], denied: Sequence[str]) -> str:
    """The master secret admits its readers and refuses every other role of the stack.

    Only ``Deny`` restricts inside the account (an IAM policy alone can grant a same-account
    principal). It names the stack's own roles, never "everyone but the readers": that would also
    refuse Terraform's deploying principal (which reads a stack-created secret's version back with
    GetSecretValue on every refresh) and the account's administrators (break-glass), whoever they
    are. Nothing here concerns AWS services: RDS rotates its managed secret itself, and a role
    ARN condition never matches a service principal. The policy itself stays editable by the
    account's administrators, so it cannot lock anyone out.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_resource-policies.html
    """
    read = iam.statement("ReadersOfTheMasterSecret", ["secretsmanager:GetSecretValue"], ["*"])
    read["Principal"] = {"AWS": list(readers)}
    refuse = iam.statement(
        "NoOtherRoleOfTheStack",
        ["secretsmanager:*"],
        ["*"],
        effect="Deny",
        conditions={"ArnEquals": {"aws:PrincipalArn": list(denied)}},
    )
    refuse["Principal"] = {"AWS": "*"}
    return iam.document(read, refuse)


def parameter_family(engine_version: str) -> str:
    return f"aurora-postgresql{engine_version.split('.')[0]}"


class Database(Construct):
    def __init__(self, scope: Construct, id: str, props: DatabaseProps) -> None:
        super().__init__(scope, id)
        p = props
        subnet_group, cluster_parameters, instance_parameters = self._parameter_groups(p)
        # Created here (encrypted, with retention) so RDS does not create it unencrypted and kept forever.
        log_group = encrypted_log_group(
            self,
            "postgresql_log",
            f"/aws/rds/cluster/{p.cluster_identifier}/postgresql",
            p.log_retention_days,
            p.logs_kms_key_arn,
        )
        credentials, secret = self._credentials(p)
        cluster = self._cluster(p, credentials, subnet_group.name, cluster_parameters.name, log_group)
        instances = tuple(
            self._instance(p, index, cluster.id, subnet_group.name, instance_parameters.name)
            for index in range(p.instance_count)
        )
        master_secret_arn = _master_secret_arn(p.mode, secret, cluster)
        if master_secret_arn is not None:
            SecretsmanagerSecretPolicy(
                self,
                "master_secret_policy",
                secret_arn=master_secret_arn,
                policy=master_secret_policy(p.secret_readers, p.secret_denied_roles),
                # Secrets Manager refuses (validates) a policy that would let anyone read it.
                # https://docs.aws.amazon.com/secretsmanager/latest/userguide/determine-acccess_examine-iam-policies.html
                block_public_policy=True,
            )
        self.outputs = DatabaseOutputs(
            cluster_arn=cluster.arn,
            cluster_identifier=cluster.cluster_identifier,
            cluster_resource_id=cluster.cluster_resource_id,
            writer_endpoint=cluster.endpoint,
            reader_endpoint=cluster.reader_endpoint,
            port=PORT,
            database_name=p.database_name,
            master_secret_arn=master_secret_arn,
            master_secret_name=secret.name if secret else None,
            instances=instances,
        )

    def _parameter_groups(self, p: DatabaseProps) -> tuple[DbSubnetGroup, RdsClusterParameterGroup, DbParameterGroup]:
        family = parameter_family(p.engine_version)
        subnet_group = DbSubnetGroup(self, "subnet_group", name=p.cluster_identifier, subnet_ids=list(p.subnet_ids))
        cluster_parameters = RdsClusterParameterGroup(
            self,
            "cluster_parameters",
            name=f"{p.cluster_identifier}-cluster",
            family=family,
            parameter=[RdsClusterParameterGroupParameter(name=k, value=v) for k, v in CLUSTER_PARAMETERS.items()],
        )
        instance_parameters = DbParameterGroup(
            self,
            "instance_parameters",
            name=f"{p.cluster_identifier}-instance",
            family=family,
            parameter=[DbParameterGroupParameter(name="log_lock_waits", value="1")],
        )
        return subnet_group, cluster_parameters, instance_parameters

    def _cluster(
        self,
        p: DatabaseProps,
        credentials: dict[str, Any],
        subnet_group_name: str,
        parameter_group_name: str,
        log_group: ITerraformDependable,
    ) -> RdsCluster:
        secondary = isinstance(p.mode, GlobalSecondary)
        return RdsCluster(
            self,
            "cluster",
            cluster_identifier=p.cluster_identifier,
            engine=ENGINE,
            engine_version=p.engine_version,
            **credentials,
            port=PORT,
            db_subnet_group_name=subnet_group_name,
            vpc_security_group_ids=[p.security_group_id],
            db_cluster_parameter_group_name=parameter_group_name,
            storage_encrypted=True,
            kms_key_id=p.kms_key_arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=p.backup_retention_days,
            preferred_backup_window=p.preferred_backup_window,
            preferred_maintenance_window=p.preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=p.deletion_protection,
            # A secondary holds no data of its own to snapshot: the primary's final snapshot has it.
            skip_final_snapshot=p.skip_final_snapshot or secondary,
            final_snapshot_identifier=None if p.skip_final_snapshot or secondary else f"{p.cluster_identifier}-final",
            enabled_cloudwatch_logs_exports=["postgresql"],
            serverlessv2_scaling_configuration=_scaling(p),
            depends_on=[log_group, *(p.mode.primary_instances if isinstance(p.mode, GlobalSecondary) else ())],
            lifecycle=_lifecycle(p),
        )

    def _instance(
        self, p: DatabaseProps, index: int, cluster_id: str, subnet_group_name: str, parameter_group_name: str
    ) -> RdsClusterInstance:
        monitored = p.monitoring_interval_seconds > 0
        return RdsClusterInstance(
            self,
            f"instance_{index}",
            identifier=f"{p.cluster_identifier}-{index + 1}",
            cluster_identifier=cluster_id,
            engine=ENGINE,
            # No engine_version: an Aurora instance runs its cluster's, and AWS's minor
            # upgrades then never show as a diff on the instance.
            instance_class=p.instance_class,
            # Spread writer and readers over the AZs so a failover lands in another zone.
            availability_zone=p.availability_zones[index % len(p.availability_zones)],
            db_subnet_group_name=subnet_group_name,
            db_parameter_group_name=parameter_group_name,
            publicly_accessible=False,
            auto_minor_version_upgrade=p.auto_minor_version_upgrade,
            monitoring_interval=p.monitoring_interval_seconds,
            monitoring_role_arn=p.monitoring_role.role_arn if monitored else None,
            performance_insights_enabled=p.performance_insights,
            performance_insights_kms_key_id=p.kms_key_arn if p.performance_insights else None,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            copy_tags_to_snapshot=True,
            promotion_tier=index,
            depends_on=[p.monitoring_role.permissions] if monitored and p.monitoring_role.permissions else None,
        )

    def _credentials(self, p: DatabaseProps) -> tuple[dict[str, Any], _WriteOnlySecret | None]:
        """The cluster's membership and master credentials (and the secret holding them), by mode."""
        mode = p.mode
        if isinstance(mode, GlobalSecondary):
            # It replicates the primary's database and credentials.
            return {"global_cluster_identifier": mode.global_cluster_identifier}, None
        named = {"database_name": p.database_name, "master_username": p.master_username}
        if isinstance(mode, GlobalPrimary):
            secret = self._write_only_secret(p, mode)
            wo = {"master_password_wo": secret.password, "master_password_wo_version": mode.password_version}
            return {"global_cluster_identifier": mode.global_cluster_identifier, **named, **wo}, secret
        # RDS generates the password, stores it in Secrets Manager and rotates it; it never
        # appears in this code, the plan or the state.
        managed = {"manage_master_user_password": True, "master_user_secret_kms_key_id": p.kms_key_arn}
        return {**named, **managed}, None

    def _write_only_secret(self, p: DatabaseProps, mode: GlobalPrimary) -> _WriteOnlySecret:
        """The master password: generated by Secrets Manager at apply time and sent write-only."""
        ephemeral = f"{p.cluster_identifier.replace('-', '_')}_master_password"
        # cdktf 0.21 predates ephemeral resources; they are plain Terraform JSON (Terraform >= 1.10).
        TerraformStack.of(self).add_override(
            f"ephemeral.aws_secretsmanager_random_password.{ephemeral}",
            {"password_length": 40, "exclude_punctuation": True},
        )
        reference = f"ephemeral.aws_secretsmanager_random_password.{ephemeral}.random_password"
        password = f"${{{reference}}}"
        # The JSON document the app reads, built by Terraform around the ephemeral value; cdktf's
        # Fn.jsonencode would quote the reference as text. json.dumps quotes the user name for HCL.
        document = f'${{jsonencode({{"username" = {json.dumps(p.master_username)}, "password" = {reference}}})}}'
        secret = SecretsmanagerSecret(
            self,
            "master_secret",
            name=f"{p.cluster_identifier}/master",
            description=f"Master credentials of {p.cluster_identifier} (JSON: username, password)",
            kms_key_id=p.kms_key_arn,
            replica=[SecretsmanagerSecretReplica(region=r, kms_key_id=k) for r, k in mode.secret_replicas] or None,
        )
        SecretsmanagerSecretVersion(
            self,
            "master_secret_value",
            secret_id=secret.id,
            secret_string_wo=document,
            secret_string_wo_version=mode.password_version,
        )
        return _WriteOnlySecret(arn=secret.arn, name=secret.name, password=password)


@dataclass(frozen=True)
class _WriteOnlySecret:
    arn: str
    name: str
    #: A reference to the ephemeral value; it resolves only inside Terraform's apply.
    password: str


def _master_secret_arn(mode: DatabaseMode, secret: _WriteOnlySecret | None, cluster: RdsCluster) -> str | None:
    if secret is not None:
        return secret.arn
    return cluster.master_user_secret.get(0).secret_arn if isinstance(mode, Regional) else None


def _scaling(p: DatabaseProps) -> RdsClusterServerlessv2ScalingConfiguration | None:
    if p.serverless_capacity is None:
        return None
    return RdsClusterServerlessv2ScalingConfiguration(
        min_capacity=p.serverless_capacity[0],
        max_capacity=p.serverless_capacity[1],
        seconds_until_auto_pause=p.seconds_until_auto_pause,
    )


def _lifecycle(p: DatabaseProps) -> TerraformResourceLifecycle | None:
    if not p.prevent_destroy and isinstance(p.mode, Regional):
        return None
    return TerraformResourceLifecycle(
        prevent_destroy=p.prevent_destroy or None,
        ignore_changes=_global_member_owned(p.mode) or None,
    )
