"""ARNs a config names (certificates, web ACLs, connections, KMS keys), parsed and checked.

An ARN is ``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``. Each one here must belong to the
stack's partition, to the region of the resource that uses it (an ALB takes a certificate and a
web ACL of its own region only; a pipeline a connection of its own region), and to the stack's
account (ACM certificates and WAF web ACLs cannot be used across accounts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config import regions


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse(value: str) -> Arn | None:
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(*parts[1:])


@dataclass(frozen=True)
class ArnKind:
    """What one ARN field must name: the service(s) and the form of the resource part."""

    what: str
    services: tuple[str, ...]
    resource: str
    resource_words: str
    example_resource: str

    def example(self, partition: str, region: str, account: str) -> str:
        return f"arn:{partition}:{self.services[0]}:{region}:{account}:{self.example_resource}"


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CERTIFICATE = ArnKind(
    "an ACM certificate ARN",
    ("acm",),
    rf"certificate/{_UUID}",
    "certificate/<id>",
    "certificate/00000000-0000-4000-8000-000000000000",
)
WEB_ACL = ArnKind(
    "a regional WAFv2 web ACL ARN",
    ("wafv2",),
    r"regional/webacl/[\w-]{1,128}/[0-9a-f-]{36}",
    "regional/webacl/<name>/<id>",
    "regional/webacl/my-acl/00000000-0000-4000-8000-000000000000",
)
CONNECTION = ArnKind(
    "a CodeConnections connection ARN",
    ("codeconnections", "codestar-connections"),
    rf"connection/{_UUID}",
    "connection/<id>",
    f"connection/{'0' * 8}-0000-4000-8000-{'0' * 12}",
)
KMS_KEY = ArnKind(
    "a KMS key ARN",
    ("kms",),
    r"(key/(mrk-[0-9a-f]{32}|" + _UUID + r")|alias/[A-Za-z0-9/_-]+)",
    "key/<key id> or alias/<name>",
    "key/00000000-0000-4000-8000-000000000000",
)

#: Grants (issue 15). IAM names a key in a Resource by its key ARN only; an alias ARN there is the
#: alias itself, not its key. https://docs.aws.amazon.com/kms/latest/developerguide/cmks-in-iam-policies.html
KMS_KEY_BY_ID = ArnKind(
    "a KMS key ARN (key/<key id>)",
    ("kms",),
    rf"key/(mrk-[0-9a-f]{{32}}|{_UUID})",
    "key/<key id>",
    "key/00000000-0000-4000-8000-000000000000",
)
#: Queue and topic names: letters, digits, - and _, up to 80 (SQS) or 256 (SNS) with .fifo included.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
#: https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
SQS_QUEUE = ArnKind(
    "an SQS queue ARN",
    ("sqs",),
    r"(?=.{1,80}$)[A-Za-z0-9_-]+(\.fifo)?",
    "<queue name>",
    "orders",
)
SNS_TOPIC = ArnKind(
    "an SNS topic ARN",
    ("sns",),
    r"(?=.{1,256}$)[A-Za-z0-9_-]+(\.fifo)?",
    "<topic name>",
    "order-events",
)
#: What IAM reads as wildcards in a Resource (and ``$`` starts a policy variable, or a Terraform one).
WILDCARDS = ("*", "?", "$")


def problems(
    value: str, kind: ArnKind, *, partition: str, region: str | None, account: str | None
) -> list[tuple[str, str]]:
    """(what is wrong, fix) for ``value`` as ``kind``, used in ``region`` of ``account`` (None: any)."""
    example = kind.example(partition, region or "eu-west-1", account or "123456789012")
    arn = parse(value)
    if arn is None or arn.service not in kind.services or not re.fullmatch(kind.resource, arn.resource):
        # Not this kind of ARN at all: one problem, not one per part.
        named = f" (it names {arn.service or 'no'} service resource {arn.resource[:40]!r})" if arn else ""
        return [(f"is not {kind.what}{named}", f"write it like {example}")]
    found: list[tuple[str, str]] = []
    if arn.partition != partition:
        found.append(
            (
                f"is in partition {arn.partition or '(empty)'}, but the stack's region is in {partition}",
                f"use an ARN of partition {partition} (arn:{partition}:...)",
            )
        )
    if region is not None and arn.region != region:
        known = regions.get(arn.region)
        what = f"region {arn.region}" if known else f"{arn.region or 'no region'}, which is not a region"
        found.append((f"is in {what}, but it is used in {region}", f"use one created in {region}"))
    if not re.fullmatch(r"\d{12}", arn.account):
        found.append((f"has account {arn.account or '(empty)'}, not 12 digits", f"write it like {example}"))
    elif account is not None and arn.account != account:
        found.append((f"belongs to account {arn.account}, not the stack's {account}", f"use one in account {account}"))
    return found
