"""The optional load test: a CodeBuild project the test-traffic hook starts while green serves
only the test listener; the deployment moves on only if it passes (see hooks/load_test.py).

With CodeDeploy, the build's end (any final state, time-outs included) is sent by EventBridge to
the hook Lambda, which reports the verdict to CodeDeploy. With ECS-native blue/green the Lambda
polls the build itself, so no rule is made.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject,
    CodebuildProjectArtifacts,
    CodebuildProjectEnvironment,
    CodebuildProjectSource,
    CodebuildProjectVpcConfig,
)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from config.schema import BuildComputeType
from modules import codebuild, deploy_specs
from modules.logs import encrypted_log_group
from modules.security.policies import attach, codebuild_vpc_access

SCRIPT = Path(__file__).resolve().parent.parent / "hooks" / "load_test.py"
#: A load test only sends HTTP requests: any architecture does, x86_64 is the common one.
IMAGE = codebuild.BUILD_IMAGES["X86_64"]
#: Build time beyond the test's own duration: provisioning, VPC attachment, reporting.
OVERHEAD_MINUTES = 5
#: Heredoc delimiter the script is fed to python3 with; the script never contains it.
DELIMITER = "BLUEGREEN_LOAD_TEST"


def buildspec(script: str) -> dict[str, object]:
    """Run the script as it is, fed to python3 on stdin: no source to fetch, nothing to expire."""
    if DELIMITER in script:
        raise ValueError(f"the load test script must not contain its heredoc delimiter {DELIMITER}")
    return {
        "version": 0.2,
        "phases": {"build": {"commands": [f"python3 - <<'{DELIMITER}'\n{script}{DELIMITER}"]}},
    }


def build_timeout_minutes(duration_seconds: int) -> int:
    return math.ceil(duration_seconds / 60) + OVERHEAD_MINUTES


@dataclass(frozen=True)
class LoadTestSettings:
    """The ``deployment.load_test`` section: how long, how hard, and what green must keep to."""

    duration_seconds: int
    concurrency: int
    max_error_percent: float
    max_p99_ms: int
    compute_type: BuildComputeType


@dataclass(frozen=True)
class LoadTestProps:
    project_name: str
    role_arn: str
    #: The role's name: its VPC permissions are attached here, before the project, because
    #: CodeBuild checks them when a project with a VPC configuration is created.
    role_name: str
    partition: str
    region: str
    account_id: str
    test_url: str
    settings: LoadTestSettings
    vpc_id: str
    private_subnet_ids: Sequence[str]
    security_group_id: str
    kms_key_arn: str
    logs_kms_key_arn: str
    log_retention_days: int
    #: As DeploymentHooksProps.test_route.
    test_route: str | None = None


@dataclass(frozen=True)
class LoadTestOutputs:
    project_arn: str
    project_name: str
    log_group_arn: str


class LoadTest(Construct):
    def __init__(self, scope: Construct, id: str, props: LoadTestProps) -> None:
        super().__init__(scope, id)
        p = props
        self._name = p.project_name
        log_group = encrypted_log_group(
            self, "log_group", f"/aws/codebuild/{p.project_name}", p.log_retention_days, p.logs_kms_key_arn
        )
        variables = {
            "TEST_URL": p.test_url,
            "DURATION_SECONDS": str(p.settings.duration_seconds),
            "CONCURRENCY": str(p.settings.concurrency),
            "MAX_ERROR_PERCENT": str(p.settings.max_error_percent),
            "MAX_P99_MS": str(p.settings.max_p99_ms),
            **({"TEST_ROUTE": p.test_route} if p.test_route else {}),
        }
        environment_type, image = IMAGE
        network = attach(
            self,
            "vpc_access",
            p.role_name,
            codebuild_vpc_access(p.partition, p.region, p.account_id, p.private_subnet_ids),
        )
        project = CodebuildProject(
            self,
            "project",
            name=p.project_name,
            description="Bounded load test of green through the ALB test listener, started by the test-traffic hook",
            service_role=p.role_arn,
            encryption_key=p.kms_key_arn,
            build_timeout=build_timeout_minutes(p.settings.duration_seconds),
            # A build that cannot start in time fails, and so does the deployment waiting for it.
            queued_timeout=15,
            source=CodebuildProjectSource(
                type="NO_SOURCE",
                buildspec=deploy_specs.terraform_literal(deploy_specs.to_yaml(buildspec(SCRIPT.read_text()))),
            ),
            artifacts=CodebuildProjectArtifacts(type="NO_ARTIFACTS"),
            environment=CodebuildProjectEnvironment(
                compute_type=p.settings.compute_type,
                image=image,
                type=environment_type,
                image_pull_credentials_type="CODEBUILD",
                environment_variable=codebuild.plaintext_variables(variables),
            ),
            # Inside the VPC: its traffic leaves through the NAT addresses the test listener admits.
            vpc_config=CodebuildProjectVpcConfig(
                vpc_id=p.vpc_id, subnets=list(p.private_subnet_ids), security_group_ids=[p.security_group_id]
            ),
            logs_config=codebuild.cloudwatch_logs(log_group.name),
            depends_on=[network],
        )
        self.outputs = LoadTestOutputs(project_arn=project.arn, project_name=project.name, log_group_arn=log_group.arn)

    def report_to(self, function_arn: str, function_name: str) -> None:
        """CodeDeploy only: send the build's end to the hook Lambda, which reports the verdict.

        Added once the Lambda exists: the Lambda names this project, so it is created first.
        """
        rule = CloudwatchEventRule(
            self,
            "ended",
            name=f"{self._name}-ended",
            description="A load test build ended: the hook Lambda reports its verdict to CodeDeploy",
            event_pattern=json.dumps(
                {
                    "source": ["aws.codebuild"],
                    "detail-type": ["CodeBuild Build State Change"],
                    "detail": {
                        "project-name": [self.outputs.project_name],
                        # Every final state: succeeded, failed, stopped, timed out.
                        "build-status": [{"anything-but": ["IN_PROGRESS"]}],
                    },
                }
            ),
        )
        CloudwatchEventTarget(self, "report", rule=rule.name, arn=function_arn)
        LambdaPermission(
            self,
            "events_invoke_reporter",
            statement_id="LoadTestEnded",
            action="lambda:InvokeFunction",
            function_name=function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
