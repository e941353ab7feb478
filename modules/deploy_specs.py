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
#: The build action's output artifact: the deploy, migrate and release steps read these files from it.
BUILD_ARTIFACT = "build"
IMAGE_DETAIL_FILE = "imageDetail.json"
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
    #: The image's command, replaced (e.g. the one-off migration); empty keeps the image's own.
    command: tuple[str, ...] = ()
    #: Whether the container serves on ``port`` (a one-off task does not).
    listens: bool = True
    #: The container health check's command (exec form); empty: none.
    health_check: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    family: str
    cpu: int
    memory: int
    cpu_architecture: str
    execution_role_arn: str
    #: None: the task calls no AWS API (the one-off migration signs in with the master password).
    task_role_arn: str | None
    container: ContainerSpec
    tags: dict[str, str] = field(default_factory=dict)


#: How often ECS runs a container's health check.
HEALTH_CHECK_INTERVAL_SECONDS = 10


def container_definition(spec: ContainerSpec, image: str) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": spec.name,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": spec.port, "hostPort": spec.port, "protocol": "tcp", "name": "http"}]
        if spec.listens
        else [],
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
    if spec.command:
        definition["command"] = list(spec.command)
    if spec.health_check:
        # Within ECS's bounds: interval 5-300 s, timeout 2-120 s, retries 1-10, start period 0-300 s.
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
        definition["healthCheck"] = {
            "command": ["CMD", *spec.health_check],
            "interval": HEALTH_CHECK_INTERVAL_SECONDS,
            "timeout": 3,
            "retries": 3,
            "startPeriod": 20,
        }
    return definition


def container_definitions_json(spec: ContainerSpec, image: str) -> str:
    return json.dumps([container_definition(spec, image)], indent=2)


def taskdef_template(spec: TaskSpec) -> str:
    """The ``taskdef.json`` a build emits: the live task definition with the image left open."""
    document: dict[str, Any] = {
        "family": spec.family,
        "executionRoleArn": spec.execution_role_arn,
        **({"taskRoleArn": spec.task_role_arn} if spec.task_role_arn else {}),
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
    before_install: str | None = None,
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
    hooks = [
        *([{"BeforeInstall": before_install}] if before_install else []),
        *([{"AfterAllowTestTraffic": after_allow_test_traffic}] if after_allow_test_traffic else []),
    ]
    if hooks:
        document["Hooks"] = hooks
    return document


def buildspec(app_path: str) -> dict[str, Any]:
    """Build the image, push it under an immutable tag, and emit the files the deploy needs.

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
                    f"printf '%s' \"$TASKDEF_TEMPLATE\" > {TASKDEF_FILE}",
                    f"printf '%s' \"$APPSPEC_YAML\" > {APPSPEC_FILE}",
                ]
            },
        },
        "artifacts": {"files": [IMAGE_DETAIL_FILE, TASKDEF_FILE, APPSPEC_FILE]},
    }


def terraform_literal(text: str) -> str:
    """Escape Terraform's template markers, so shell forms like ${VAR%%/*} reach CodeBuild as written."""
    return text.replace("${", "$${").replace("%{", "%%{")


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def migrate_buildspec() -> dict[str, Any]:
    """Register this release's migration task (its image from the build) and run it to the end.

    Reads MIGRATE_TASKDEF (the task with <IMAGE1_NAME>), CLUSTER and NETWORK (awsvpc shorthand)
    from the project's environment, and imageDetail.json from the build's output artifact. The
    step fails, and so the release stops before green exists, unless the task exits 0.
    """
    return {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "build": {
                "commands": [
                    f"IMAGE=$(jq -r .ImageURI {IMAGE_DETAIL_FILE})",
                    'printf \'%s\' "$MIGRATE_TASKDEF" | jq --arg image "$IMAGE" '
                    "'.containerDefinitions[0].image = $image' > migrate-taskdef.json",
                    "REVISION=$(aws ecs register-task-definition --cli-input-json file://migrate-taskdef.json"
                    " --query taskDefinition.taskDefinitionArn --output text)",
                    'TASK=$(aws ecs run-task --cluster "$CLUSTER" --task-definition "$REVISION"'
                    " --capacity-provider-strategy capacityProvider=FARGATE,weight=1"
                    ' --network-configuration "$NETWORK" --started-by bluegreen-migrate'
                    " --query 'tasks[0].taskArn' --output text)",
                    'echo "migration task $TASK ($REVISION)"',
                    'aws ecs wait tasks-stopped --cluster "$CLUSTER" --tasks "$TASK"',
                    'CODE=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$TASK"'
                    " --query 'tasks[0].containers[0].exitCode' --output text)",
                    'echo "migration exited with $CODE"',
                    'test "$CODE" = 0',
                ]
            }
        },
    }


