"""The roles' permission policies, each scoped to the exact ARNs it needs.

``*`` appears as a resource only for actions AWS does not scope to a resource
(ecr:GetAuthorizationToken, ecs:RegisterTaskDefinition, elasticloadbalancing:Describe*);
``tests/test_security.py`` holds that list and fails on anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules import iam
from modules.security.keys import KEY_USER_ACTIONS
from modules.security.roles import PlatformRolesOutputs, ServiceRolesOutputs

ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECR_PUSH = ("ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart")
LOG_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
#: Whoever swaps traffic (CodeDeploy or ECS) reads the load balancer's state; AWS scopes no Describe.
DESCRIBE_LOAD_BALANCING = iam.statement(
    "DescribeLoadBalancing",
    [
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetHealth",
    ],
    ["*"],
)


def attach(
    scope: Construct, purpose: str, role_name: str, statements: list[iam.Statement], *, suffix: str = ""
) -> IamRolePolicy:
    """An inline policy named for what it is for: ``<purpose>[-suffix]-permissions``."""
    name = f"{purpose}-{suffix}-permissions" if suffix else f"{purpose}-permissions"
    return IamRolePolicy(scope, purpose, name=name, role=role_name, policy=iam.document(*statements))


def flow_log_delivery(sid: str, log_group_arn: str) -> list[iam.Statement]:
    """The VPC flow logs role AWS documents, held to one log group where IAM can scope it:
    DescribeLogGroups has no resource type, so it takes "*".
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    """
    return [
        iam.statement("FindLogGroups", ["logs:DescribeLogGroups"], ["*"]),
        iam.statement(sid, [*LOG_WRITE, "logs:DescribeLogStreams"], [log_group_arn, f"{log_group_arn}:*"]),
    ]


def lambda_vpc_access(ec2_arn_prefix: str, subnet_ids: Sequence[str], security_group_id: str) -> list[iam.Statement]:
    """What a Lambda in a VPC needs before it can be created: Lambda checks the role at
    CreateFunction (AWSLambdaVPCAccessExecutionRole has the same actions, on "*").
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions

    Scoped where EC2 authorises a resource: the interface is created in the function's subnets
    with its security group; Lambda's check at CreateFunction asks for ``network-interface/*``.
    DescribeNetworkInterfaces and DescribeSubnets work only on "*"; DeleteNetworkInterface must
    name the interface or all of the account's (the guide's ``*/*`` form), or the function can
    lose its VPC access.
    """
    interfaces = f"{ec2_arn_prefix}:network-interface/*"
    return [
        iam.statement(
            "CreateInterfacesInTheFunctionsSubnets",
            ["ec2:CreateNetworkInterface"],
            [
                interfaces,
                f"{ec2_arn_prefix}:security-group/{security_group_id}",
                *(f"{ec2_arn_prefix}:subnet/{subnet}" for subnet in subnet_ids),
            ],
        ),
        iam.statement(
            "ManageTheAccountsInterfaces",
            ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            [interfaces],
        ),
        iam.statement("DeleteInterfaces", ["ec2:DeleteNetworkInterface"], [f"{ec2_arn_prefix}:*/*"]),
        iam.statement("DescribeInterfaces", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], ["*"]),
    ]


