"""A private, versioned, encrypted, TLS-only S3 bucket: the one way this project makes buckets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from modules import iam


@dataclass(frozen=True)
class SecureBucketOutputs:
    bucket_name: str
    bucket_arn: str
    #: The bucket policy: services that deliver into the bucket (ALB access logs, S3 server
    #: access logs) are allowed only once it exists, and the ALB test-writes when it is configured.
    policy: ITerraformDependable


@dataclass(frozen=True)
class SecureBucketProps:
    bucket_name: str
    #: Days until current objects expire; None keeps them (e.g. Terraform state).
    expiration_days: int | None
    #: KMS key for default encryption; None means SSE-S3, for services that cannot use KMS
    #: (ALB access log delivery is one).
    kms_key_arn: str | None
    extra_statements: Sequence[iam.Statement] = field(default_factory=tuple)
    #: Where S3 server access logs of this bucket go (bucket, key prefix); None for the log bucket itself.
    server_access_log_target: tuple[SecureBucketOutputs, str] | None = None
    #: Days older versions of an object are kept.
    noncurrent_days: int = 7
    #: Terraform refuses to destroy the bucket.
    prevent_destroy: bool = False


class SecureBucket(Construct):
    def __init__(self, scope: Construct, id: str, props: SecureBucketProps) -> None:
        super().__init__(scope, id)
        bucket = S3Bucket(
            self,
            "bucket",
            bucket=props.bucket_name,
            force_destroy=False,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.prevent_destroy else None,
        )
        self._private(bucket)
        self._encrypted(bucket, props.kms_key_arn)
        self._expiring(bucket, props)
        if props.server_access_log_target is not None:
            target, target_prefix = props.server_access_log_target
            S3BucketLoggingA(
                self,
                "logging",
                bucket=bucket.id,
                target_bucket=target.bucket_name,
                target_prefix=target_prefix,
                # S3 delivers as the logging service, which the target's policy admits.
                depends_on=[target.policy],
            )
        objects = f"{bucket.arn}/*"
        policy = S3BucketPolicy(
            self,
            "policy",
            bucket=bucket.id,
            policy=iam.document(
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket.arn, objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *props.extra_statements,
            ),
        )
        self.outputs = SecureBucketOutputs(bucket_name=bucket.bucket, bucket_arn=bucket.arn, policy=policy)

    def _private(self, bucket: S3Bucket) -> None:
        """Owned by the account alone (no ACLs), never public, every version kept."""
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketPublicAccessBlock(
            self,
            "public_access_block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )

    def _encrypted(self, bucket: S3Bucket, kms_key_arn: str | None) -> None:
        by_default = (
            S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
            )
            if kms_key_arn
            else S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="AES256"
            )
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=by_default, bucket_key_enabled=kms_key_arn is not None
                )
            ],
        )

    def _expiring(self, bucket: S3Bucket, props: SecureBucketProps) -> None:
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=props.expiration_days)]
                    if props.expiration_days is not None
                    else None,
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=props.noncurrent_days
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=1)
                    ],
                )
            ],
        )
