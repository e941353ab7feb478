"""The deployment's Lambda hooks, in the private subnets, packaged from hooks/ by cdktf's assets.

- the release-alarms hook (hooks/release_alarms.py), before green starts (CodeDeploy's BeforeInstall,
  ECS's PRE_SCALE_UP): points the rollback alarms at green;
- the test-traffic hook (hooks/test_traffic.py), once green serves the test listener (CodeDeploy's
  AfterAllowTestTraffic, ECS's POST_TEST_TRAFFIC_SHIFT): tests green, and can start the load test.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, TerraformAsset, TerraformStack
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from modules import iam
from modules.load_balancer import TargetGroupRef
from modules.logs import encrypted_log_group
from modules.security.policies import attach, lambda_tracing, lambda_vpc_access
from modules.security.roles import RoleOutputs

HOOKS_PACKAGE = Path(__file__).resolve().parent.parent / "hooks"
#: The package's files the Lambda needs, and nothing else (no caches, no tests).
HOOK_FILES = ("__init__.py", "test_traffic.py", "load_test.py", "release_alarms.py")
HANDLER = "hooks.test_traffic.handler"
RELEASE_ALARMS_HANDLER = "hooks.release_alarms.handler"
RUNTIME = "python3.12"


def staged_source() -> Path:
    """A folder holding only the handler, so caches beside it (__pycache__) never change the asset.

    cdktf hashes the folder's content; the folder is named by that content, so synthesis stays
    byte-identical and repeated runs reuse it.
    """
    contents = {name: (HOOKS_PACKAGE / name).read_bytes() for name in HOOK_FILES}
    digest = hashlib.sha256(b"".join(name.encode() + b"\0" + body for name, body in contents.items()))
    folder = Path(tempfile.gettempdir()) / f"bluegreen-hooks-{digest.hexdigest()[:16]}"
    package = folder / HOOKS_PACKAGE.name
    if not all((package / name).exists() for name in contents):
        package.mkdir(parents=True, exist_ok=True)
        for name, body in contents.items():
            (package / name).write_bytes(body)
    return folder


#: The id of the stack's one hook package (every hook Lambda's code).
HOOK_CODE_ID = "hook_code"


def hook_code(scope: Construct) -> TerraformAsset:
    """The stack's one archive of the hook package, shared by every hook Lambda of every service.

    cdktf zips each asset at synth by spawning a process (TerraformAsset's archiveSync): one asset
    per function cost ~0.2 s per hook, two hooks per service, most of a service's synth time.
    """
    stack = TerraformStack.of(scope)
    existing = stack.node.try_find_child(HOOK_CODE_ID)
    if isinstance(existing, TerraformAsset):
        return existing
    return TerraformAsset(stack, HOOK_CODE_ID, path=str(staged_source()), type=AssetType.ARCHIVE)


@dataclass(frozen=True)
class HookSite:
    """Where a hook Lambda runs and what it encrypts with (the same for every hook)."""

    private_subnet_ids: Sequence[str]
    security_group_id: str
    #: ``arn:<partition>:ec2:<region>:<account>``: the network interfaces' scope.
    ec2_arn_prefix: str
    #: Encrypts the functions' environments; each function's role may decrypt only its own.
    kms_key_arn: str
    logs_kms_key_arn: str
    log_retention_days: int


@dataclass(frozen=True)
class HookFunction:
    function_arn: str
    function_name: str
    log_group_arn: str


def hook_function(
    scope: Construct,
    id: str,
    *,
    name: str,
    handler: str,
    description: str,
    role: RoleOutputs,
    site: HookSite,
    environment: dict[str, str],
    timeout_seconds: int,
) -> HookFunction:
    """A hook Lambda in the VPC, with what AWS checks when it is created attached first."""
    code = hook_code(scope)
    log_group = encrypted_log_group(
        scope, "log_group", f"/aws/lambda/{name}", site.log_retention_days, site.logs_kms_key_arn
    )
    # CreateFunction refuses a VPC function whose role cannot manage network interfaces, and
    # active tracing whose role cannot send traces; both must exist first.
    prerequisites = attach(
        scope,
        "vpc_and_tracing",
        role.role_name,
        [
            *lambda_vpc_access(site.ec2_arn_prefix, site.private_subnet_ids, site.security_group_id),
            *lambda_tracing(),
        ],
    )
    function = LambdaFunction(
        scope,
        id,
        function_name=name,
        description=description,
        role=role.role_arn,
        runtime=RUNTIME,
        handler=handler,
        filename=code.path,
        source_code_hash=code.asset_hash,
        timeout=timeout_seconds,
        memory_size=256,
        # No reserved concurrency: a new account's concurrency quota can be too small to
        # reserve any (AWS keeps a minimum unreserved), and CreateFunction then fails.
        environment=LambdaFunctionEnvironment(variables=environment),
        kms_key_arn=site.kms_key_arn,
        vpc_config=LambdaFunctionVpcConfig(
            subnet_ids=list(site.private_subnet_ids), security_group_ids=[site.security_group_id]
        ),
        tracing_config=LambdaFunctionTracingConfig(mode="Active"),
        logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
        depends_on=[log_group, prerequisites],
    )
    # Lambda decrypts the (CMK-encrypted) environment with the function's own role at each
    # cold start; the context names the function, so the grant reaches only its variables.
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html
    attach(
        scope,
        "decrypt_environment",
        role.role_name,
        [
            iam.statement(
                "DecryptOwnEnvironment",
                ["kms:Decrypt"],
                [site.kms_key_arn],
                conditions={"StringEquals": {"kms:EncryptionContext:LambdaFunctionName": function.function_name}},
            )
        ],
    )
    return HookFunction(function_arn=function.arn, function_name=function.function_name, log_group_arn=log_group.arn)


@dataclass(frozen=True)
class DeploymentHooksProps:
    function_name: str
    role: RoleOutputs
    site: HookSite
    test_url: str
    #: The name green's certificate is checked for; None: the certificate's own name (from ACM).
    test_hostname: str | None
    #: The certificate the listeners serve (its name is the default test host name); None over HTTP.
    certificate_arn: str | None
    #: CodeBuild project the hook starts after its smoke checks pass; None: no load test.
    load_test_project_name: str | None = None
    #: The service's key, sent in TEST_ROUTE_HEADER where the test listener routes on it; None:
    #: the service is the listener's default route.
    test_route: str | None = None
    #: CodeDeploy waits at most an hour for a hook; the checks take seconds.
    timeout_seconds: int = 60


@dataclass(frozen=True)
class DeploymentHooksOutputs:
    function_arn: str
    function_name: str
    log_group_arn: str
    #: How CodeBuild names who started a build: the hook's role session (the load test checks it).
    initiator: str


class DeploymentHooks(Construct):
    """The test-traffic hook."""

    def __init__(self, scope: Construct, id: str, props: DeploymentHooksProps) -> None:
        super().__init__(scope, id)
        p = props
        initiator = f"{p.role.role_name}/{p.function_name}"
        environment = {
            "TEST_URL": p.test_url,
            "CHECK_TIMEOUT_SECONDS": "5",
            **({"TEST_ROUTE": p.test_route} if p.test_route else {}),
            **({"TEST_HOSTNAME": p.test_hostname} if p.test_hostname else {}),
            **({"TEST_CERTIFICATE_ARN": p.certificate_arn} if p.certificate_arn and not p.test_hostname else {}),
            **(
                {"LOAD_TEST_PROJECT": p.load_test_project_name, "LOAD_TEST_INITIATOR": initiator}
                if p.load_test_project_name
                else {}
            ),
        }
        function = hook_function(
            self,
            "test_traffic",
            name=p.function_name,
            handler=HANDLER,
            description="Tests green through the ALB test listener before production traffic shifts",
            role=p.role,
            site=p.site,
            environment=environment,
            timeout_seconds=p.timeout_seconds,
        )
        self.outputs = DeploymentHooksOutputs(
            function_arn=function.function_arn,
            function_name=function.function_name,
            log_group_arn=function.log_group_arn,
            initiator=initiator,
        )


@dataclass(frozen=True)
class ListenerForward:
    """CodeDeploy: production is the listener's default action."""

    listener_arn: str


@dataclass(frozen=True)
class RuleForward:
    """ECS-native blue/green: production is a listener rule ECS shifts."""

    rule_arn: str


@dataclass(frozen=True)
class ReleaseAlarmsHookProps:
    function_name: str
    role: RoleOutputs
    site: HookSite
    #: Where production is forwarded: green is the other target group.
    production: ListenerForward | RuleForward
    #: The two colours.
    colours: tuple[TargetGroupRef, TargetGroupRef]
    #: The rollback alarms (modules/alarms.py), which the hook reads back and puts on green.
    rollback_alarm_names: Sequence[str]
    rollback_alarm_arns: Sequence[str]
    #: CodeDeploy reports hooks through its API; ECS reads the return value.
    reports_to_codedeploy: bool


class ReleaseAlarmsHook(Construct):
    """Points the rollback alarms at green before each deployment starts it (modules/alarms.py)."""

    def __init__(self, scope: Construct, id: str, props: ReleaseAlarmsHookProps) -> None:
        super().__init__(scope, id)
        p = props
        production = (
            {"PRODUCTION_LISTENER_ARN": p.production.listener_arn}
            if isinstance(p.production, ListenerForward)
            else {"PRODUCTION_RULE_ARN": p.production.rule_arn}
        )
        function = hook_function(
            self,
            "release_alarms",
            name=p.function_name,
            handler=RELEASE_ALARMS_HANDLER,
            description="Points the rollback alarms at the colour a deployment is about to start",
            role=p.role,
            site=p.site,
            environment={
                **production,
                # JSON around references: ARNs and alarm names (config/naming.py) need no escaping.
                "TARGET_GROUPS": json.dumps({c.arn: c.arn_suffix for c in p.colours}, separators=(",", ":")),
                "ALARM_NAMES": json.dumps(list(p.rollback_alarm_names), separators=(",", ":")),
            },
            timeout_seconds=60,
        )
        attach(
            self,
            "permissions",
            p.role.role_name,
            [
                iam.statement(
                    "WriteHookLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{function.log_group_arn}:*"]
                ),
                iam.statement(
                    "FindProduction",
                    ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules"],
                    ["*"],
                ),
                iam.statement(
                    "PointAlarmsAtGreen",
                    ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
                    list(p.rollback_alarm_arns),
                ),
                *(
                    [iam.statement("ReportHookResult", ["codedeploy:PutLifecycleEventHookExecutionStatus"], ["*"])]
                    if p.reports_to_codedeploy
                    else []
                ),
            ],
        )
        self.outputs = function
