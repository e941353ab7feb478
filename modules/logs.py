"""The one way this project makes a CloudWatch log group: encrypted with the logs CMK, with retention."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from constructs import Construct

__all__ = ["CloudwatchLogGroup", "encrypted_log_group"]


def encrypted_log_group(
    scope: Construct, id: str, name: str, retention_days: int, kms_key_arn: str
) -> CloudwatchLogGroup:
    return CloudwatchLogGroup(scope, id, name=name, retention_in_days=retention_days, kms_key_id=kms_key_arn)
