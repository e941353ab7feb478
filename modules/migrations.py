"""The release's database migration, as its own pipeline step before green exists.

A CodeBuild project registers this release's migration task (the built image, command
``python -m service.migrate``, the master user's secret) and runs it once on Fargate; the step
fails unless the task exits 0. The service itself signs in as its least-privileged role and
never migrates (app/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules import codebuild, deploy_specs, iam
from modules.logs import encrypted_log_group
from modules.security.policies import attach

#: Running the task is quick; the task itself may take longer (the waiter allows 10 minutes).
TIMEOUT_MINUTES = 20


@dataclass(frozen=True)
class MigrationsProps:
    project_name: str
    log_group_name: str
    #: The project's own CodeBuild role; its permissions are attached here.
    role_arn: str
    role_name: str
    #: The one-off migration task, with the image left open (each release fills it in).
    task: deploy_specs.TaskSpec
    #: Where it runs: the service's cluster, subnets and security group (it reaches the database).
    cluster_arn: str
    cluster_name: str
    network: deploy_specs.TaskNetwork
    artifacts_kms_key_arn: str
    logs_kms_key_arn: str
    log_retention_days: int
    partition: str
    region: str
    account_id: str


@dataclass(frozen=True)
class MigrationsOutputs:
    project_arn: str
    project_name: str


class Migrations(Construct):
    def __init__(self, scope: Construct, id: str, props: MigrationsProps) -> None:
        super().__init__(scope, id)
        p = props
        log_group = encrypted_log_group(self, "log_group", p.log_group_name, p.log_retention_days, p.logs_kms_key_arn)
        project = codebuild.ecs_api_project(
            self,
            codebuild.EcsApiStep(
                name=p.project_name,
                description="Runs this release's database migration as a one-off ECS task, before green exists",
                role_arn=p.role_arn,
                artifacts_kms_key_arn=p.artifacts_kms_key_arn,
                timeout_minutes=TIMEOUT_MINUTES,
                buildspec=deploy_specs.migrate_buildspec(),
                variables={
                    "MIGRATE_TASKDEF": deploy_specs.taskdef_template(p.task),
                    "CLUSTER": p.cluster_name,
                    "NETWORK": deploy_specs.awsvpc_shorthand(p.network),
                },
                log_group_name=log_group.name,
            ),
        )
        ecs = f"arn:{p.partition}:ecs:{p.region}:{p.account_id}"
        self._role_name = p.role_name
        attach(
            self,
            "migrate",
            p.role_name,
            [
                iam.statement(
                    "WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.arn, f"{log_group.arn}:*"]
                ),
                iam.statement("UseArtifactsKey", ["kms:Decrypt", "kms:DescribeKey"], [p.artifacts_kms_key_arn]),
                # RegisterTaskDefinition has no resource type; running and tagging do.
                iam.statement("RegisterMigrationTask", ["ecs:RegisterTaskDefinition"], ["*"]),
                iam.statement(
                    "RunMigrationTask",
                    ["ecs:RunTask"],
                    [f"{ecs}:task-definition/{p.task.family}:*"],
                    conditions={"ArnEquals": {"ecs:cluster": p.cluster_arn}},
                ),
                iam.statement("FollowMigrationTask", ["ecs:DescribeTasks"], [f"{ecs}:task/{p.cluster_name}/*"]),
                iam.statement(
                    "PassTaskRoles",
                    ["iam:PassRole"],
                    [p.task.execution_role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                ),
            ],
        )
        self.outputs = MigrationsOutputs(project_arn=project.arn, project_name=project.name)

    def read_build_output(self, artifact_bucket_arn: str) -> None:
        """The step reads imageDetail.json from the pipeline's artifacts."""
        codebuild.read_build_output(self, "migrate_artifacts", self._role_name, artifact_bucket_arn)
