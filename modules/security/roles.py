"""IAM roles with their trust policies only; permissions are attached by ``RolePolicies``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from modules import iam

#: The environment's roles (one each, whatever the number of services), by purpose -> the AWS
#: service that assumes it.
PLATFORM_ROLE_SERVICES = {
    "flow_logs": "vpc-flow-logs.amazonaws.com",
    "rds_monitoring": "monitoring.rds.amazonaws.com",
}
#: Every service's own roles: one service's release, tasks and hooks never act as another's.
#: A service without a route has no blue/green release, so none of BLUE_GREEN_ROLES.
ROLE_SERVICES = {
    "task_execution": "ecs-tasks.amazonaws.com",
    "task": "ecs-tasks.amazonaws.com",
    "codebuild": "codebuild.amazonaws.com",
    "codepipeline": "codepipeline.amazonaws.com",
    "codedeploy": "codedeploy.amazonaws.com",
    "test_hook": "lambda.amazonaws.com",
    #: The pipeline's migration step: registers and runs the one-off migration task.
    "migrate": "codebuild.amazonaws.com",
    #: The hook that points the rollback alarms at green before each deployment.
    "release_alarms": "lambda.amazonaws.com",
}
BLUE_GREEN_ROLES = ("codedeploy", "test_hook", "release_alarms")
#: Roles only ECS-native blue/green needs: ECS rewrites listener rules, and invokes the hook.
ECS_NATIVE_ROLE_SERVICES = {
    "ecs_infrastructure": "ecs.amazonaws.com",
    "ecs_hook_invoker": "ecs.amazonaws.com",
}
#: The ECS controller's release step: registers each release's task definition and rolls the
#: service to it (modules/ecs_release.py). CodeDeploy registers it itself.
ECS_RELEASE_ROLE_SERVICES = {"ecs_release": "codebuild.amazonaws.com"}
#: The optional load test's own CodeBuild identity (it needs far less than the image build's).
LOAD_TEST_ROLE_SERVICES = {"load_test": "codebuild.amazonaws.com"}
#: AWS Backup's identity for backups copied to a DR region (backup_restore posture).
BACKUP_ROLE_SERVICES = {"backup": "backup.amazonaws.com"}
#: ECR creates the DR region's replica repository with this role (its template names a KMS key).
REPLICA_ROLE_SERVICES = {"ecr_replica_creator": "ecr.amazonaws.com"}

#: Roles whose service AWS documents to send ``aws:SourceArn`` (the resource it acts for) when it
#: assumes them: their trust policies also require the ARNs of the resources that use them. The
#: others (the ECS task execution role, CodePipeline, Lambda, ECS itself, Backup, ECR) have no such
#: documented key, and a condition on a key the service does not send would lock it out.
SOURCE_ARNS_DOCUMENTED = {
    # The task role (not the execution role): arn:aws:ecs:<region>:<account>:*
    "task": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html",
    # arn:aws:codebuild:<region>:<account>:project/<name>
    "codebuild": "https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html",
    "migrate": "https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html",
    "load_test": "https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html",
    "ecs_release": "https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html",
    # arn:aws:codedeploy:<region>:<account>:deploymentgroup:<application>/<group>
    "codedeploy": "https://docs.aws.amazon.com/codedeploy/latest/userguide/security_confused_deputy.html",
    # arn:aws:ec2:<region>:<account>:vpc-flow-log/<flow log id>
    "flow_logs": "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html",
    # arn:aws:rds:<region>:<account>:db:<instance identifier>
    "rds_monitoring": "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html",
}


@dataclass(frozen=True)
class PlatformRolesProps:
    name_prefix: str
    account_id: str
    partition: str
    backup: bool = False
    image_replicas: bool = False
    #: Role purpose -> the ARNs (or ARN patterns) of the resources that use it, for the roles in
    #: SOURCE_ARNS_DOCUMENTED. Built from physical names, not references: the resources name
    #: their roles, so a reference back would be a cycle.
    source_arns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceRolesProps:
    #: The service's name prefix (the environment's for the service keyed app).
    name_prefix: str
    account_id: str
    partition: str
    ecs_native: bool = False
    load_test: bool = False
    #: The ECS controller deploys the service: the pipeline's release step has a role of its own.
    ecs_release: bool = False
    #: False for a service without a route: ECS rolls it, no controller or hook acts for it.
    blue_green: bool = True
    #: As PlatformRolesProps.source_arns, for this service's resources.
    source_arns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleOutputs:
    role_arn: str
    role_name: str
    #: The AWS-managed policy attached here, for roles that have one: the services that check a
    #: role when a resource is created (RDS Enhanced Monitoring, AWS Backup) wait for it.
    permissions: ITerraformDependable | None = None


@dataclass(frozen=True)
class PlatformRolesOutputs:
    flow_logs: RoleOutputs
    rds_monitoring: RoleOutputs
    #: Only with backups copied to a DR region.
    backup: RoleOutputs | None = None
    #: Only with images replicated to a DR region.
    ecr_replica_creator: RoleOutputs | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceRolesOutputs:
    """In ROLE_SERVICES' order (``all`` lists them so); the release's roles only with a route."""

    task_execution: RoleOutputs
    task: RoleOutputs
    codebuild: RoleOutputs
    codepipeline: RoleOutputs
    codedeploy: RoleOutputs | None = None
    test_hook: RoleOutputs | None = None
    migrate: RoleOutputs
    release_alarms: RoleOutputs | None = None
    #: Only with ECS-native blue/green.
    ecs_infrastructure: RoleOutputs | None = None
    ecs_hook_invoker: RoleOutputs | None = None
    #: Only with a load test configured.
    load_test: RoleOutputs | None = None
    #: Only under the ECS controller (a rolling or ECS-native blue/green release).
    ecs_release: RoleOutputs | None = None

    def all(self) -> tuple[RoleOutputs, ...]:
        found = (getattr(self, f.name) for f in fields(self))
        return tuple(role for role in found if role is not None)


def _roles(
    scope: Construct,
    services: Mapping[str, str],
    name_prefix: str,
    account_id: str,
    source_arns: Mapping[str, tuple[str, ...]],
) -> dict[str, RoleOutputs]:
    """One role per purpose, trusting its service (and, where AWS documents it, only for the
    resources in ``source_arns``)."""
    missing = sorted(p for p in services if p in SOURCE_ARNS_DOCUMENTED and not source_arns.get(p))
    if missing:
        raise ValueError(f"no aws:SourceArn given for the roles {missing}; their services document it")
    roles: dict[str, RoleOutputs] = {}
    for purpose, service in services.items():
        sources = source_arns.get(purpose, ()) if purpose in SOURCE_ARNS_DOCUMENTED else ()
        role = IamRole(
            scope,
            purpose,
            name=f"{name_prefix}-{purpose.replace('_', '-')}",
            assume_role_policy=iam.service_trust(service, account_id, sources),
            max_session_duration=3600,
        )
        roles[purpose] = RoleOutputs(role_arn=role.arn, role_name=role.name)
    return roles


class ServiceRoles(Construct):
    """One service's roles."""

    def __init__(self, scope: Construct, id: str, props: ServiceRolesProps) -> None:
        super().__init__(scope, id)
        services = {
            **{p: s for p, s in ROLE_SERVICES.items() if props.blue_green or p not in BLUE_GREEN_ROLES},
            **(ECS_NATIVE_ROLE_SERVICES if props.ecs_native else {}),
            **(LOAD_TEST_ROLE_SERVICES if props.load_test else {}),
            **(ECS_RELEASE_ROLE_SERVICES if props.ecs_release else {}),
        }
        roles = _roles(self, services, props.name_prefix, props.account_id, props.source_arns)
        self.outputs = ServiceRolesOutputs(**roles)


