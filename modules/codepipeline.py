"""The delivery pipeline: source (CodeConnections) -> CodeBuild -> CodeDeploy blue/green on ECS.

Also owns what the pipeline needs around it: the KMS-encrypted artifact bucket, the build's
log group, the CodeDeploy application and deployment group, and the alarms that roll back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject,
    CodebuildProjectArtifacts,
    CodebuildProjectEnvironment,
    CodebuildProjectSource,
)
from cdktf_cdktf_provider_aws.codeconnections_connection import CodeconnectionsConnection
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import (
    CodedeployDeploymentGroup,
    CodedeployDeploymentGroupAlarmConfiguration,
    CodedeployDeploymentGroupAutoRollbackConfiguration,
    CodedeployDeploymentGroupBlueGreenDeploymentConfig,
    CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption,
    CodedeployDeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccess,
    CodedeployDeploymentGroupDeploymentStyle,
    CodedeployDeploymentGroupEcsService,
    CodedeployDeploymentGroupLoadBalancerInfo,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfo,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRoute,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroup,
    CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRoute,
)
from cdktf_cdktf_provider_aws.codepipeline import (
    Codepipeline,
    CodepipelineArtifactStore,
    CodepipelineArtifactStoreEncryptionKey,
    CodepipelineStage,
    CodepipelineStageAction,
    CodepipelineTrigger,
    CodepipelineTriggerGitConfiguration,
    CodepipelineTriggerGitConfigurationPush,
    CodepipelineTriggerGitConfigurationPushBranches,
)
from constructs import Construct

from modules import codebuild, deploy_specs
from modules.depends import after
from modules.logs import CloudwatchLogGroup, encrypted_log_group
from modules.s3 import SecureBucket, SecureBucketOutputs, SecureBucketProps
from modules.traffic import TrafficShifting, deployment_config_name

#: A failed deployment and an alarm during one both return traffic to blue.
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
SOURCE_ARTIFACT = "source"


def _deploy_action(provider: str, configuration: dict[str, str]) -> CodepipelineStageAction:
    """The pipeline's deploy action; it reads the build's output artifact."""
    return CodepipelineStageAction(
        name="BlueGreenDeploy",
        category="Deploy",
        owner="AWS",
        provider=provider,
        version="1",
        input_artifacts=[BUILD_ARTIFACT],
        configuration=configuration,
    )


BUILD_ARTIFACT = "build"


@dataclass(frozen=True)
class CodePipelineProps:
    name_prefix: str
    pipeline_name: str
    artifact_bucket_name: str
    artifact_retention_days: int
    #: (bucket, prefix) receiving the artifact bucket's S3 server access logs.
    artifact_access_log_target: tuple[SecureBucketOutputs, str]
    artifacts_kms_key_arn: str
    logs_kms_key_arn: str
    # source
    source_provider: str
    repository: str
    branch: str
    #: An existing CodeConnections connection; None creates one (pending until approved once).
    existing_connection_arn: str | None
    connection_name: str
    # build
    build_project_name: str
    build_log_group_name: str
    build_log_retention_days: int
    build_compute_type: str
    build_timeout_minutes: int
    cpu_architecture: str
    app_path: str
    ecr_repository_url: str
    task: deploy_specs.TaskSpec
    #: The service's (provider, weight, base) capacity strategy, repeated in the appspec.
    capacity: tuple[tuple[str, int, int], ...]
    #: The service's subnets and security group, repeated in the appspec.
    task_network: deploy_specs.TaskNetwork
    codebuild_role_arn: str
    codepipeline_role_arn: str
    # deploy
    #: "codedeploy": CodeDeployToECS through a CodeDeploy deployment group; "ecs": the ECS deploy
    #: action, ECS's own blue/green (no CodeDeploy resources are created).
    controller: str
    codedeploy_app_name: str
    deployment_group_name: str
    codedeploy_role_arn: str
    traffic: TrafficShifting
    #: Lambda run on AfterAllowTestTraffic (named in the appspec); None runs no hook.
    test_hook_function_arn: str | None
    #: Lambda run on BeforeInstall: points the rollback alarms at green.
    release_alarms_function_arn: str
    #: None: shift as soon as green passes its tests; N: wait up to N minutes for an operator.
    approval_timeout_minutes: int | None
    termination_wait_minutes: int
    auto_rollback: bool
    ecs_cluster_name: str
    ecs_service_name: str
    prod_listener_arn: str
    test_listener_arn: str
    blue_target_group_name: str
    green_target_group_name: str
    #: The alarms that stop and roll back a deployment (modules/alarms.py), by reference.
    rollback_alarm_names: Sequence[str]
    #: The approval stage notifies this topic.
    notification_topic_arn: str
    #: A manual approval stage before the deploy stage (notifies the topic).
    approval_stage: bool
    #: The CodeBuild project that runs this release's migration, as its own stage before Deploy.
    migrate_project_name: str


@dataclass(frozen=True)
class CodePipelineOutputs:
    pipeline_arn: str
    pipeline_name: str
    artifact_bucket_arn: str
    artifact_bucket_name: str
    connection_arn: str
    build_project_arn: str
    build_project_name: str
    build_log_group_arn: str
    #: The CodeDeploy fields are None with the ECS controller.
    codedeploy_app_arn: str | None
    codedeploy_app_name: str | None
    deployment_group_arn: str | None
    deployment_group_name: str | None
    deployment_config_name: str | None


class CodePipeline(Construct):
    def __init__(self, scope: Construct, id: str, props: CodePipelineProps) -> None:
        super().__init__(scope, id)
        p = props
        artifacts = SecureBucket(
            self,
            "artifacts",
            SecureBucketProps(
                bucket_name=p.artifact_bucket_name,
                expiration_days=p.artifact_retention_days,
                kms_key_arn=p.artifacts_kms_key_arn,
                server_access_log_target=p.artifact_access_log_target,
            ),
        ).outputs

        connection_arn = (
            p.existing_connection_arn
            or CodeconnectionsConnection(
                self, "connection", name=p.connection_name, provider_type=p.source_provider
            ).arn
        )

        build_log_group = encrypted_log_group(
            self, "build_log_group", p.build_log_group_name, p.build_log_retention_days, p.logs_kms_key_arn
        )
        build = self._build_project(p, build_log_group)
        app, group = None, None
        if p.controller == "codedeploy":
            app = CodedeployApp(self, "codedeploy_app", name=p.codedeploy_app_name, compute_platform="ECS")
            group = self._deployment_group(p, app)
            deploy = self._codedeploy_action(app, group)
        else:
            deploy = self._ecs_action(p)
        pipeline = self._pipeline(p, artifacts.bucket_name, connection_arn, build, deploy)
        self._pipeline_resource, self._group = pipeline, group

        self.outputs = CodePipelineOutputs(
            pipeline_arn=pipeline.arn,
            pipeline_name=pipeline.name,
            artifact_bucket_arn=artifacts.bucket_arn,
            artifact_bucket_name=artifacts.bucket_name,
            connection_arn=connection_arn,
            build_project_arn=build.arn,
            build_project_name=build.name,
            build_log_group_arn=build_log_group.arn,
            codedeploy_app_arn=app.arn if app else None,
            codedeploy_app_name=app.name if app else None,
            deployment_group_arn=group.arn if group else None,
            deployment_group_name=group.deployment_group_name if group else None,
            deployment_config_name=group.deployment_config_name if group else None,
        )

    def start_after(self, *, pipeline: TerraformResource, deployer: TerraformResource | None) -> None:
        """Wait for the roles' policies: a pipeline runs as soon as it is created, and CodeDeploy
        checks that its role can describe the ECS service when the deployment group is created."""
        after(self._pipeline_resource, pipeline)
        if self._group is not None and deployer is not None:
            after(self._group, deployer)

    def _build_project(self, p: CodePipelineProps, log_group: CloudwatchLogGroup) -> CodebuildProject:
        # The image builds the container, so it matches the task's CPU architecture.
        environment_type, image = codebuild.BUILD_IMAGES[p.cpu_architecture]
        variables = {
            "REPOSITORY_URI": p.ecr_repository_url,
            "TASKDEF_TEMPLATE": deploy_specs.taskdef_template(p.task),
            "APPSPEC_YAML": deploy_specs.to_yaml(
                deploy_specs.appspec(
                    p.task.container.name,
                    p.task.container.port,
                    p.test_hook_function_arn,
                    p.capacity,
                    p.task_network,
                    before_install=p.release_alarms_function_arn,
                )
            ),
        }
        return CodebuildProject(
            self,
            "build",
            name=p.build_project_name,
            description="Builds the service image, pushes it to ECR, emits taskdef.json and appspec.yaml",
            service_role=p.codebuild_role_arn,
            encryption_key=p.artifacts_kms_key_arn,
            build_timeout=p.build_timeout_minutes,
            queued_timeout=60,
            source=CodebuildProjectSource(
                type="CODEPIPELINE",
                buildspec=deploy_specs.terraform_literal(
                    deploy_specs.to_yaml(deploy_specs.buildspec(p.app_path, p.task.container.name))
                ),
            ),
            artifacts=CodebuildProjectArtifacts(type="CODEPIPELINE"),
            environment=CodebuildProjectEnvironment(
                compute_type=p.build_compute_type,
                image=image,
                type=environment_type,
                image_pull_credentials_type="CODEBUILD",
                # Building a container image needs the Docker daemon, which needs privileged mode.
                privileged_mode=True,
                environment_variable=codebuild.plaintext_variables(variables),
            ),
            logs_config=codebuild.cloudwatch_logs(log_group.name),
        )

    def _deployment_group(self, p: CodePipelineProps, app: CodedeployApp) -> CodedeployDeploymentGroup:
        return CodedeployDeploymentGroup(
            self,
            "deployment_group",
            app_name=app.name,
            deployment_group_name=p.deployment_group_name,
            service_role_arn=p.codedeploy_role_arn,
            deployment_config_name=deployment_config_name(self, p.name_prefix, p.traffic),
            deployment_style=CodedeployDeploymentGroupDeploymentStyle(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            blue_green_deployment_config=CodedeployDeploymentGroupBlueGreenDeploymentConfig(
                deployment_ready_option=(
                    CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption(
                        action_on_timeout="CONTINUE_DEPLOYMENT"
                    )
                    if p.approval_timeout_minutes is None
                    else CodedeployDeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOption(
                        action_on_timeout="STOP_DEPLOYMENT", wait_time_in_minutes=p.approval_timeout_minutes
                    )
                ),
                terminate_blue_instances_on_deployment_success=CodedeployDeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccess(
                    action="TERMINATE", termination_wait_time_in_minutes=p.termination_wait_minutes
                ),
            ),
            ecs_service=CodedeployDeploymentGroupEcsService(
                cluster_name=p.ecs_cluster_name, service_name=p.ecs_service_name
            ),
            load_balancer_info=CodedeployDeploymentGroupLoadBalancerInfo(
                target_group_pair_info=CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfo(
                    prod_traffic_route=CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRoute(
                        listener_arns=[p.prod_listener_arn]
                    ),
                    test_traffic_route=CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRoute(
                        listener_arns=[p.test_listener_arn]
                    ),
                    target_group=[
                        CodedeployDeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroup(name=name)
                        for name in (p.blue_target_group_name, p.green_target_group_name)
                    ],
                )
            ),
            auto_rollback_configuration=CodedeployDeploymentGroupAutoRollbackConfiguration(
                enabled=p.auto_rollback, events=ROLLBACK_EVENTS if p.auto_rollback else []
            ),
            alarm_configuration=CodedeployDeploymentGroupAlarmConfiguration(
                enabled=True, alarms=list(p.rollback_alarm_names)
            ),
        )

    @staticmethod
    def _approval_stage(p: CodePipelineProps) -> CodepipelineStage:
        return CodepipelineStage(
            name="Approve",
            action=[
                CodepipelineStageAction(
                    name="ApproveRelease",
                    category="Approval",
                    owner="AWS",
                    provider="Manual",
                    version="1",
                    configuration={
                        "NotificationArn": p.notification_topic_arn,
                        "CustomData": f"Approve to deploy this build of {p.repository}@{p.branch} (blue/green).",
                    },
                )
            ],
        )

    @staticmethod
    def _codedeploy_action(app: CodedeployApp, group: CodedeployDeploymentGroup) -> CodepipelineStageAction:
        return _deploy_action(
            "CodeDeployToECS",
            {
                "ApplicationName": app.name,
                "DeploymentGroupName": group.deployment_group_name,
                "TaskDefinitionTemplateArtifact": BUILD_ARTIFACT,
                "TaskDefinitionTemplatePath": deploy_specs.TASKDEF_FILE,
                "AppSpecTemplateArtifact": BUILD_ARTIFACT,
                "AppSpecTemplatePath": deploy_specs.APPSPEC_FILE,
                "Image1ArtifactName": BUILD_ARTIFACT,
                "Image1ContainerName": "IMAGE1_NAME",
            },
        )

    @staticmethod
    def _ecs_action(p: CodePipelineProps) -> CodepipelineStageAction:
        """ECS's deploy action; the service's blue/green deployment configuration does the rest."""
        return _deploy_action(
            "ECS",
            {
                "ClusterName": p.ecs_cluster_name,
                "ServiceName": p.ecs_service_name,
                "FileName": deploy_specs.IMAGE_DEFINITIONS_FILE,
                "DeploymentTimeout": "60",
            },
        )

    def _pipeline(
        self,
        p: CodePipelineProps,
        bucket_name: str,
        connection_arn: str,
        build: CodebuildProject,
        deploy: CodepipelineStageAction,
    ) -> Codepipeline:
        source = CodepipelineStageAction(
            name="Source",
            category="Source",
            owner="AWS",
            provider="CodeStarSourceConnection",
            version="1",
            output_artifacts=[SOURCE_ARTIFACT],
            configuration={
                "ConnectionArn": connection_arn,
                "FullRepositoryId": p.repository,
                "BranchName": p.branch,
                "OutputArtifactFormat": "CODE_ZIP",
                "DetectChanges": "true",
            },
        )
        build_action = CodepipelineStageAction(
            name="Build",
            category="Build",
            owner="AWS",
            provider="CodeBuild",
            version="1",
            input_artifacts=[SOURCE_ARTIFACT],
            output_artifacts=[BUILD_ARTIFACT],
            configuration={"ProjectName": build.name},
        )
        return Codepipeline(
            self,
            "pipeline",
            name=p.pipeline_name,
            pipeline_type="V2",
            execution_mode="QUEUED",
            role_arn=p.codepipeline_role_arn,
            artifact_store=[
                CodepipelineArtifactStore(
                    location=bucket_name,
                    type="S3",
                    encryption_key=CodepipelineArtifactStoreEncryptionKey(id=p.artifacts_kms_key_arn, type="KMS"),
                )
            ],
            stage=[
                CodepipelineStage(name="Source", action=[source]),
                CodepipelineStage(name="Build", action=[build_action]),
                *([self._approval_stage(p)] if p.approval_stage else []),
                # After the approval, before green exists: the schema green needs, migrated by its owner.
                CodepipelineStage(
                    name="Migrate",
                    action=[
                        CodepipelineStageAction(
                            name="MigrateDatabase",
                            category="Build",
                            owner="AWS",
                            provider="CodeBuild",
                            version="1",
                            input_artifacts=[BUILD_ARTIFACT],
                            configuration={"ProjectName": p.migrate_project_name},
                        )
                    ],
                ),
                CodepipelineStage(name="Deploy", action=[deploy]),
            ],
            trigger=[
                CodepipelineTrigger(
                    provider_type="CodeStarSourceConnection",
                    git_configuration=CodepipelineTriggerGitConfiguration(
                        source_action_name="Source",
                        push=[
                            CodepipelineTriggerGitConfigurationPush(
                                branches=CodepipelineTriggerGitConfigurationPushBranches(includes=[p.branch])
                            )
                        ],
                    ),
                )
            ],
        )
