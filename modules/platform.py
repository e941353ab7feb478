"""The environment's platform in one region: what every service of the environment shares.

Network, keys, security groups, the database, the ALB with its listeners, redirect and WAF, and
(in the primary region) the notifications topic. Built the same way in the primary and the DR
region: ``RegionSite`` says what differs. Each builder creates its constructs directly in the
scope it is given, so their Terraform addresses are those of the constructs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.codeconnections_connection import CodeconnectionsConnection
from cdktf_cdktf_provider_aws.rds_global_cluster import RdsGlobalCluster
from constructs import Construct

from config import EnvironmentConfig
from config.schema import NetworkingConfig, ServiceConfig
from modules import access_logs, grants, iam, security_wiring
from modules.database import (
    Database,
    DatabaseMode,
    DatabaseOutputs,
    DatabaseProps,
    GlobalPrimary,
    GlobalSecondary,
    Regional,
)
from modules.ecs import CapacityShare, Cluster, ClusterProps, ClusterRef
from modules.endpoint_policies import VpcCallers
from modules.load_balancer import LoadBalancer, LoadBalancerOutputs, LoadBalancerProps, LoadBalancerSettings
from modules.networking import Networking, NetworkingOutputs, NetworkingProps
from modules.s3 import SecureBucket, SecureBucketOutputs, SecureBucketProps
from modules.security import (
    EncryptionKeys,
    EncryptionKeysOutputs,
    EnvironmentRoles,
    PrivateApis,
    SecurityGroups,
    SecurityGroupsOutputs,
    SecurityGroupsProps,
    ThroughNat,
)
from modules.security.policies import attach, flow_log_delivery
from modules.settings import from_section
from modules.waf import Waf, WafProps


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


def primary_site(c: EnvironmentConfig, keys: EncryptionKeysOutputs) -> RegionSite:
    return RegionSite(
        region=c.region,
        networking=c.networking,
        availability_zones=c.availability_zones,
        certificate_arn=c.load_balancer.certificate_arn,
        keys=keys,
        access_log_bucket=c.names.access_log_bucket,
    )


def dr_site(c: EnvironmentConfig, keys: EncryptionKeysOutputs) -> RegionSite:
    assert c.dr is not None
    return RegionSite(
        region=c.dr.region,
        networking=c.dr.networking,
        availability_zones=c.dr_availability_zones,
        certificate_arn=c.dr.certificate_arn,
        keys=keys,
        access_log_bucket=c.names.dr_access_log_bucket(c.dr.region),
    )


def keys(scope: Construct, c: EnvironmentConfig, region: str, roles: EnvironmentRoles) -> EncryptionKeysOutputs:
    return EncryptionKeys(scope, "keys", security_wiring.key_users(c, region, roles)).outputs


def vpc_callers(c: EnvironmentConfig, region: str, roles: EnvironmentRoles) -> VpcCallers:
    """Who calls AWS from inside the VPC of ``region``, and which of the tasks' secrets live there."""
    specs = c.all_services
    here = [s.source for spec in specs.values() for s in spec.secrets.values() if s.source.split(":")[3] == region]
    primary = region == c.region
    return VpcCallers(
        partition=c.partition,
        region=region,
        account_id=c.account_id,
        task_execution_role_arns=tuple(r.task_execution.role_arn for r in roles.services.values()),
        # The load tests run in the primary region's VPC; the DR region runs no deployments.
        log_writer_role_arns=tuple(r.load_test.role_arn for r in roles.services.values() if r.load_test and primary),
        # Only the migration tasks read it, and migrations run in the primary region only.
        reads_database_secret=primary,
        secret_arns=tuple(a for a in here if ":secretsmanager:" in a),
        parameter_arns=tuple(a for a in here if ":ssm:" in a),
        granted=granted(c, roles) if primary else {},
    )