#: How often the release step asks ECS how its deployment is going.
RELEASE_POLL_SECONDS = 15
#: Where a service deployment ends: only SUCCESSFUL is a release.
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html
SERVICE_DEPLOYMENT_ENDS = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


def release_buildspec(wait_seconds: int) -> dict[str, Any]:
    """Register this release's task definition, roll the service to it, and follow ECS to the end.

    CodePipeline's ECS action would copy the revision the service runs and swap its image, so a
    change Terraform made to the task definition (environment, health check, CPU, memory) would
    never reach the service. This step registers the build's ``taskdef.json`` instead, the
    stack's own definition, with the built image filled in.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECS.html

    Reads CLUSTER and SERVICE from the project's environment, imageDetail.json and taskdef.json
    from the build's output artifact. It then follows the service deployment ECS records for the
    update (found by the deployment's id, as the Terraform provider's own wait does:
    hashicorp/terraform-provider-aws#43434) until it ends, for at most ``wait_seconds``, and
    fails unless it ended SUCCESSFUL: a release ECS rolled back (circuit breaker, alarms, a failed
    hook) or one an operator stopped ends otherwise. ``services-stable`` is not enough: it can
    hold before the circuit breaker has judged the new tasks, and it says nothing of a rollback.
    """
    service = '--cluster "$CLUSTER" --service "$SERVICE"'
    ends = "|".join(SERVICE_DEPLOYMENT_ENDS)
    return {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "build": {
                "commands": [
                    f"DEADLINE=$((SECONDS + {wait_seconds}))",
                    f"IMAGE=$(jq -r .ImageURI {IMAGE_DETAIL_FILE})",
                    f"jq --arg image \"$IMAGE\" '.containerDefinitions[0].image = $image' {TASKDEF_FILE}"
                    " > release-taskdef.json",
                    "REVISION=$(aws ecs register-task-definition --cli-input-json file://release-taskdef.json"
                    " --query taskDefinition.taskDefinitionArn --output text)",
                    # A margin for the clock: ECS stamps the record, not this host.
                    "STARTED=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)",
                    f'DEPLOYMENT=$(aws ecs update-service {service} --task-definition "$REVISION"'
                    " --query \"service.deployments[?status=='PRIMARY'] | [0].id\" --output text)",
                    'echo "releasing $REVISION as $DEPLOYMENT"',
                    "ARN=None",
                    'while [ "$ARN" = None ] && [ "$SECONDS" -lt "$DEADLINE" ]; do'
                    f' ARN=$(aws ecs list-service-deployments {service} --created-at "after=$STARTED"'
                    " --query \"serviceDeployments[?ends_with(targetServiceRevisionArn, '/${DEPLOYMENT#ecs-svc/}')]"
                    ' | [0].serviceDeploymentArn" --output text);'
                    f' if [ "$ARN" = None ]; then sleep {RELEASE_POLL_SECONDS}; fi; done',
                    'test "$ARN" != None || { echo "ECS recorded no service deployment for $DEPLOYMENT"; exit 1; }',
                    "STATUS=PENDING",
                    'while [ "$SECONDS" -lt "$DEADLINE" ]; do'
                    ' STATUS=$(aws ecs describe-service-deployments --service-deployment-arns "$ARN"'
                    " --query 'serviceDeployments[0].status' --output text);"
                    f' case "$STATUS" in {ends}) break;; esac; sleep {RELEASE_POLL_SECONDS}; done',
                    'echo "$ARN: $STATUS"',
                    'test "$STATUS" = SUCCESSFUL || { echo "the release did not succeed: $STATUS"; exit 1; }',
                ]
            }
        },
    }


def awsvpc_shorthand(network: TaskNetwork) -> str:
    """The network configuration as `aws ecs run-task --network-configuration` reads it."""
    subnets = ",".join(network.subnet_ids)
    groups = ",".join(network.security_group_ids)
    return f"awsvpcConfiguration={{subnets=[{subnets}],securityGroups=[{groups}],assignPublicIp=DISABLED}}"
