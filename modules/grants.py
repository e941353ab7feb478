"""A service's grants (config ``grants:``) as IAM statements for its task role, and as the network
paths between services they open.

Each statement is scoped to exactly the resource the grant names: a bucket (and a prefix of its
keys), a queue, a topic, a parameter path, a key. The config has checked every ARN already
(partition, region, account, no wildcard: EnvironmentConfig._grant_rules), so nothing here can
widen a grant. A ``service`` grant is not IAM: it lets the caller's tasks reach the callee's, which
the stack expresses in security groups (``service_callers``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from config.schema import EnvironmentConfig, Grant, KmsGrant, S3Grant, ServiceGrant, SnsGrant, SqsGrant, SsmGrant
from modules import iam

#: Amazon S3: reading objects is s3:GetObject; listing keys is s3:ListBucket on the bucket, which the
#: s3:prefix condition limits to the granted prefix. Writing is s3:PutObject (which also authorizes
#: each part of a multipart upload) and s3:DeleteObject; s3:AbortMultipartUpload lets an SDK clean up
#: an upload it abandons. s3:ResourceAccount holds the grant to a bucket of the expected owner, as
#: bucket names are global. https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
S3_READ = ("s3:GetObject",)
S3_WRITE = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
S3_LIST = ("s3:ListBucket",)
#: Amazon SQS: a client resolves a queue's URL by name with GetQueueUrl; a consumer receives, deletes
#: and extends the visibility of messages, and reads the queue's attributes (e.g. its redrive policy).
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
SQS_SEND = ("sqs:SendMessage", "sqs:GetQueueUrl")
SQS_RECEIVE = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
SNS_PUBLISH = ("sns:Publish",)
#: Parameter Store authorizes GetParameter(s) against each parameter named, GetParametersByPath
#: against the path asked for. https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-retrieval-authorization.html
SSM_READ = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath")
#: AWS KMS: encrypting is Encrypt (small data) and GenerateDataKey (envelope encryption, what SQS,
#: SNS and S3 ask for on a sender's behalf); decrypting is Decrypt.
#: https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html
KMS_ENCRYPT = ("kms:Encrypt", "kms:GenerateDataKey")
KMS_DECRYPT = ("kms:Decrypt",)
#: A customer managed policy holds at most 6,144 characters, whitespace not counted.
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MANAGED_POLICY_CHARACTERS = 6144


def grant_statements(partition: str, region: str, account_id: str, grants: Iterable[Grant]) -> list[iam.Statement]:
    """The task-role statements of ``grants`` (service grants make none), in their order.

    Sids are ``Grant<position>...`` (IAM accepts letters and digits only), unique within the list.
    """
    statements: list[iam.Statement] = []
    for position, grant in enumerate(grants, start=1):
        sid = f"Grant{position}"
        if isinstance(grant, S3Grant):
            statements += _s3(sid, partition, account_id, grant)
        elif isinstance(grant, SqsGrant):
            actions = {"send": SQS_SEND, "receive": SQS_RECEIVE, "send_receive": SQS_SEND + SQS_RECEIVE}[grant.access]
            statements.append(iam.statement(f"{sid}Sqs", _unique(actions), [grant.queue]))
        elif isinstance(grant, SnsGrant):
            statements.append(iam.statement(f"{sid}SnsPublish", SNS_PUBLISH, [grant.topic]))
        elif isinstance(grant, SsmGrant):
            statements.append(
                iam.statement(f"{sid}SsmRead", SSM_READ, _ssm_resources(partition, region, account_id, grant))
            )
        elif isinstance(grant, KmsGrant):
            statements.append(_kms(sid, region, grant))
    return statements


def iam_granted(c: EnvironmentConfig) -> bool:
    """Whether any service of ``c`` has a grant that is IAM (not only service grants)."""
    return any(not isinstance(g, ServiceGrant) for spec in c.all_services.values() for g in spec.grants)


def grant_documents(statements: Sequence[iam.Statement]) -> list[str]:
    """``statements`` packed, in order, into as few policy documents as fit a managed policy each
    (none for no statement): what the stack attaches to the task role, so a service's grants never
    crowd the role's 10,240 characters of inline policy."""
    documents: list[list[iam.Statement]] = []
    for statement in statements:
        if documents and size(iam.document(*documents[-1], statement)) <= MANAGED_POLICY_CHARACTERS:
            documents[-1].append(statement)
        else:
            documents.append([statement])
    return [iam.document(*group) for group in documents]


def size(document: str) -> int:
    """A policy's size as IAM counts it: its JSON without whitespace outside strings."""
    return len(json.dumps(json.loads(document), separators=(",", ":")))


def callees(grants: Iterable[Grant]) -> tuple[str, ...]:
    """The services ``grants`` let the service call, sorted."""
    return tuple(sorted({g.service for g in grants if isinstance(g, ServiceGrant)}))


def service_callers(config: EnvironmentConfig) -> dict[str, tuple[str, ...]]:
    """For each service that others may call, the services allowed to (both sorted): what the
    callee's security group admits besides its load balancer."""
    callers: dict[str, set[str]] = {}
    for caller, spec in config.all_services.items():
        for callee in callees(spec.grants):
            callers.setdefault(callee, set()).add(caller)
    return {callee: tuple(sorted(found)) for callee, found in sorted(callers.items())}


def _s3(sid: str, partition: str, account_id: str, grant: S3Grant) -> list[iam.Statement]:
    bucket = f"arn:{partition}:s3:::{grant.name}"
    prefix = grant.prefix or ""
    owner: dict[str, dict[str, str | list[str]]] = {"StringEquals": {"s3:ResourceAccount": grant.account or account_id}}
    actions = {"read": S3_READ, "write": S3_WRITE, "read_write": S3_READ + S3_WRITE}[grant.access]
    statements = [iam.statement(f"{sid}S3Objects", actions, [f"{bucket}/{prefix}*"], conditions=owner)]
    if grant.access != "write":
        listing = dict(owner)
        if prefix:
            listing["StringLike"] = {"s3:prefix": [f"{prefix}*"]}
        statements.append(iam.statement(f"{sid}S3List", S3_LIST, [bucket], conditions=listing))
    return statements


def _ssm_resources(partition: str, region: str, account_id: str, grant: SsmGrant) -> list[str]:
    """The path itself (what GetParametersByPath is authorized against) and every name under it;
    ``path/*``, not ``path*``, so /shop/api grants nothing of /shop/apiary."""
    base = f"arn:{partition}:ssm:{region}:{account_id}:parameter/{grant.name}"
    return [base, f"{base}/*"]


def _kms(sid: str, region: str, grant: KmsGrant) -> iam.Statement:
    actions = {"encrypt": KMS_ENCRYPT, "decrypt": KMS_DECRYPT, "encrypt_decrypt": KMS_ENCRYPT + KMS_DECRYPT}[grant.use]
    # kms:ViaService: only requests the named service makes on the task's behalf, in the stack's
    # region. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    via = {"StringEquals": {"kms:ViaService": f"{grant.via}.{region}.amazonaws.com"}} if grant.via else None
    return iam.statement(f"{sid}Kms", actions, [grant.key], conditions=via)


def _unique(actions: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(actions))