def lambda_tracing() -> list[iam.Statement]:
    """Active X-Ray tracing: Lambda checks the role can send traces when tracing is turned on.
    https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html#services-xray-permissions
    """
    return [iam.statement("SendTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])]


def codebuild_vpc_access(
    partition: str, region: str, account_id: str, subnet_ids: Sequence[str]
) -> list[iam.Statement]:
    """What CodeBuild needs to run a project in a VPC; it checks the role when the project is created.
    https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html#customer-managed-policies-example-create-vpc-network-interface
    """
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    return [
        # CodeBuild creates the build's network interface; AWS scopes none of these.
        iam.statement(
            "AttachToVpc",
            [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ],
            ["*"],
        ),
        iam.statement(
            "LetCodeBuildUseTheInterface",
            ["ec2:CreateNetworkInterfacePermission"],
            [f"{ec2}:network-interface/*"],
            conditions={
                "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                "ArnEquals": {"ec2:Subnet": [f"{ec2}:subnet/{subnet}" for subnet in subnet_ids]},
            },
        ),
    ]


class ServiceSecretAccess(Protocol):
    """A secret the service's task reads at start (config.schema.ServiceSecret has this shape)."""

    @property
    def source(self) -> str: ...
    @property
    def kms_key_arn(self) -> str | None: ...


def service_secret_statements(region: str, secrets: Sequence[ServiceSecretAccess]) -> list[iam.Statement]:
    """Exactly the secrets and parameters configured, and the customer keys they name."""
    managers = sorted({s.source for s in secrets if ":secretsmanager:" in s.source})
    parameters = sorted({s.source for s in secrets if ":ssm:" in s.source})
    keys = sorted({s.kms_key_arn for s in secrets if s.kms_key_arn})
    statements = []
    if managers:
        statements.append(iam.statement("ReadServiceSecrets", ["secretsmanager:GetSecretValue"], managers))
    if parameters:
        statements.append(iam.statement("ReadServiceParameters", ["ssm:GetParameters"], parameters))
    if keys:
        services = [f"secretsmanager.{region}.amazonaws.com", f"ssm.{region}.amazonaws.com"]
        statements.append(
            iam.statement(
                "DecryptServiceSecrets",
                ["kms:Decrypt"],
                keys,
                conditions={"StringEquals": {"kms:ViaService": services}},
            )
        )
    return statements


@dataclass(frozen=True)
class CodeDeployAccess:
    """CodeDeploy's application, deployment group and config: what the pipeline starts."""

    app_arn: str
    deployment_group_arn: str
    deployment_config_name: str


@dataclass(frozen=True)
class ReleaseStepAccess:
    """The pipeline's release step (ECS controller): the CodeBuild project the pipeline starts,
    which registers the task definition and rolls the service under its own role."""

    project_arn: str


@dataclass(frozen=True)
class BlueGreenAccess:
    """What a blue/green release acts on: the shared listeners, the service's target groups, rules,
    alarms and hooks. A service without a route has none (ECS rolls it)."""

    listener_arns: Sequence[str]
    #: Blue and green: ECS-native blue/green registers and drains tasks itself.
    target_group_arns: Sequence[str]
    alarm_arns: Sequence[str]
    #: The AfterAllowTestTraffic Lambda and its log group; None when no hook runs.
    test_hook_function_arn: str | None
    #: The BeforeInstall Lambda that points the rollback alarms at green.
    release_alarms_function_arn: str
    #: The certificate the test hook reads its default host name from (None: a name is configured).
    test_certificate_arn: str | None
    test_hook_log_group_arn: str | None
    #: ECS-native blue/green: the listener rules ECS rewrites (empty with CodeDeploy).
    listener_rule_arns: Sequence[str] = ()
    #: The optional load test: its CodeBuild project and log group.
    load_test_project_arn: str | None = None
    load_test_log_group_arn: str | None = None


@dataclass(frozen=True)
class RolePoliciesProps:
    roles: ServiceRolesOutputs
    partition: str
    region: str
    account_id: str
    ecr_repository_arn: str
    #: The master user's secret: only the migration task receives it.
    database_secret_arn: str
    #: The app's own database user (rds-db:connect), the task role's one permission.
    database_user_arn: str
    #: Secrets the service receives from config (service.secrets): the execution role reads exactly these.
    service_secrets: tuple[ServiceSecretAccess, ...]
    data_key_arn: str
    artifacts_key_arn: str
    artifact_bucket_arn: str
    app_log_group_arn: str
    build_log_group_arn: str
    source_connection_arn: str
    build_project_arn: str
    #: The pipeline also starts the migration step's project.
    migrate_project_arn: str
    ecs_cluster_name: str
    ecs_service_arn: str
    ecs_service_name: str
    task_family: str
    #: The approval action notifies this topic (pipeline role); SNS encrypts it with this key on
    #: the publisher's behalf, so the publisher needs the key too.
    notification_topic_arn: str
    notifications_key_arn: str
    #: Who deploys: CodeDeploy (its application and group), or the release step (ECS controller).
    deploy: CodeDeployAccess | ReleaseStepAccess
    #: The blue/green release; None: a rolling release.
    release: BlueGreenAccess | None


@dataclass(frozen=True)
class RolePoliciesOutputs:
    """The policies some resources wait for: AWS checks them when those resources are created, or
    the resources' first action (a pipeline's first run, a service's first tasks) needs them."""

    task_execution: TerraformResource
    codepipeline: TerraformResource
    #: None with ECS-native blue/green.
    codedeploy: TerraformResource | None
    #: Only with ECS-native blue/green (the hook invoker also needs a hook).
    ecs_infrastructure: TerraformResource | None
    ecs_hook_invoker: TerraformResource | None


@dataclass(frozen=True)
class _SharedStatements:
    """Statements several of a service's roles hold alike."""

    pass_task_roles: iam.Statement
    artifacts_rw: iam.Statement
    artifacts_bucket: iam.Statement
    build_bucket: iam.Statement
    artifacts_key: iam.Statement
    ecr_login: iam.Statement

    @staticmethod
    def of(p: RolePoliciesProps) -> _SharedStatements:
        pass_task_roles = iam.statement(
            "PassTaskRolesToEcs",
            ["iam:PassRole"],
            [p.roles.task_execution.role_arn, p.roles.task.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
        artifacts_rw = iam.statement(
            "ReadWriteArtifacts",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{p.artifact_bucket_arn}/*"],
        )
        artifacts_bucket = iam.statement(
            "LocateArtifactBucket", ["s3:GetBucketLocation", "s3:GetBucketVersioning"], [p.artifact_bucket_arn]
        )
        # CodeBuild's documented minimum role also reads the bucket's ACL (an ownership check).
        # https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html
        build_bucket = iam.statement(
            "LocateArtifactBucket",
            ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:GetBucketAcl"],
            [p.artifact_bucket_arn],
        )
        artifacts_key = iam.statement("UseArtifactsKey", KEY_USER_ACTIONS, [p.artifacts_key_arn])
        ecr_login = iam.statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"])

        return _SharedStatements(
            pass_task_roles, artifacts_rw, artifacts_bucket, build_bucket, artifacts_key, ecr_login
        )


class RolePolicies(Construct):
    def __init__(self, scope: Construct, id: str, props: RolePoliciesProps) -> None:
        super().__init__(scope, id)
        self._policies: dict[str, IamRolePolicy] = {}
        p = props
        shared = _SharedStatements.of(p)
        self._attach_tasks(p, shared)
        self._attach_build(p, shared)
        self._attach_pipeline(p, shared)
        if p.release is not None:
            self._attach_release(p, p.release, shared.pass_task_roles, shared.artifacts_key)
        self.outputs = RolePoliciesOutputs(
            task_execution=self._policies["task_execution"],
            codepipeline=self._policies["codepipeline"],
            codedeploy=self._policies.get("codedeploy"),
            ecs_infrastructure=self._policies.get("ecs_infrastructure"),
            ecs_hook_invoker=self._policies.get("ecs_hook_invoker"),
        )

    def _attach_tasks(self, p: RolePoliciesProps, shared: _SharedStatements) -> None:
        """The tasks' roles: what ECS does for them (pull, log, secrets), and what the app does."""
        self._attach(
            "task_execution",
            p.roles.task_execution.role_name,
            [
                shared.ecr_login,
                iam.statement("PullImages", ECR_PULL, [p.ecr_repository_arn]),
                iam.statement("WriteContainerLogs", LOG_WRITE, [f"{p.app_log_group_arn}:*"]),
                # For the migration task only; the service's task definition names no such secret.
                iam.statement("ReadDatabaseSecret", ["secretsmanager:GetSecretValue"], [p.database_secret_arn]),
                iam.statement(
                    "DecryptDatabaseSecret",
                    ["kms:Decrypt"],
                    [p.data_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{p.region}.amazonaws.com"}},
                ),
                *service_secret_statements(p.region, p.service_secrets),
            ],
        )
        # The application's identity: it may sign in to the database as its own user, nothing else.
        self._attach(
            "task",
            p.roles.task.role_name,
            [iam.statement("ConnectAsTheAppUser", ["rds-db:connect"], [p.database_user_arn])],
        )

    def _attach_build(self, p: RolePoliciesProps, shared: _SharedStatements) -> None:
        """The image build: its log, the artifacts, the repository."""
        self._attach(
            "codebuild",
            p.roles.codebuild.role_name,
            [
                iam.statement("WriteBuildLogs", LOG_WRITE, [p.build_log_group_arn, f"{p.build_log_group_arn}:*"]),
                shared.artifacts_rw,
                shared.build_bucket,
                shared.artifacts_key,
                shared.ecr_login,
                iam.statement("PushImages", ECR_PULL + ECR_PUSH, [p.ecr_repository_arn]),
            ],
        )

    def _attach_pipeline(self, p: RolePoliciesProps, shared: _SharedStatements) -> None:
        """The pipeline: source, builds, its deploy action, the approval notification."""
        self._attach(
            "codepipeline",
            p.roles.codepipeline.role_name,
            [
                shared.artifacts_rw,
                shared.artifacts_bucket,
                shared.artifacts_key,
                iam.statement(
                    "UseSourceConnection",
                    ["codeconnections:UseConnection", "codestar-connections:UseConnection"],
                    [p.source_connection_arn],
                ),
                iam.statement(
                    "RunBuild",
                    ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                    [p.build_project_arn, p.migrate_project_arn],
                ),
                *(
                    self._deploy_with_codedeploy(p, p.deploy, shared.pass_task_roles)
                    if isinstance(p.deploy, CodeDeployAccess)
                    else [
                        # The release step registers the revision and rolls the service itself.
                        iam.statement(
                            "RunReleaseStep",
                            ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                            [p.deploy.project_arn],
                        )
                    ]
                ),
                iam.statement("NotifyApprovers", ["sns:Publish"], [p.notification_topic_arn]),
                # The topic is encrypted: SNS uses the key on the publisher's behalf.
                # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
                iam.statement(
                    "EncryptApprovalNotification",
                    ["kms:GenerateDataKey*", "kms:Decrypt"],
                    [p.notifications_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sns.{p.region}.amazonaws.com"}},
                ),
            ],
        )

    def _attach(self, purpose: str, role_name: str, statements: list[iam.Statement]) -> None:
        self._policies[purpose] = attach(self, purpose, role_name, statements)

    def _attach_release(
        self, p: RolePoliciesProps, r: BlueGreenAccess, pass_task_roles: iam.Statement, artifacts_key: iam.Statement
    ) -> None:
        """The blue/green controller's role, the test hook's and the load test's."""
        ecs = f"arn:{p.partition}:ecs:{p.region}:{p.account_id}"
        codedeploy = isinstance(p.deploy, CodeDeployAccess)
        if codedeploy:
            self._attach_codedeploy(p, r, ecs, pass_task_roles)
        else:
            self._attach_ecs_native(p, r)
        if r.test_hook_log_group_arn:
            assert p.roles.test_hook is not None, "a routed service has its hook's role"
            self._attach("test_hook", p.roles.test_hook.role_name, self._test_hook_statements(r, codedeploy))
        if r.load_test_project_arn:
            self._attach_load_test(p, r, artifacts_key)

    @staticmethod
    def _test_hook_statements(r: BlueGreenAccess, codedeploy: bool) -> list[iam.Statement]:
        assert r.test_hook_log_group_arn is not None
        return [
            *(
                [
                    # AWS's own examples grant it on "*"; the reference does not agree on a
                    # resource type, and the call needs the live deployment's hook id anyway.
                    iam.statement("ReportHookResult", ["codedeploy:PutLifecycleEventHookExecutionStatus"], ["*"])
                ]
                if codedeploy
                else []  # ECS reads the hook's result from its return value
            ),
            iam.statement("WriteHookLogs", LOG_WRITE, [f"{r.test_hook_log_group_arn}:*"]),
            *(
                [iam.statement("ReadTestHostName", ["acm:DescribeCertificate"], [r.test_certificate_arn])]
                if r.test_certificate_arn
                else []
            ),
            *(
                [
                    iam.statement(
                        "RunLoadTest", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [r.load_test_project_arn]
                    )
                ]
                if r.load_test_project_arn
                else []
            ),
        ]

    def _attach_codedeploy(
        self, p: RolePoliciesProps, r: BlueGreenAccess, ecs: str, pass_task_roles: iam.Statement
    ) -> None:
        """CodeDeploy shifts task sets and swaps listeners; it may read the rollback alarms."""
        assert p.roles.codedeploy is not None, "a CodeDeploy service has CodeDeploy's role"
        self._attach(
            "codedeploy",
            p.roles.codedeploy.role_name,
            [
                iam.statement(
                    "ShiftServiceTaskSets",
                    [
                        "ecs:DescribeServices",
                        "ecs:CreateTaskSet",
                        "ecs:UpdateServicePrimaryTaskSet",
                        "ecs:DeleteTaskSet",
                        "ecs:TagResource",
                    ],
                    [p.ecs_service_arn, f"{ecs}:task-set/{p.ecs_cluster_name}/{p.ecs_service_name}/*"],
                ),
                DESCRIBE_LOAD_BALANCING,
                iam.statement("SwapListeners", ["elasticloadbalancing:ModifyListener"], list(r.listener_arns)),
                iam.statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"], list(r.alarm_arns)),
                pass_task_roles,
                *self._invoke_hook(r),
            ],
        )

    def _attach_load_test(self, p: RolePoliciesProps, r: BlueGreenAccess, artifacts_key: iam.Statement) -> None:
        """The load test writes its log and runs in the private subnets; it calls no other AWS API."""
        assert p.roles.load_test is not None and r.load_test_log_group_arn
        self._attach(
            "load_test",
            p.roles.load_test.role_name,
            [
                iam.statement(
                    "WriteLoadTestLogs", LOG_WRITE, [r.load_test_log_group_arn, f"{r.load_test_log_group_arn}:*"]
                ),
                artifacts_key,
            ],
        )

    def _attach_ecs_native(self, p: RolePoliciesProps, r: BlueGreenAccess) -> None:
        """ECS rewrites the listener rules itself, and invokes the test hook."""
        assert p.roles.ecs_infrastructure is not None and p.roles.ecs_hook_invoker is not None
        self._attach(
            "ecs_infrastructure",
            p.roles.ecs_infrastructure.role_name,
            # What AmazonECSInfrastructureRolePolicyForLoadBalancers grants, scoped to this service's
            # load balancer: ECS registers green's tasks, shifts the rules and drains blue.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AmazonECSInfrastructureRolePolicyForLoadBalancers.html
            [
                DESCRIBE_LOAD_BALANCING,
                iam.statement("ShiftListenerRules", ["elasticloadbalancing:ModifyRule"], list(r.listener_rule_arns)),
                iam.statement("ShiftListeners", ["elasticloadbalancing:ModifyListener"], list(r.listener_arns)),
                iam.statement(
                    "RegisterAndDrainTasks",
                    ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                    list(r.target_group_arns),
                ),
            ],
        )
        self._attach("ecs_hook_invoker", p.roles.ecs_hook_invoker.role_name, self._invoke_hook(r))

    @staticmethod
    def _deploy_with_codedeploy(
        p: RolePoliciesProps, d: CodeDeployAccess, pass_task_roles: iam.Statement
    ) -> list[iam.Statement]:
        """The CodeDeployToECS action: it registers the build's taskdef.json, then starts CodeDeploy."""
        codedeploy = f"arn:{p.partition}:codedeploy:{p.region}:{p.account_id}"
        return [
            iam.statement(
                "StartDeployment", ["codedeploy:CreateDeployment", "codedeploy:GetDeployment"], [d.deployment_group_arn]
            ),
            iam.statement(
                "RegisterRevision",
                [
                    "codedeploy:GetApplication",
                    "codedeploy:GetApplicationRevision",
                    "codedeploy:RegisterApplicationRevision",
                ],
                [d.app_arn],
            ),
            iam.statement(
                "ReadDeploymentConfig",
                ["codedeploy:GetDeploymentConfig"],
                [f"{codedeploy}:deploymentconfig:{d.deployment_config_name}"],
            ),
            # RegisterTaskDefinition cannot be scoped to a resource; tagging the new revision can.
            iam.statement("RegisterTaskDefinition", ["ecs:RegisterTaskDefinition"], ["*"]),
            iam.statement(
                "TagTaskDefinition",
                ["ecs:TagResource"],
                [f"arn:{p.partition}:ecs:{p.region}:{p.account_id}:task-definition/{p.task_family}:*"],
            ),
            pass_task_roles,
        ]

    @staticmethod
    def _invoke_hook(r: BlueGreenAccess) -> list[iam.Statement]:
        """Whoever runs the deployment invokes its hooks: the release alarms', and the test hook."""
        hooks = [r.release_alarms_function_arn, *([r.test_hook_function_arn] if r.test_hook_function_arn else [])]
        return [iam.statement("RunHooks", ["lambda:InvokeFunction"], hooks)]


@dataclass(frozen=True)
class DrServiceAccess:
    """One service in the DR region: its image replica, its logs, its user of the DR cluster."""

    replica_repository_arn: str
    app_log_group_arn: str
    database_user_arn: str


@dataclass(frozen=True)
class SecondaryRegionPoliciesProps:
    """What the environment's roles need in the DR region: replicas of the images, flow logs."""

    roles: PlatformRolesOutputs
    region: str
    #: Every service's replica repository (ECR creates them on the first replicated push).
    replica_repository_arns: Sequence[str]
    artifacts_key_arn: str
    #: The DR VPC's flow log group; None when no VPC runs there (backup_restore).
    flow_log_group_arn: str | None = None


class SecondaryRegionPolicies(Construct):
    def __init__(self, scope: Construct, id: str, props: SecondaryRegionPoliciesProps) -> None:
        super().__init__(scope, id)
        p = props
        #: What waits for these policies: the replica template, the DR flow log.
        self.ecr_replica_creator: TerraformResource | None = None
        self.flow_logs: TerraformResource | None = None
        if p.roles.ecr_replica_creator is not None:
            self.ecr_replica_creator = attach(
                self,
                "ecr_replica_creator",
                p.roles.ecr_replica_creator.role_name,
                [
                    iam.statement(
                        "CreateReplicaRepository",
                        ["ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource"],
                        list(p.replica_repository_arns),
                    ),
                    iam.statement(
                        "EncryptReplicaRepository",
                        ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                        [p.artifacts_key_arn],
                    ),
                ],
            )
        if p.flow_log_group_arn is not None:
            self.flow_logs = attach(
                self,
                "flow_logs",
                p.roles.flow_logs.role_name,
                [*flow_log_delivery("DeliverDrFlowLogs", p.flow_log_group_arn)],
                suffix="dr",
            )


class DrServicePolicies(Construct):
    """One service's roles in the DR region: pull the replica, write its logs, sign in there."""

    def __init__(self, scope: Construct, id: str, roles: ServiceRolesOutputs, access: DrServiceAccess) -> None:
        super().__init__(scope, id)
        self.task_execution = attach(
            self,
            "task_execution",
            roles.task_execution.role_name,
            [
                iam.statement("PullReplicaImages", ECR_PULL, [access.replica_repository_arn]),
                iam.statement("WriteDrContainerLogs", LOG_WRITE, [f"{access.app_log_group_arn}:*"]),
            ],
            suffix="dr",
        )
        attach(
            self,
            "task",
            roles.task.role_name,
            [iam.statement("ConnectAsTheAppUserInDr", ["rds-db:connect"], [access.database_user_arn])],
            suffix="dr",
        )