def granted(c: EnvironmentConfig, roles: EnvironmentRoles) -> dict[str, list[iam.Statement]]:
    """Each task role with IAM grants -> their statements. The grants' resources are the primary
    region's (config refuses others; a bucket is assumed there: a gateway endpoint carries only
    its own region's buckets)."""
    found = {
        roles.services[key].task.role_arn: grants.grant_statements(c.partition, c.region, c.account_id, spec.grants)
        for key, spec in c.all_services.items()
    }
    return {role: statements for role, statements in found.items() if statements}


def task_apis(c: EnvironmentConfig, site: RegionSite, network: NetworkingOutputs) -> PrivateApis | ThroughNat:
    """Inside the VPC when its endpoints cover every AWS API the tasks call, otherwise through NAT."""
    if network.endpoint_security_group_id is None:
        return ThroughNat("HTTPS to ECR, Logs and Secrets Manager through NAT: no interface endpoints in this VPC")
    secrets = (s for spec in c.all_services.values() for s in spec.secrets.values())
    if any(s.source.split(":")[3] != site.region for s in secrets):
        # A VPC endpoint serves its own region only.
        return ThroughNat("HTTPS through NAT: service.secrets names a secret or parameter of another region")
    if site.region != c.region and grants.iam_granted(c):
        # The grants' resources are the primary region's: the DR region's endpoints cannot carry them.
        return ThroughNat("HTTPS through NAT: the config grants of a service name resources of the primary region")
    return PrivateApis(network.endpoint_security_group_id, network.s3_prefix_list_id)


def networking(scope: Construct, c: EnvironmentConfig, site: RegionSite, roles: EnvironmentRoles) -> Networking:
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
            flow_log_role_arn=roles.platform.flow_logs.role_arn,
            logs_kms_key_arn=site.keys.logs_key_arn,
        ),
    )


def flow_log_permissions(scope: Construct, roles: EnvironmentRoles, vpc: Networking) -> None:
    """The flow logs role may deliver to the VPC's log group; the flow logs start after that."""
    policy = attach(
        Construct(scope, "role_policies"),
        "flow_logs",
        roles.platform.flow_logs.role_name,
        flow_log_delivery("DeliverFlowLogs", vpc.outputs.flow_log_group_arn),
    )
    vpc.log_after(policy)


def security_groups(
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
            container_ports=[spec.container_port for spec in c.all_services.values() if spec.route is not None],
            test_hook=test_hook,
            task_apis=task_apis(c, site, network),
            # The tasks share one security group: any service's own HTTPS destinations.
            service_https_cidrs=list(
                dict.fromkeys(str(n) for spec in c.all_services.values() for n in spec.https_egress_cidrs)
            ),
        ),
    ).outputs


def global_database(scope: Construct, c: EnvironmentConfig) -> RdsGlobalCluster | None:
    """The Aurora global database both regions' clusters join, when the DR posture replicates."""
    if c.dr is None or not c.dr.global_database:
        return None
    return RdsGlobalCluster(
        scope,
        "global_database",
        global_cluster_identifier=c.names.db_global_cluster,
        engine="aurora-postgresql",
        engine_version=c.database.engine_version,
        storage_encrypted=True,
        deletion_protection=c.database.deletion_protection,
    )


