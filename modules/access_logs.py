"""Who may write ALB access logs into a bucket, per region (AWS-defined data)."""

from __future__ import annotations

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


def s3_server_log_statement(bucket_name: str, account_id: str, partition: str) -> iam.Statement:
    """Let S3 server access logging (of this account's buckets) write under the s3/ prefix."""
    statement = iam.statement(
        "S3ServerAccessLogDelivery",
        ["s3:PutObject"],
        [f"arn:{partition}:s3:::{bucket_name}/{S3_ACCESS_LOG_PREFIX}/*"],
        conditions={"StringEquals": {"aws:SourceAccount": account_id}},
    )
    statement["Principal"] = {"Service": "logging.s3.amazonaws.com"}
    return statement
