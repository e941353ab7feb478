"""What every CodeBuild project here shares: its images, plain-text variables, CloudWatch-only logs."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProjectEnvironmentEnvironmentVariable,
    CodebuildProjectLogsConfig,
    CodebuildProjectLogsConfigCloudwatchLogs,
    CodebuildProjectLogsConfigS3Logs,
)

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
