"""What every CodeBuild project here shares: its images, plain-text variables, CloudWatch-only logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject,
    CodebuildProjectArtifacts,
    CodebuildProjectEnvironment,
    CodebuildProjectEnvironmentEnvironmentVariable,
    CodebuildProjectLogsConfig,
    CodebuildProjectLogsConfigCloudwatchLogs,
    CodebuildProjectLogsConfigS3Logs,
    CodebuildProjectSource,
)
from cdktf_cdktf_provider_aws.codepipeline import CodepipelineStageAction
from constructs import Construct

from modules import deploy_specs, iam
from modules.security.policies import attach

#: Standard CodeBuild images (environment type, image) for each CPU architecture.
BUILD_IMAGES = {
    "X86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    "ARM64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
}


def plaintext_variables(variables: Mapping[str, str]) -> list[CodebuildProjectEnvironmentEnvironmentVariable]:
    # Nothing secret goes in here: secrets would be PARAMETER_STORE or SECRETS_MANAGER references.
    return [
        CodebuildProjectEnvironmentEnvironmentVariable(name=k, value=v, type="PLAINTEXT") for k, v in variables.items()
    ]


def cloudwatch_logs(group_name: str) -> CodebuildProjectLogsConfig:
    """Build logs to the project's own (encrypted, retained) log group, and nowhere else."""
    return CodebuildProjectLogsConfig(
        cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(status="ENABLED", group_name=group_name),
        s3_logs=CodebuildProjectLogsConfigS3Logs(status="DISABLED"),
    )


@dataclass(frozen=True)
class EcsApiStep:
    """A pipeline step that only calls the ECS API (the migration, the release): a small x86 build
    reading the build's output artifact, logging to its own log group."""

    name: str
    description: str
    role_arn: str
    artifacts_kms_key_arn: str
    timeout_minutes: int
    buildspec: dict[str, Any]
    variables: Mapping[str, str]
    log_group_name: str


def ecs_api_project(scope: Construct, step: EcsApiStep) -> CodebuildProject:
    environment_type, image = BUILD_IMAGES["X86_64"]
    return CodebuildProject(
        scope,
        "project",
        name=step.name,
        description=step.description,
        service_role=step.role_arn,
        encryption_key=step.artifacts_kms_key_arn,
        build_timeout=step.timeout_minutes,
        queued_timeout=30,
        source=CodebuildProjectSource(
            type="CODEPIPELINE", buildspec=deploy_specs.terraform_literal(deploy_specs.to_yaml(step.buildspec))
        ),
        artifacts=CodebuildProjectArtifacts(type="CODEPIPELINE"),
        environment=CodebuildProjectEnvironment(
            compute_type="BUILD_GENERAL1_SMALL",
            image=image,
            type=environment_type,
            image_pull_credentials_type="CODEBUILD",
            environment_variable=plaintext_variables(step.variables),
        ),
        logs_config=cloudwatch_logs(step.log_group_name),
    )


def read_build_output(scope: Construct, id: str, role_name: str, artifact_bucket_arn: str) -> None:
    """A step reads the build's output from the pipeline's artifacts (the bucket is the pipeline's)."""
    attach(
        scope,
        id,
        role_name,
        [
            iam.statement("ReadBuildOutput", ["s3:GetObject", "s3:GetObjectVersion"], [f"{artifact_bucket_arn}/*"]),
            # CodeBuild's documented minimum service role also reads the bucket's location and ACL
            # (its ownership check of the artifact bucket).
            # https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html
            iam.statement("LocateBuildOutput", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [artifact_bucket_arn]),
        ],
    )


def build_action(name: str, project_name: str, source: str, *, output: str | None = None) -> CodepipelineStageAction:
    """A pipeline's CodeBuild action reading ``source`` (and writing ``output``, when it has one)."""
    return CodepipelineStageAction(
        name=name,
        category="Build",
        owner="AWS",
        provider="CodeBuild",
        version="1",
        input_artifacts=[source],
        output_artifacts=[output] if output else None,
        configuration={"ProjectName": project_name},
    )
