"""Customer-managed KMS keys, rotated yearly, whose policies separate administration from use.

Each key policy has one statement for the account's administrators (the account principal, so
IAM policies can let admins manage the key; the documented key-administrator actions, none that
encrypts, decrypts or creates a grant) and use statements that name exactly who uses the key:
roles by ARN, AWS services by their principal with the conditions AWS documents, and the
deploying principal (Terraform's, through the account principal) only through the AWS service it
creates a resource with (``kms:ViaService``), for the actions that service needs from it.
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from aws_rules.keys import ADMIN_ACTIONS
from modules import iam

#: What a principal that encrypts and decrypts with a key needs.
KEY_USER_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")

#: What the deploying principal creates with a key -> (the services its request reaches KMS
#: through, the KMS actions AWS requires of it). The service acts with the caller's permissions,
#: so the caller needs the key; it never needs the key directly.
CREATED_WITH_KEY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html
    "aurora_storage": (("rds",), ("kms:CreateGrant", "kms:DescribeKey")),
    "performance_insights": (("rds",), ("kms:CreateGrant", "kms:DescribeKey")),
    # RDS creates the secret in Secrets Manager for the caller, which encrypts it.
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions
    "rds_managed_secret": (
        ("rds", "secretsmanager"),
        ("kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"),
    ),
    # PutSecretValue encrypts, and Terraform reads the version back (GetSecretValue) on every refresh.
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    "secret": (("secretsmanager",), ("kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey")),
    # Replication re-encrypts the value under the replica Region's key.
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/create-manage-multi-region-secrets.html
    "secret_replica": (("secretsmanager",), ("kms:DescribeKey", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")),
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html
    "lambda_environment": (("lambda",), ("kms:CreateGrant", "kms:Encrypt", "kms:Decrypt")),
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
    "ecr_repository": (("ecr",), ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey")),
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault.html
    "backup_vault": (
        ("backup",),
        ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"),
    ),
}


@dataclass(frozen=True)
class LambdaEnvironment:
    """A function whose environment the artifacts key encrypts, and the role that decrypts it."""

    role_arn: str
    function_name: str
    #: Names its statement, e.g. "ReleaseAlarms".
    label: str


@dataclass(frozen=True)
class EncryptionKeysProps:
    """Who uses the keys of one Region (the DR Region's keys have fewer users)."""

    name_prefix: str
    account_id: str
    partition: str
    region: str
    #: The log groups of this Region (names): CloudWatch Logs may use the logs key for exactly these.
    log_group_names: tuple[str, ...] = ()
    #: What the deploying principal creates with the data and artifacts keys (CREATED_WITH_KEY).
    data_created: tuple[str, ...] = ()
    artifacts_created: tuple[str, ...] = ()
    #: Roles that read and write pipeline artifacts (the artifact bucket, CodeBuild output).
    pipeline_role_arns: tuple[str, ...] = ()
    #: Roles that read the database master secret, through Secrets Manager.
    secret_reader_role_arns: tuple[str, ...] = ()
    #: Hook functions whose roles decrypt their own environment.
    lambda_environments: tuple[LambdaEnvironment, ...] = ()
    #: Roles AWS services assume to create encrypted resources with the artifacts key (grants only).
    artifacts_grant_role_arns: tuple[str, ...] = ()
    #: AWS Backup's role, where a vault of this Region holds database backups.
    backup_role_arn: str | None = None
    #: The notifications topic is in this Region: alarms and notification rules publish to it,
    #: and so do these roles (the pipeline's approval action publishes as the pipeline's role).
    topic: bool = False
    topic_publisher_role_arns: tuple[str, ...] = ()
    deletion_window_days: int = 30
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


def _named(sid: str, principal: Mapping[str, object], actions: tuple[str, ...], **conditions: object) -> iam.Statement:
    statement = iam.statement(sid, actions, ["*"], conditions=dict(conditions) or None)
    statement["Principal"] = dict(principal)
    return statement


def _service_name(service: str) -> str:
    return {"rds": "Rds", "secretsmanager": "SecretsManager", "lambda": "Lambda", "ecr": "Ecr", "backup": "Backup"}[
        service
    ]


class EncryptionKeys(Construct):
    def __init__(self, scope: Construct, id: str, props: EncryptionKeysProps) -> None:
        super().__init__(scope, id)
        self._props = props
        root = {"AWS": f"arn:{props.partition}:iam::{props.account_id}:root"}
        # The administrators' statement (aws_rules/keys.py holds its actions and why); its
        # kms:PutKeyPolicy keeps KMS's policy-lockout safety check satisfied.
        admin = _named("AccountAdministersKey", root, ADMIN_ACTIONS)
        self.outputs = EncryptionKeysOutputs(
            logs_key_arn=self._key("logs", "CloudWatch Logs", iam.document(admin, *self._logs_users())),
            data_key_arn=self._key("data", "Aurora and its master secret", iam.document(admin, *self._data_users())),
            notifications_key_arn=self._key(
                "notifications",
                "pipeline and deployment notifications",
                iam.document(admin, *self._notifications_users()),
            ),
            artifacts_key_arn=self._key(
                "artifacts", "pipeline artifacts and images", iam.document(admin, *self._artifacts_users())
            ),
        )

    def _logs_users(self) -> list[iam.Statement]:
        p = self._props
        if not p.log_group_names:
            return []
        # Exactly this Region's log groups, named as CloudWatch Logs puts them in the context.
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        arns = [f"arn:{p.partition}:logs:{p.region}:{p.account_id}:log-group:{n}" for n in p.log_group_names]
        return [
            _named(
                "CloudWatchLogsUseKeyForTheProjectsLogGroups",
                {"Service": f"logs.{p.region}.amazonaws.com"},
                KEY_USER_ACTIONS,
                ArnEquals={"kms:EncryptionContext:aws:logs:arn": arns},
            )
        ]

    def _data_users(self) -> list[iam.Statement]:
        p = self._props
        data = self._deployer(p.data_created)
        if p.secret_reader_role_arns:
            data.append(
                _named(
                    "TaskExecutionReadsDatabaseSecret",
                    {"AWS": list(p.secret_reader_role_arns)},
                    ("kms:Decrypt", "kms:DescribeKey"),
                    StringEquals={"kms:ViaService": self._via("secretsmanager")},
                )
            )
        if p.backup_role_arn:
            data.extend(self._backup_users(p.backup_role_arn))
        return data

    def _backup_users(self, role_arn: str) -> list[iam.Statement]:
        # AWS Backup copies the database's snapshots with its role, through RDS, and keeps the
        # copies in the vault; AWSBackupServiceRolePolicyForBackup allows the same, by service.
        # https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html
        services = [self._via("backup"), self._via("rds")]
        return [
            _named(
                "BackupCopiesDatabaseBackups",
                {"AWS": [role_arn]},
                KEY_USER_ACTIONS,
                StringEquals={"kms:ViaService": services},
            ),
            _named(
                "BackupGrantsKeyToAwsResources",
                {"AWS": [role_arn]},
                ("kms:CreateGrant",),
                StringEquals={"kms:ViaService": services},
                Bool={"kms:GrantIsForAWSResource": "true"},
            ),
        ]

    def _artifacts_users(self) -> list[iam.Statement]:
        p = self._props
        artifacts = self._deployer(p.artifacts_created)
        if p.pipeline_role_arns:
            artifacts.append(_named("PipelineRolesUseKey", {"AWS": list(p.pipeline_role_arns)}, KEY_USER_ACTIONS))
        for function in p.lambda_environments:
            # Each hook's role decrypts its own function's environment only (the context names it).
            artifacts.append(
                _named(
                    f"{function.label}HookDecryptsItsEnvironment",
                    {"AWS": [function.role_arn]},
                    ("kms:Decrypt",),
                    StringEquals={"kms:EncryptionContext:LambdaFunctionName": function.function_name},
                )
            )
        if p.artifacts_grant_role_arns:
            # ECR creates a replica repository with this key through a grant, for itself only.
            artifacts.append(
                _named(
                    "ServiceRolesGrantKeyToAwsResources",
                    {"AWS": list(p.artifacts_grant_role_arns)},
                    ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"),
                    Bool={"kms:GrantIsForAWSResource": "true"},
                )
            )
        return artifacts

    def _notifications_users(self) -> list[iam.Statement]:
        p = self._props
        notifications: list[iam.Statement] = []
        if p.topic:
            # SNS uses the key on behalf of whoever publishes to the encrypted topic; the topic policy
            # admits only this account's alarms and notification rules. aws:SourceAccount and
            # aws:SourceArn are not documented for the KMS call SNS makes, kms:ViaService is.
            # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
            notifications.append(
                _named(
                    "EventServicesPublishToTopic",
                    {"Service": ["codestar-notifications.amazonaws.com", "cloudwatch.amazonaws.com"]},
                    ("kms:GenerateDataKey*", "kms:Decrypt"),
                    StringEquals={"kms:ViaService": self._via("sns")},
                )
            )
        if p.topic_publisher_role_arns:
            # CodePipeline's approval action publishes as the pipeline's role, not as a service.
            notifications.append(
                _named(
                    "PipelineNotifiesApprovers",
                    {"AWS": list(p.topic_publisher_role_arns)},
                    ("kms:GenerateDataKey*", "kms:Decrypt"),
                    StringEquals={"kms:ViaService": self._via("sns")},
                )
            )
        return notifications

    def _via(self, service: str) -> str:
        return f"{service}.{self._props.region}.amazonaws.com"

    def _deployer(self, created: tuple[str, ...]) -> list[iam.Statement]:
        """The account principal (the deployer, through its IAM policy), per service it creates
        resources through: the actions that service needs, and grants only for AWS resources."""
        root = {"AWS": f"arn:{self._props.partition}:iam::{self._props.account_id}:root"}
        by_service: dict[str, set[str]] = {}
        for kind in created:
            services, actions = CREATED_WITH_KEY[kind]
            for service in services:
                by_service.setdefault(service, set()).update(actions)
        statements = []
        for service in sorted(by_service):
            actions = tuple(sorted(by_service[service] - {"kms:CreateGrant"}))
            via = {"kms:ViaService": self._via(service)}
            name = _service_name(service)
            if actions:
                statements.append(_named(f"AccountUsesKeyThrough{name}", root, actions, StringEquals=via))
            if "kms:CreateGrant" in by_service[service]:
                # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource
                statements.append(
                    _named(
                        f"AccountLets{name}GrantItselfTheKey",
                        root,
                        ("kms:CreateGrant",),
                        StringEquals=via,
                        Bool={"kms:GrantIsForAWSResource": "true"},
                    )
                )
        return statements

    def _key(self, purpose: str, what: str, policy: str) -> str:
        p = self._props
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
