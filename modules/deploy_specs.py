"""What CodeBuild hands to CodeDeploy, produced as data and emitted by a YAML/JSON emitter.

One function describes the container; both the task definition Terraform creates and the
``taskdef.json`` each build emits come from it, so the two cannot drift apart. Values may be
cdktf tokens (ARNs); they are plain strings here and resolve when the stack is synthesized.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

#: Placeholders the CodeDeployToECS action substitutes (AWS-defined names).
IMAGE_PLACEHOLDER = "<IMAGE1_NAME>"
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"
#: Files the build leaves in its output artifact, and the pipeline reads.
IMAGE_DETAIL_FILE = "imageDetail.json"
#: What the ECS deploy action reads instead (ECS-native blue/green).
IMAGE_DEFINITIONS_FILE = "imagedefinitions.json"
TASKDEF_FILE = "taskdef.json"
APPSPEC_FILE = "appspec.yaml"
#: Ephemeral volume for /tmp, so the root filesystem can stay read-only.
TMP_VOLUME = "tmp"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    port: int
    environment: dict[str, str]
    #: Environment variable -> Secrets Manager ARN (optionally with ``:json-key::``) ECS injects.
    secrets: dict[str, str]
    log_group_name: str
    region: str
    stop_timeout_seconds: int
    readonly_root_filesystem: bool


@dataclass(frozen=True)
class TaskSpec:
    family: str
    cpu: int
    memory: int
    cpu_architecture: str
    execution_role_arn: str
    task_role_arn: str
    container: ContainerSpec
    tags: dict[str, str] = field(default_factory=dict)


def container_definition(spec: ContainerSpec, image: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": spec.port, "hostPort": spec.port, "protocol": "tcp", "name": "http"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(spec.environment.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(spec.secrets.items())],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": spec.log_group_name,
                "awslogs-region": spec.region,
                "awslogs-stream-prefix": spec.name,
                # Never block the app on a slow log pipe; buffer instead.
                "mode": "non-blocking",
                "max-buffer-size": "4m",
            },
        },
        "stopTimeout": spec.stop_timeout_seconds,
        "readonlyRootFilesystem": spec.readonly_root_filesystem,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],  # noqa: S108
        # An init process forwards SIGTERM to the app and reaps zombies.
        "linuxParameters": {"initProcessEnabled": True},
        "privileged": False,
    }


def container_definitions_json(spec: ContainerSpec, image: str) -> str:
    return json.dumps([container_definition(spec, image)], indent=2)


def taskdef_template(spec: TaskSpec) -> str:
    """The ``taskdef.json`` a build emits: the live task definition with the image left open."""
    document: dict[str, Any] = {
        "family": spec.family,
        "executionRoleArn": spec.execution_role_arn,
        "taskRoleArn": spec.task_role_arn,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(spec.cpu),
        "memory": str(spec.memory),
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": spec.cpu_architecture},
        "containerDefinitions": [container_definition(spec.container, IMAGE_PLACEHOLDER)],
        "volumes": [{"name": TMP_VOLUME}],
    }
    if spec.tags:
        document["tags"] = [{"key": k, "value": v} for k, v in sorted(spec.tags.items())]
    return json.dumps(document, indent=2)


@dataclass(frozen=True)
class TaskNetwork:
    """Where green's tasks run: CodeDeploy takes it from the AppSpec, not from the service."""

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]


def appspec(
    container_name: str,
    container_port: int,
    after_allow_test_traffic: str | None = None,
    capacity: Sequence[tuple[str, int, int]] = (),
    network: TaskNetwork | None = None,
) -> dict[str, Any]:
    """The ECS appspec: CodeDeploy substitutes the task definition it registers from taskdef.json.

    ``after_allow_test_traffic`` is the ARN of the Lambda that tests green through the test
    listener before any production traffic moves. ``capacity`` is the (provider, weight, base)
    strategy green's task set must use (CodeDeploy does not copy it from the service).
    """
    document: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": TASK_DEFINITION_PLACEHOLDER,
                        "LoadBalancerInfo": {"ContainerName": container_name, "ContainerPort": container_port},
                        "PlatformVersion": "LATEST",
                    },
                }
            }
        ],
    }
    properties = document["Resources"][0]["TargetService"]["Properties"]
    if network is not None:
        # A CODE_DEPLOY service's network changes only through a deployment: each release
        # carries the stack's current subnets and security groups.
        properties["NetworkConfiguration"] = {
            "AwsvpcConfiguration": {
                "Subnets": list(network.subnet_ids),
                "SecurityGroups": list(network.security_group_ids),
                "AssignPublicIp": "DISABLED",
            }
        }
    if capacity:
        properties["CapacityProviderStrategy"] = [
            {"CapacityProvider": provider, "Weight": weight, "Base": base} for provider, weight, base in capacity
        ]
    if after_allow_test_traffic:
        document["Hooks"] = [{"AfterAllowTestTraffic": after_allow_test_traffic}]
    return document


def buildspec(app_path: str, container_name: str) -> dict[str, Any]:
    """Build the image, push it under an immutable tag, and emit the three files the deploy needs.

    The build reads its inputs from the CodeBuild project's environment variables:
    REPOSITORY_URI, TASKDEF_TEMPLATE and APPSPEC_YAML.
    """
    image = '"$REPOSITORY_URI:$IMAGE_TAG"'
    return {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "pre_build": {
                "commands": [
                    'aws ecr get-login-password --region "$AWS_DEFAULT_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',  # noqa: E501
                    # Tags are immutable: commit plus build number keeps a rebuild of one commit pushable.
                    'IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}-${CODEBUILD_BUILD_NUMBER}"',
                ]
            },
            "build": {
                "commands": [
                    f'docker build --pull --build-arg GIT_COMMIT="$CODEBUILD_RESOLVED_SOURCE_VERSION" --build-arg APP_VERSION="$IMAGE_TAG" --tag {image} {app_path}',  # noqa: E501
                ]
            },
            "post_build": {
                "commands": [
                    f"docker push {image}",
                    f"jq -n --arg uri {image} '{{ImageURI: $uri}}' > {IMAGE_DETAIL_FILE}",
                    f"jq -n --arg uri {image} --arg name {container_name} '[{{name: $name, imageUri: $uri}}]' > {IMAGE_DEFINITIONS_FILE}",  # noqa: E501
                    f"printf '%s' \"$TASKDEF_TEMPLATE\" > {TASKDEF_FILE}",
                    f"printf '%s' \"$APPSPEC_YAML\" > {APPSPEC_FILE}",
                ]
            },
        },
        "artifacts": {"files": [IMAGE_DETAIL_FILE, IMAGE_DEFINITIONS_FILE, TASKDEF_FILE, APPSPEC_FILE]},
    }


def terraform_literal(text: str) -> str:
    """Escape Terraform's template markers, so shell forms like ${VAR%%/*} reach CodeBuild as written."""
    return text.replace("${", "$${").replace("%{", "%%{")


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
