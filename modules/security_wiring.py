"""What the key, trust and secret policies need from the config, per Region: who uses each key,
and which resources each service role acts for.

Policies that name the resources which in turn name the policy's key or role cannot reference
them (Terraform would see a cycle: the log group needs its key, the key policy would need the log
group). They name them by the physical names of config/naming.py instead, which is also how AWS
puts them in the request context the conditions compare with (aws:SourceArn,
kms:EncryptionContext:*); aws_rules checks every one against the synthesized resources.
"""

from __future__ import annotations

from collections.abc import Mapping

from config import EnvironmentConfig
from config.naming import physical_names
from modules.security.keys import EncryptionKeysProps, LambdaEnvironment
from modules.security.roles import EnvironmentRoles, ServiceRolesOutputs

#: The kinds of physical name that are CloudWatch Logs log groups (all encrypted with the logs key).
LOG_GROUP_KINDS = ("log_group", "waf_log_group")
#: How physical_names says a name is in the DR Region.
IN_DR = "in the DR region"


def compute_regions(c: EnvironmentConfig) -> tuple[str, ...]:
    """The Regions the service, its network and its database instances run in."""
    return (c.region, c.dr.region) if c.dr is not None and c.dr.runs_compute else (c.region,)


def log_group_names(c: EnvironmentConfig, region: str) -> tuple[str, ...]:
    """Every log group the stack creates in ``region``."""
    where = "" if region == c.region else IN_DR
    return tuple(sorted(n.value for n in physical_names(c) if n.kind in LOG_GROUP_KINDS and n.where == where))


def platform_trust_sources(c: EnvironmentConfig) -> dict[str, tuple[str, ...]]:
    """The environment's roles: purpose -> the ARNs of the resources whose service assumes it
    (roles.SOURCE_ARNS_DOCUMENTED)."""
    p, account, regions = c.partition, c.account_id, compute_regions(c)
    return {
        # A flow log's id exists only once it is created, and the flow log names the role.
        "flow_logs": tuple(f"arn:{p}:ec2:{r}:{account}:vpc-flow-log/*" for r in regions),
        # The cluster's instances, <cluster>-1, -2, ... in either Region.
        "rds_monitoring": tuple(f"arn:{p}:rds:{r}:{account}:db:{c.names.db_cluster}-*" for r in regions),
    }


def service_trust_sources(c: EnvironmentConfig, key: str) -> dict[str, tuple[str, ...]]:
    """One service's roles: purpose -> the ARNs of that service's resources that assume them."""
    p, account, n = c.partition, c.account_id, c.names.service(key)

    def codebuild(project: str) -> tuple[str, ...]:
        return (f"arn:{p}:codebuild:{c.region}:{account}:project/{project}",)

    sources = {
        # A task of either Region's cluster (ECS documents the Region-wide pattern).
        "task": tuple(f"arn:{p}:ecs:{r}:{account}:*" for r in compute_regions(c)),
        "codebuild": codebuild(n.build_project),
        "migrate": codebuild(n.migrate_project),
        "codedeploy": (
            f"arn:{p}:codedeploy:{c.region}:{account}:deploymentgroup:{n.codedeploy_app}/{n.deployment_group}",
        ),
    }
    if c.all_services[key].deployment.load_test is not None:
        sources["load_test"] = codebuild(n.load_test)
    # Only the roles a service has are built; a source for one it lacks is never read.
    sources["ecs_release"] = codebuild(n.release_project)
    return sources


def alarm_sources(c: EnvironmentConfig) -> tuple[str, ...]:
    """The alarms that notify the topic: every alarm the stack names (prefix-<suffix>)."""
    return (f"arn:{c.partition}:cloudwatch:{c.region}:{c.account_id}:alarm:{c.names.prefix}-*",)


def hook_lambdas(c: EnvironmentConfig, services: Mapping[str, ServiceRolesOutputs]) -> tuple[LambdaEnvironment, ...]:
    """Each blue/green service's hooks, whose environment the artifacts key encrypts."""
    found = []
    for key, spec in c.all_services.items():
        roles, names = services[key], c.names.service(key)
        if roles.release_alarms is not None:
            found.append(LambdaEnvironment(roles.release_alarms.role_arn, names.release_alarms_hook, "ReleaseAlarms"))
        if roles.test_hook is not None and spec.deployment.test_hook:
            found.append(LambdaEnvironment(roles.test_hook.role_arn, names.test_hook, "TestTraffic"))
    return tuple(found)


def key_users(c: EnvironmentConfig, region: str, roles: EnvironmentRoles) -> EncryptionKeysProps:
    """Who uses the keys of ``region``: its resources, the roles that use them, the deployer."""
    primary = region == c.region
    dr = c.dr
    names = c.names
    db = c.database
    own, services = roles.platform, roles.services
    backup_here = dr is not None and dr.posture == "backup_restore" and own.backup is not None
    data_created: list[str] = []
    if primary or (dr is not None and dr.global_database):
        data_created.append("aurora_storage")
        instances = db.instance_count if primary else (1 if dr is not None and dr.posture == "warm_standby" else 0)
        if db.performance_insights and instances:
            data_created.append("performance_insights")
    global_database = dr is not None and dr.global_database
    if primary:
        data_created.append("secret" if global_database else "rds_managed_secret")
    elif global_database:
        data_created.append("secret_replica")
    if backup_here:
        data_created.append("backup_vault")
    lambdas = hook_lambdas(c, services) if primary else ()
    return EncryptionKeysProps(
        name_prefix=names.prefix,
        account_id=c.account_id,
        partition=c.partition,
        region=region,
        log_group_names=log_group_names(c, region),
        data_created=tuple(data_created),
        artifacts_created=("ecr_repository", "lambda_environment") if primary else (),
        pipeline_role_arns=tuple(
            role.role_arn
            for service in (services.values() if primary else ())
            for role in (
                service.codepipeline,
                service.codebuild,
                service.migrate,
                service.load_test,
                service.ecs_release,
            )
            if role is not None
        ),
        secret_reader_role_arns=tuple(s.task_execution.role_arn for s in services.values()) if primary else (),
        lambda_environments=lambdas,
        artifacts_grant_role_arns=(
            (own.ecr_replica_creator.role_arn,) if not primary and own.ecr_replica_creator else ()
        ),
        backup_role_arn=own.backup.role_arn if backup_here and own.backup else None,
        topic=primary,
        topic_publisher_role_arns=tuple(s.codepipeline.role_arn for s in services.values()) if primary else (),
        prevent_destroy=c.production,
    )


def role_arns(roles: EnvironmentRoles) -> tuple[str, ...]:
    """Every role the stack creates."""
    return tuple(role.role_arn for role in roles.all())