class PlatformRoles(Construct):
    """The environment's roles: flow logs, RDS monitoring, and DR's backup and image replicas."""

    def __init__(self, scope: Construct, id: str, props: PlatformRolesProps) -> None:
        super().__init__(scope, id)
        services = {
            **PLATFORM_ROLE_SERVICES,
            **(BACKUP_ROLE_SERVICES if props.backup else {}),
            **(REPLICA_ROLE_SERVICES if props.image_replicas else {}),
        }
        roles = _roles(self, services, props.name_prefix, props.account_id, props.source_arns)
        # Enhanced Monitoring publishes OS metrics; AWS maintains this narrowly scoped policy.
        monitoring = IamRolePolicyAttachment(
            self,
            "rds_monitoring_policy",
            role=roles["rds_monitoring"].role_name,
            policy_arn=f"arn:{props.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        )
        roles["rds_monitoring"] = replace(roles["rds_monitoring"], permissions=monitoring)
        if props.backup:
            # AWS maintains the backup service's own policy (it tracks the services Backup supports).
            backup = IamRolePolicyAttachment(
                self,
                "backup_policy",
                role=roles["backup"].role_name,
                policy_arn=f"arn:{props.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
            )
            roles["backup"] = replace(roles["backup"], permissions=backup)
            # The runbook's restore runs with the same role (AWS keeps restores in their own policy).
            IamRolePolicyAttachment(
                self,
                "restore_policy",
                role=roles["backup"].role_name,
                policy_arn=f"arn:{props.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
            )
        self.outputs = PlatformRolesOutputs(**roles)


@dataclass(frozen=True)
class EnvironmentRoles:
    """Every role of the environment: its own, and each service's by key."""

    platform: PlatformRolesOutputs
    services: Mapping[str, ServiceRolesOutputs]

    def all(self) -> tuple[RoleOutputs, ...]:
        found = (getattr(self.platform, f.name) for f in fields(self.platform))
        own = tuple(role for role in found if role is not None)
        return own + tuple(role for roles in self.services.values() for role in roles.all())
