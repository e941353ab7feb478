"""The Terraform state bucket each account needs before its first environment: ``make bootstrap``.

Kept in local state (it holds everyone else's). Versioned, KMS-encrypted with its own rotated key,
private, TLS-only, never expiring current state, and protected from `terraform destroy`.
"""

from __future__ import annotations

from cdktf import LocalBackend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from config import EnvironmentConfig
from modules import iam
from modules.s3 import SecureBucket, SecureBucketProps

#: Old state versions kept for recovery.
STATE_VERSION_DAYS = 90


def bootstrap_stack_name(config: EnvironmentConfig) -> str:
    return f"{config.project}-state-{config.account_id}"


class StateBucketStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, bootstrap_stack_name(config))
        assert config.state is not None, "only environments with remote state need a state bucket"
        region = config.state.region or config.region
        AwsProvider(
            self,
            "aws",
            region=region,
            allowed_account_ids=[config.account_id],
            default_tags=[AwsProviderDefaultTags(tags={"project": config.project, "managed-by": "bluegreen"})],
        )
        LocalBackend(self, path=f"{bootstrap_stack_name(config)}.tfstate")
        admin = iam.statement("AccountAdministersKey", ["kms:*"], ["*"])
        admin["Principal"] = {"AWS": f"arn:{config.partition}:iam::{config.account_id}:root"}
        key = KmsKey(
            self,
            "state_key",
            description=f"{config.project}: Terraform state",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=iam.document(admin),
        )
        KmsAlias(self, "state_key_alias", name=f"alias/{config.project}/terraform-state", target_key_id=key.key_id)
        bucket = SecureBucket(
            self,
            "state",
            SecureBucketProps(
                bucket_name=config.state.bucket,
                expiration_days=None,
                noncurrent_days=STATE_VERSION_DAYS,
                kms_key_arn=key.arn,
                prevent_destroy=True,
            ),
        ).outputs
        TerraformOutput(self, "state_bucket", value=bucket.bucket_name)
        TerraformOutput(self, "state_key_arn", value=key.arn)
