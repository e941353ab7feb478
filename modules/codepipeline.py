"""The delivery pipeline: source (CodeConnections) -> build -> migrate -> blue/green deploy.

Also owns what the pipeline needs around it: the KMS-encrypted artifact bucket and the build's
log group. The deploy action, and what it needs (CodeDeploy's application and deployment group),
come from the service's deployer (modules/deployers.py), built in this construct's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject,
    CodebuildProjectArtifacts,
    CodebuildProjectEnvironment,
    CodebuildProjectSource,
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
    CodepipelineTriggerGitConfigurationPushFilePaths,
)
from constructs import Construct

from modules import codebuild, deploy_specs
from modules.depends import after
from modules.deploy_specs import BUILD_ARTIFACT
from modules.deployers import CodeDeployRefs, DeployTarget, ReleaseDeployer
from modules.logs import CloudwatchLogGroup, encrypted_log_group
from modules.s3 import SecureBucket, SecureBucketOutputs, SecureBucketProps

SOURCE_ARTIFACT = "source"


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
    #: Only pushes changing a file matching one of these (glob patterns) start the pipeline; () any push.
    trigger_paths: tuple[str, ...]
    #: The environment's CodeConnections connection (modules/platform.py source_connection).
    connection_arn: str
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
    #: Builds the deploy action (and CodeDeploy's resources) for the service it deploys.
    deployer: ReleaseDeployer
    deploy_target: DeployTarget
    #: Lambda run on AfterAllowTestTraffic (named in the appspec); None runs no hook.
    test_hook_function_arn: str | None
    #: Lambda run on BeforeInstall: points the rollback alarms at green (None: a rolling release).
    release_alarms_function_arn: str | None
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
    #: CodeDeploy's application and deployment group; None under ECS's own blue/green.
    codedeploy: CodeDeployRefs | None


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

        connection_arn = p.connection_arn

        build_log_group = encrypted_log_group(
            self, "build_log_group", p.build_log_group_name, p.build_log_retention_days, p.logs_kms_key_arn
        )
        build = self._build_project(p, build_log_group)
        deploy = p.deployer.deploy_stage(self, p.deploy_target)
        pipeline = self._pipeline(p, artifacts.bucket_name, connection_arn, build, deploy.action)
        self._pipeline_resource, self._checks_role = pipeline, deploy.checks_its_role

        self.outputs = CodePipelineOutputs(
            pipeline_arn=pipeline.arn,
            pipeline_name=pipeline.name,
            artifact_bucket_arn=artifacts.bucket_arn,
            artifact_bucket_name=artifacts.bucket_name,
            connection_arn=connection_arn,
            build_project_arn=build.arn,
            build_project_name=build.name,
            build_log_group_arn=build_log_group.arn,
            codedeploy=deploy.codedeploy,
        )

    def start_after(self, *, pipeline: TerraformResource, deployer: TerraformResource | None) -> None:
        """Wait for the roles' policies: a pipeline runs as soon as it is created, and CodeDeploy
        checks that its role can describe the ECS service when the deployment group is created."""
        after(self._pipeline_resource, pipeline)
        if self._checks_role is not None and deployer is not None:
            after(self._checks_role, deployer)

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
                buildspec=deploy_specs.terraform_literal(deploy_specs.to_yaml(deploy_specs.buildspec(p.app_path))),
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

    def _pipeline(
        self,
        p: CodePipelineProps,
        bucket_name: str,
        connection_arn: str,
        build: CodebuildProject,
        deploy: CodepipelineStageAction,
    ) -> Codepipeline:
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
                CodepipelineStage(name="Source", action=[self._source(p, connection_arn)]),
                CodepipelineStage(
                    name="Build",
                    action=[codebuild.build_action("Build", build.name, SOURCE_ARTIFACT, output=BUILD_ARTIFACT)],
                ),
                *([self._approval_stage(p)] if p.approval_stage else []),
                # After the approval, before green exists: the schema green needs, migrated by its owner.
                CodepipelineStage(
                    name="Migrate",
                    action=[codebuild.build_action("MigrateDatabase", p.migrate_project_name, BUILD_ARTIFACT)],
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
                                branches=CodepipelineTriggerGitConfigurationPushBranches(includes=[p.branch]),
                                # A push trigger may filter on branches and file paths together; the
                                # pipeline is V2 already (triggers need it), so adding this updates it
                                # in place. https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-filter.html
                                file_paths=CodepipelineTriggerGitConfigurationPushFilePaths(
                                    includes=list(p.trigger_paths)
                                )
                                if p.trigger_paths
                                else None,
                            )
                        ],
                    ),
                )
            ],
        )

    @staticmethod
    def _source(p: CodePipelineProps, connection_arn: str) -> CodepipelineStageAction:
        return CodepipelineStageAction(
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