def database(
    scope: Construct,
    c: EnvironmentConfig,
    site: RegionSite,
    network: NetworkingOutputs,
    groups: SecurityGroupsOutputs,
    roles: EnvironmentRoles,
    *,
    global_cluster_identifier: str | None = None,
    secret_replicas: tuple[tuple[str, str], ...] = (),
    secondary_instances: int | None = None,
    primary: DatabaseOutputs | None = None,
) -> DatabaseOutputs:
    """The primary cluster, or (``secondary_instances`` set) a global database's DR member."""
    db = c.database
    mode: DatabaseMode = Regional()
    if global_cluster_identifier is not None and primary is not None:
        mode = GlobalSecondary(global_cluster_identifier, primary_instances=primary.instances)
    elif global_cluster_identifier is not None:
        mode = GlobalPrimary(global_cluster_identifier, db.password_version, secret_replicas)
    # Only the migration tasks read the master secret; their execution roles are the services'.
    readers = tuple(service.task_execution.role_arn for service in roles.services.values())
    return Database(
        scope,
        "database",
        DatabaseProps(
            cluster_identifier=c.names.db_cluster,
            mode=mode,
            engine_version=db.engine_version,
            auto_minor_version_upgrade=db.auto_minor_version_upgrade,
            instance_class=db.effective_instance_class,
            instance_count=db.instance_count if secondary_instances is None else secondary_instances,
            serverless_capacity=(db.serverless_v2.min_acu, db.serverless_v2.max_acu) if db.serverless_v2 else None,
            seconds_until_auto_pause=(
                db.serverless_v2.seconds_until_auto_pause if db.serverless_v2 and db.serverless_v2.auto_pause else None
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
            monitoring_role=roles.platform.rds_monitoring,
            performance_insights=db.performance_insights,
            log_retention_days=db.log_retention_days,
            prevent_destroy=c.production,
            secret_readers=readers,
            secret_denied_roles=tuple(a for a in security_wiring.role_arns(roles) if a not in readers),
        ),
    ).outputs


def access_log_bucket(scope: Construct, c: EnvironmentConfig, site: RegionSite) -> SecureBucketOutputs:
    """Where the ALB and the buckets of the region write their access logs."""
    return SecureBucket(
        scope,
        "access_logs",
        SecureBucketProps(
            bucket_name=site.access_log_bucket,
            expiration_days=c.load_balancer.access_log_retention_days,
            kms_key_arn=None,  # ALB log delivery supports SSE-S3 only.
            extra_statements=(
                access_logs.delivery_statement(site.access_log_bucket, site.region, c.account_id, c.partition),
                # The artifact buckets (primary region) log their object access here.
                *access_logs.s3_server_log_statements(
                    site.access_log_bucket,
                    c.account_id,
                    c.partition,
                    tuple(c.names.service(key).artifact_bucket for key in c.all_services)
                    if site.region == c.region
                    else (),
                ),
            ),
        ),
    ).outputs


def web_acl(scope: Construct, c: EnvironmentConfig, site: RegionSite, network: NetworkingOutputs) -> str | None:
    """The ALB's web ACL: the one the config names (primary region), or the stack's own."""
    lb = c.load_balancer
    if site.region == c.region and lb.waf_web_acl_arn is not None:
        return lb.waf_web_acl_arn
    if not lb.managed_waf:
        return None
    return Waf(
        scope,
        "waf",
        WafProps(
            name=c.names.prefix,
            rate_limit_per_5_minutes=lb.waf_rate_limit_per_5_minutes,
            log_retention_days=lb.waf_log_retention_days,
            logs_kms_key_arn=site.keys.logs_key_arn,
            own_egress_cidrs=network.nat_public_cidrs,
        ),
    ).outputs.web_acl_arn


def load_balancer(
    scope: Construct,
    c: EnvironmentConfig,
    site: RegionSite,
    network: NetworkingOutputs,
    groups: SecurityGroupsOutputs,
) -> tuple[LoadBalancer, SecureBucketOutputs]:
    """The ALB with its WAF, and its access-log bucket (returned: other buckets log there too).
    Its listeners come once the default route's target groups exist (``LoadBalancer.listeners``)."""
    lb = c.load_balancer
    log_bucket = access_log_bucket(scope, c, site)
    web_acl_arn = web_acl(scope, c, site, network)
    balancer = LoadBalancer(
        scope,
        "load_balancer",
        LoadBalancerProps(
            alb_name=c.names.alb,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            security_group_id=groups.alb_security_group_id,
            access_log_bucket=log_bucket,
            prod_listener_port=lb.effective_prod_port,
            certificate_arn=site.certificate_arn,
            waf_web_acl_arn=web_acl_arn,
            settings=from_section(LoadBalancerSettings, lb),
        ),
    )
    return balancer, log_bucket


def source_connection(scope: Construct, c: EnvironmentConfig) -> str:
    """The one CodeConnections connection every pipeline reads through: the configured one, or the
    stack's (pending until someone approves it once in the console)."""
    if c.pipeline.connection_arn is not None:
        return c.pipeline.connection_arn
    arn: str = CodeconnectionsConnection(
        Construct(scope, "source"), "connection", name=c.names.connection, provider_type=c.pipeline.source_provider
    ).arn
    return arn


def cluster(scope: Construct, c: EnvironmentConfig) -> ClusterRef:
    """The environment's cluster; its default strategy is the first service's (each sets its own)."""
    first = next(iter(c.all_services.values()))
    return Cluster(
        scope, "cluster", ClusterProps(name=c.names.cluster, default_capacity=capacity_shares(c, first))
    ).outputs


def capacity_shares(c: EnvironmentConfig, service: ServiceConfig) -> tuple[CapacityShare, ...]:
    capacity = service.capacity
    shares = [CapacityShare("FARGATE", capacity.fargate_weight, capacity.fargate_base)]
    spot = c.spot_weight(service)
    if spot:
        shares.append(CapacityShare("FARGATE_SPOT", spot))
    return tuple(shares)


@dataclass(frozen=True)
class Platform:
    """One region's shared pieces, as the services built on them see them."""

    site: RegionSite
    #: The VPC's construct: its flow logs start after their role's policy (``log_after``).
    vpc: Networking
    network: NetworkingOutputs
    groups: SecurityGroupsOutputs
    database: DatabaseOutputs
    #: The ALB (its listeners come with the services' routes: ``LoadBalancer.listeners``).
    load_balancer: LoadBalancer
    #: The region's access-log bucket: the ALB's, and the other buckets' server access logs.
    log_bucket: SecureBucketOutputs
    cluster: ClusterRef

    @property
    def balancer(self) -> LoadBalancerOutputs:
        return self.load_balancer.outputs


def build_primary(
    scope: Construct,
    c: EnvironmentConfig,
    site: RegionSite,
    roles: EnvironmentRoles,
    *,
    global_cluster: RdsGlobalCluster | None,
    dr_keys: EncryptionKeysOutputs | None,
) -> Platform:
    vpc = networking(scope, c, site, roles)
    flow_log_permissions(scope, roles, vpc)
    groups = security_groups(scope, c, site, vpc.outputs)
    replicas = ((c.dr.region, dr_keys.data_key_arn),) if c.dr and dr_keys and global_cluster else ()
    primary_database = database(
        scope,
        c,
        site,
        vpc.outputs,
        groups,
        roles,
        global_cluster_identifier=global_cluster.id if global_cluster else None,
        secret_replicas=replicas,
    )
    balancer, log_bucket = load_balancer(scope, c, site, vpc.outputs, groups)
    return Platform(site, vpc, vpc.outputs, groups, primary_database, balancer, log_bucket, cluster(scope, c))


def build_secondary(
    scope: Construct,
    c: EnvironmentConfig,
    site: RegionSite,
    roles: EnvironmentRoles,
    *,
    global_cluster: RdsGlobalCluster,
    primary: DatabaseOutputs,
    instances: int,
) -> Platform:
    """The DR region's platform: its database is a member of the global database, no hooks run."""
    vpc = networking(scope, c, site, roles)
    groups = security_groups(scope, c, site, vpc.outputs, test_hook=False)
    secondary = database(
        scope,
        c,
        site,
        vpc.outputs,
        groups,
        roles,
        global_cluster_identifier=global_cluster.id,
        secondary_instances=instances,
        primary=primary,
    )
    balancer, log_bucket = load_balancer(scope, c, site, vpc.outputs, groups)
    return Platform(site, vpc, vpc.outputs, groups, secondary, balancer, log_bucket, cluster(scope, c))
