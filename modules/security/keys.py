"""Customer-managed KMS keys, rotated yearly, each with an explicit key policy naming its users."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from modules import iam

#: What a principal that encrypts and decrypts with a key needs.
KEY_USER_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")


@dataclass(frozen=True)
class EncryptionKeysProps:
    name_prefix: str
    account_id: str
    partition: str
    region: str
    #: Roles that read and write pipeline artifacts (the artifact bucket, CodeBuild output).
    pipeline_role_arns: tuple[str, ...]
    #: Role that reads the database secret at task start (ECS task execution role).
    secret_reader_role_arn: str
    deletion_window_days: int = 30
    #: Roles AWS services assume to create encrypted resources with the artifacts key (grants only).
    artifacts_grant_role_arns: tuple[str, ...] = ()
    #: Terraform refuses to destroy the keys (losing one loses the data it encrypts).
    prevent_destroy: bool = False


@dataclass(frozen=True)
class EncryptionKeysOutputs:
    #: CloudWatch Logs: flow logs, container logs, build logs, database logs.
    logs_key_arn: str
    #: Aurora storage, Performance Insights and the master user secret.
    data_key_arn: str
    #: Pipeline artifacts, CodeBuild and the ECR repository.
    artifacts_key_arn: str
    #: The notifications topic (pipeline and deployment events, alarms).
    notifications_key_arn: str


class EncryptionKeys(Construct):
    def __init__(self, scope: Construct, id: str, props: EncryptionKeysProps) -> None:
        super().__init__(scope, id)
        p = props
        admin = iam.statement("AccountAdministersKey", ["kms:*"], ["*"])
        admin["Principal"] = {"AWS": f"arn:{p.partition}:iam::{p.account_id}:root"}

        logs_user = iam.statement(
            "CloudWatchLogsUseKey",
            KEY_USER_ACTIONS,
            ["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{p.partition}:logs:{p.region}:{p.account_id}:log-group:*"  # noqa: E501
                }
            },
        )
        logs_user["Principal"] = {"Service": f"logs.{p.region}.amazonaws.com"}

        secret_reader = iam.statement(
            "TaskExecutionReadsDatabaseSecret",
            ["kms:Decrypt", "kms:DescribeKey"],
            ["*"],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{p.region}.amazonaws.com"}},
        )
        secret_reader["Principal"] = {"AWS": [p.secret_reader_role_arn]}

        pipeline_users = iam.statement("PipelineRolesUseKey", KEY_USER_ACTIONS, ["*"])
        pipeline_users["Principal"] = {"AWS": list(p.pipeline_role_arns)}
        artifacts_statements = [admin, pipeline_users]
        if p.artifacts_grant_role_arns:
            # ECR creates a replica repository with this key through a grant, for itself only.
            grants = iam.statement(
                "ServiceRolesGrantKeyToAwsResources",
                ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                ["*"],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
            grants["Principal"] = {"AWS": list(p.artifacts_grant_role_arns)}
            artifacts_statements.append(grants)

        # SNS uses the key on behalf of whoever publishes to the encrypted topic; the topic policy
        # admits only this account's rules and alarms. aws:SourceAccount is not documented for the
        # KMS call SNS makes, kms:ViaService is.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        publishers = iam.statement(
            "EventServicesPublishToTopic",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            ["*"],
            conditions={"StringEquals": {"kms:ViaService": f"sns.{p.region}.amazonaws.com"}},
        )
        publishers["Principal"] = {"Service": ["codestar-notifications.amazonaws.com", "cloudwatch.amazonaws.com"]}

        self.outputs = EncryptionKeysOutputs(
            logs_key_arn=self._key("logs", "CloudWatch Logs", iam.document(admin, logs_user), p),
            data_key_arn=self._key("data", "Aurora and its master secret", iam.document(admin, secret_reader), p),
            notifications_key_arn=self._key(
                "notifications", "pipeline and deployment notifications", iam.document(admin, publishers), p
            ),
            artifacts_key_arn=self._key(
                "artifacts", "pipeline artifacts and images", iam.document(*artifacts_statements), p
            ),
        )

    def _key(self, purpose: str, what: str, policy: str, p: EncryptionKeysProps) -> str:
        key = KmsKey(
            self,
            f"{purpose}_key",
            description=f"{p.name_prefix}: {what}",
            enable_key_rotation=True,
            deletion_window_in_days=p.deletion_window_days,
            policy=policy,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if p.prevent_destroy else None,
        )
        KmsAlias(self, f"{purpose}_alias", name=f"alias/{p.name_prefix}/{purpose}", target_key_id=key.key_id)
        arn: str = key.arn
        return arn
