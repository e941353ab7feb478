"""Aurora PostgreSQL: encrypted, spread over the AZs, master password owned by Secrets Manager."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster, RdsClusterServerlessv2ScalingConfiguration
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance
from cdktf_cdktf_provider_aws.rds_cluster_parameter_group import (
    RdsClusterParameterGroup,
    RdsClusterParameterGroupParameter,
)
from constructs import Construct

from modules.logs import encrypted_log_group

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
class DatabaseProps:
    cluster_identifier: str
    engine_version: str
    instance_class: str
    instance_count: int
    #: (min, max) Aurora capacity units, for db.serverless instances; None for provisioned classes.
    serverless_capacity: tuple[float, float] | None
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
    monitoring_role_arn: str
    performance_insights: bool
    log_retention_days: int
    #: Terraform refuses to destroy the cluster (production data).
    prevent_destroy: bool = False


@dataclass(frozen=True)
class DatabaseOutputs:
    cluster_arn: str
    cluster_identifier: str
    writer_endpoint: str
    reader_endpoint: str
    port: int
    database_name: str
    #: The Secrets Manager secret (JSON with username and password) that RDS creates and rotates.
    master_secret_arn: str


def parameter_family(engine_version: str) -> str:
    return f"aurora-postgresql{engine_version.split('.')[0]}"


class Database(Construct):
    def __init__(self, scope: Construct, id: str, props: DatabaseProps) -> None:
        super().__init__(scope, id)
        p = props
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
        # Created here (encrypted, with retention) so RDS does not create it unencrypted and kept forever.
        log_group = encrypted_log_group(
            self,
            "postgresql_log",
            f"/aws/rds/cluster/{p.cluster_identifier}/postgresql",
            p.log_retention_days,
            p.logs_kms_key_arn,
        )
        cluster = RdsCluster(
            self,
            "cluster",
            cluster_identifier=p.cluster_identifier,
            engine=ENGINE,
            engine_version=p.engine_version,
            database_name=p.database_name,
            master_username=p.master_username,
            # RDS generates the password, stores it in Secrets Manager and rotates it; it never
            # appears in this code, the plan or the state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=p.kms_key_arn,
            port=PORT,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[p.security_group_id],
            db_cluster_parameter_group_name=cluster_parameters.name,
            storage_encrypted=True,
            kms_key_id=p.kms_key_arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=p.backup_retention_days,
            preferred_backup_window=p.preferred_backup_window,
            preferred_maintenance_window=p.preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=p.deletion_protection,
            skip_final_snapshot=p.skip_final_snapshot,
            final_snapshot_identifier=None if p.skip_final_snapshot else f"{p.cluster_identifier}-final",
            enabled_cloudwatch_logs_exports=["postgresql"],
            serverlessv2_scaling_configuration=(
                RdsClusterServerlessv2ScalingConfiguration(
                    min_capacity=p.serverless_capacity[0], max_capacity=p.serverless_capacity[1]
                )
                if p.serverless_capacity
                else None
            ),
            depends_on=[log_group],
            lifecycle=TerraformResourceLifecycle(prevent_destroy=p.prevent_destroy) if p.prevent_destroy else None,
        )
        for index in range(p.instance_count):
            RdsClusterInstance(
                self,
                f"instance_{index}",
                identifier=f"{p.cluster_identifier}-{index + 1}",
                cluster_identifier=cluster.id,
                engine=ENGINE,
                engine_version=cluster.engine_version,
                instance_class=p.instance_class,
                # Spread writer and readers over the AZs so a failover lands in another zone.
                availability_zone=p.availability_zones[index % len(p.availability_zones)],
                db_subnet_group_name=subnet_group.name,
                db_parameter_group_name=instance_parameters.name,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                monitoring_interval=p.monitoring_interval_seconds,
                monitoring_role_arn=p.monitoring_role_arn if p.monitoring_interval_seconds else None,
                performance_insights_enabled=p.performance_insights,
                performance_insights_kms_key_id=p.kms_key_arn if p.performance_insights else None,
                ca_cert_identifier="rds-ca-rsa2048-g1",
                copy_tags_to_snapshot=True,
                promotion_tier=index,
            )
        self.outputs = DatabaseOutputs(
            cluster_arn=cluster.arn,
            cluster_identifier=cluster.cluster_identifier,
            writer_endpoint=cluster.endpoint,
            reader_endpoint=cluster.reader_endpoint,
            port=PORT,
            database_name=p.database_name,
            master_secret_arn=cluster.master_user_secret.get(0).secret_arn,
        )
