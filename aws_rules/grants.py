"""Rule 3 for the app's own calls: what a service's code calls under each of its config grants.

The CALLS table (aws_rules/permissions.py) lists what AWS's services call as the stack's roles;
the task role's calls are the application's, and they follow from its config ``grants:``. This
table says, for each kind and mode, which API calls an SDK makes and on which resource (as AWS
authorises it: an object key under the prefix, a parameter under the path), and whether the call
leaves from the task's network interface (``Call.endpoint``: the endpoint service that carries it)
or is made by another service on the task's behalf (a KMS key used ``via`` SQS, SNS, S3, SSM or
Secrets Manager is called by that service, from AWS's side).

It is written apart from modules/grants.py on purpose: ``permissions.denied(stack, granted)``
checks that the task role allows each call, ``network.stuck(stack, granted)`` that each call gets
out of the VPC and that its endpoint admits it.
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_rules.permissions import RUNTIME, Call, Lookup
from config.schema import EnvironmentConfig, Grant, KmsGrant, S3Grant, SnsGrant, SqsGrant, SsmGrant

#: (kind, mode) -> what an SDK calls: (action, on "object"/"bucket" for S3, "name"/"path" for SSM).
#: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (ListBucket on the bucket)
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
#: https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
GRANT_CALLS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("s3", "read"): (("s3:GetObject", "object"), ("s3:ListBucket", "bucket")),
    ("s3", "write"): (("s3:PutObject", "object"), ("s3:DeleteObject", "object"), ("s3:AbortMultipartUpload", "object")),
    ("sqs", "send"): (("sqs:GetQueueUrl", "queue"), ("sqs:SendMessage", "queue")),
    ("sqs", "receive"): (
        ("sqs:GetQueueUrl", "queue"),
        ("sqs:ReceiveMessage", "queue"),
        ("sqs:DeleteMessage", "queue"),
        ("sqs:ChangeMessageVisibility", "queue"),
        ("sqs:GetQueueAttributes", "queue"),
    ),
    ("sns", "publish"): (("sns:Publish", "topic"),),
    ("ssm", "read"): (("ssm:GetParameter", "name"), ("ssm:GetParameters", "name"), ("ssm:GetParametersByPath", "path")),
    ("kms", "encrypt"): (("kms:Encrypt", "key"), ("kms:GenerateDataKey", "key")),
    ("kms", "decrypt"): (("kms:Decrypt", "key"),),
}
#: The modes a combined access is made of.
_MODES = {
    "read_write": ("read", "write"),
    "send_receive": ("send", "receive"),
    "encrypt_decrypt": ("encrypt", "decrypt"),
}
PHASE = "while a task runs: the app's config grant"


def calls(grant: Grant, partition: str, region: str, account_id: str) -> tuple[Call, ...]:
    """The calls the app makes under ``grant`` (none for a service grant, which is not IAM)."""
    kind: str
    mode: str
    on: dict[str, str]
    if isinstance(grant, S3Grant):
        kind, mode = "s3", grant.access
        bucket = f"arn:{partition}:s3:::{grant.name}"
        on = {"bucket": bucket, "object": f"{bucket}/{grant.prefix or ''}{RUNTIME}"}
    elif isinstance(grant, SqsGrant):
        kind, mode, on = "sqs", grant.access, {"queue": grant.queue}
    elif isinstance(grant, SnsGrant):
        kind, mode, on = "sns", "publish", {"topic": grant.topic}
    elif isinstance(grant, SsmGrant):
        path = f"arn:{partition}:ssm:{region}:{account_id}:parameter/{grant.name}"
        kind, mode, on = "ssm", "read", {"path": path, "name": f"{path}/{RUNTIME}"}
    elif isinstance(grant, KmsGrant):
        kind, mode, on = "kms", grant.use, {"key": grant.key}
    else:
        return ()
    via = grant.via if isinstance(grant, KmsGrant) else None
    # A bucket's ARN names no account: the request's s3:ResourceAccount is the one the grant names.
    owner = {"s3:ResourceAccount": grant.account or account_id} if isinstance(grant, S3Grant) else None
    context = _constant_context(owner) if owner else None
    return tuple(
        Call(
            action,
            PHASE,
            _constant(on[what]),
            via=via,
            endpoint=None if via else kind,
            context=context,
        )
        for part in _MODES.get(mode, (mode,))
        for action, what in GRANT_CALLS[(kind, part)]
    )


def granted(c: EnvironmentConfig) -> dict[str, tuple[Call, ...]]:
    """Service key -> the calls of its grants, for the services that have any."""
    found = {
        key: tuple(call for grant in spec.grants for call in calls(grant, c.partition, c.region, c.account_id))
        for key, spec in c.all_services.items()
    }
    return {key: found_calls for key, found_calls in found.items() if found_calls}


Granted = Mapping[str, tuple[Call, ...]]


def _constant(arn: str) -> Callable[[Lookup], str]:
    return lambda _: arn


def _constant_context(context: dict[str, str]) -> Callable[[Lookup], dict[str, str]]:
    return lambda _: context
