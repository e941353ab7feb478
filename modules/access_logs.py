"""Who may write ALB access logs into a bucket, per region (AWS-defined data)."""

from __future__ import annotations

from collections.abc import Sequence

from modules import iam

#: Regions created before August 2022 deliver ALB logs from a regional ELB account; newer regions
#: use the log delivery service principal instead.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "ap-east-1": "754344448648",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-south-1": "718504428378",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}

ACCESS_LOG_PREFIX = "alb"
S3_ACCESS_LOG_PREFIX = "s3"


def delivery_statement(bucket_name: str, region: str, account_id: str, partition: str) -> iam.Statement:
    """ALB access log delivery. AWS documents no aws:SourceArn or aws:SourceAccount for it (the
    regional ELB account, or the log delivery service, writes under AWSLogs/<this account>/).
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
    """
    statement = iam.statement(
        "AlbAccessLogDelivery",
        ["s3:PutObject"],
        [f"arn:{partition}:s3:::{bucket_name}/{ACCESS_LOG_PREFIX}/AWSLogs/{account_id}/*"],
    )
    elb_account = ELB_LOG_ACCOUNTS.get(region)
    statement["Principal"] = (
        {"AWS": f"arn:{partition}:iam::{elb_account}:root"}
        if elb_account
        else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    )
    return statement


def s3_server_log_statements(
    bucket_name: str, account_id: str, partition: str, source_bucket_names: Sequence[str]
) -> tuple[iam.Statement, ...]:
    """Let S3 server access logging write under the s3/ prefix, for exactly the buckets that log
    here (none: no statement). The log bucket's policy exists before those buckets, which name it
    as their target, so they are named by their (global) bucket names, not referenced.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general
    """
    if not source_bucket_names:
        return ()
    statement = iam.statement(
        "S3ServerAccessLogDelivery",
        ["s3:PutObject"],
        [f"arn:{partition}:s3:::{bucket_name}/{S3_ACCESS_LOG_PREFIX}/*"],
        conditions={
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": [f"arn:{partition}:s3:::{name}" for name in source_bucket_names]},
        },
    )
    statement["Principal"] = {"Service": "logging.s3.amazonaws.com"}
    return (statement,)
