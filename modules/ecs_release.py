"""The pipeline's release step for a service the ECS controller deploys (rolling or ECS-native).

A CodeBuild project registers the build's ``taskdef.json`` (the stack's task definition with the
built image) and updates the service to that revision, then waits for ECS to finish or roll it
back (modules/deploy_specs.py ``release_buildspec``). CodePipeline's own ECS action would copy the
running revision instead, and lose every change Terraform made to the task definition.
https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECS.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from config.schema import CODEBUILD_MAX_TIMEOUT_MINUTES, RELEASE_STEP_START_MINUTES
from modules import codebuild, deploy_specs, iam
from modules.logs import encrypted_log_group
from modules.security.policies import attach
from modules.security.roles import RoleOutputs


@dataclass(frozen=True)
class EcsReleaseProps:
    project_name: str
    log_group_name: str
    #: The step's own CodeBuild role; its permissions are attached here.
    role: RoleOutputs
    cluster_name: str
    service_name: str
    service_arn: str
    #: The roles the new revision names (execution and task), passed to ECS.
    task_role_arns: Sequence[str]
    #: How long ECS may take to finish (or roll back) one release.
    wait_minutes: int
    artifacts_kms_key_arn: str
    logs_kms_key_arn: str
    log_retention_days: int
    partition: str
    region: str
    account_id: str


@dataclass(frozen=True)
class EcsReleaseOutputs:
    project_arn: str
    project_name: str


class EcsRelease(Construct):
    def __init__(self, scope: Construct, id: str, props: EcsReleaseProps) -> None:
        super().__init__(scope, id)
        p = props
        log_group = encrypted_log_group(self, "log_group", p.log_group_name, p.log_retention_days, p.logs_kms_key_arn)
        project = codebuild.ecs_api_project(
            self,
            codebuild.EcsApiStep(
                name=p.project_name,
                description="Registers this release's task definition and rolls the service to it",
                role_arn=p.role.role_arn,
                artifacts_kms_key_arn=p.artifacts_kms_key_arn,
                # --check holds an ECS-native release within CodeBuild's limit (config.schema).
                timeout_minutes=min(CODEBUILD_MAX_TIMEOUT_MINUTES, p.wait_minutes + RELEASE_STEP_START_MINUTES),
                buildspec=deploy_specs.release_buildspec(p.wait_minutes * 60),
                variables={"CLUSTER": p.cluster_name, "SERVICE": p.service_name},
                log_group_name=log_group.name,
            ),
        )
        ecs = f"arn:{p.partition}:ecs:{p.region}:{p.account_id}"
        attach(
            self,
            "release",
            p.role.role_name,
            [
                iam.statement(
                    "WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.arn, f"{log_group.arn}:*"]
                ),
                iam.statement("UseArtifactsKey", ["kms:Decrypt", "kms:DescribeKey"], [p.artifacts_kms_key_arn]),
                # RegisterTaskDefinition has no resource type. taskdef.json carries no tags (the
                # provider's default tags are Terraform's), so the call needs no ecs:TagResource.
                iam.statement("RegisterRelease", ["ecs:RegisterTaskDefinition"], ["*"]),
                iam.statement("RollTheService", ["ecs:UpdateService", "ecs:ListServiceDeployments"], [p.service_arn]),
                iam.statement(
                    "FollowTheRelease",
                    ["ecs:DescribeServiceDeployments"],
                    [f"{ecs}:service-deployment/{p.cluster_name}/{p.service_name}/*"],
                ),
                iam.statement(
                    "PassTaskRoles",
                    ["iam:PassRole"],
                    list(p.task_role_arns),
                    conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                ),
            ],
        )
        self._role_name = p.role.role_name
        self.outputs = EcsReleaseOutputs(project_arn=project.arn, project_name=project.name)

    def read_build_output(self, artifact_bucket_arn: str) -> None:
        """The step reads imageDetail.json and taskdef.json from the pipeline's artifacts."""
        codebuild.read_build_output(self, "release_artifacts", self._role_name, artifact_bucket_arn)
