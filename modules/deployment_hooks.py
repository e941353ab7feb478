"""The Lambda CodeDeploy runs on AfterAllowTestTraffic: it tests green before production moves.

Its code (the hooks/ package: test_traffic.py and the load test it can start) is packaged by
cdktf's asset support at synth time.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from modules import iam
from modules.logs import encrypted_log_group
from modules.security.policies import attach, lambda_tracing, lambda_vpc_access

HOOKS_PACKAGE = Path(__file__).resolve().parent.parent / "hooks"
#: The package's files the Lambda needs, and nothing else (no caches, no tests).
HOOK_FILES = ("__init__.py", "test_traffic.py", "load_test.py")
HANDLER = "hooks.test_traffic.handler"
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


@dataclass(frozen=True)
class DeploymentHooksProps:
    function_name: str
    role_arn: str
    #: The role's name: its network and tracing permissions are attached here, before the
    #: Lambda, because Lambda checks them when the function is created.
    role_name: str
    test_url: str
    private_subnet_ids: Sequence[str]
    security_group_id: str
    kms_key_arn: str
    logs_kms_key_arn: str
    log_retention_days: int
    #: CodeBuild project the hook starts after its smoke checks pass; None: no load test.
    load_test_project_name: str | None = None
    #: CodeDeploy waits at most an hour for a hook; the checks take seconds.
    timeout_seconds: int = 60


@dataclass(frozen=True)
class DeploymentHooksOutputs:
    function_arn: str
    function_name: str
    log_group_arn: str


class DeploymentHooks(Construct):
    def __init__(self, scope: Construct, id: str, props: DeploymentHooksProps) -> None:
        super().__init__(scope, id)
        p = props
        code = TerraformAsset(self, "code", path=str(staged_source()), type=AssetType.ARCHIVE)
        log_group = encrypted_log_group(
            self, "log_group", f"/aws/lambda/{p.function_name}", p.log_retention_days, p.logs_kms_key_arn
        )
        # CreateFunction refuses a VPC function whose role cannot manage network interfaces, and
        # active tracing whose role cannot send traces; both must exist first.
        prerequisites = attach(self, "vpc_and_tracing", p.role_name, [*lambda_vpc_access(), *lambda_tracing()])
        function = LambdaFunction(
            self,
            "test_traffic",
            function_name=p.function_name,
            description="Tests green through the ALB test listener before production traffic shifts",
            role=p.role_arn,
            runtime=RUNTIME,
            handler=HANDLER,
            filename=code.path,
            source_code_hash=code.asset_hash,
            timeout=p.timeout_seconds,
            memory_size=256,
            # No reserved concurrency: a new account's concurrency quota can be too small to
            # reserve any (AWS keeps a minimum unreserved), and CreateFunction then fails.
            environment=LambdaFunctionEnvironment(
                variables={
                    "TEST_URL": p.test_url,
                    "CHECK_TIMEOUT_SECONDS": "5",
                    **({"LOAD_TEST_PROJECT": p.load_test_project_name} if p.load_test_project_name else {}),
                }
            ),
            kms_key_arn=p.kms_key_arn,
            vpc_config=LambdaFunctionVpcConfig(
                subnet_ids=list(p.private_subnet_ids), security_group_ids=[p.security_group_id]
            ),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
            depends_on=[log_group, prerequisites],
        )
        # Lambda decrypts the (CMK-encrypted) environment with the function's own role at each
        # cold start; the context names the function, so the grant reaches only its variables.
        # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html
        attach(
            self,
            "decrypt_environment",
            p.role_name,
            [
                iam.statement(
                    "DecryptOwnEnvironment",
                    ["kms:Decrypt"],
                    [p.kms_key_arn],
                    conditions={"StringEquals": {"kms:EncryptionContext:LambdaFunctionName": function.function_name}},
                )
            ],
        )
        self.outputs = DeploymentHooksOutputs(
            function_arn=function.arn, function_name=function.function_name, log_group_arn=log_group.arn
        )
