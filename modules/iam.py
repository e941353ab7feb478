"""IAM policy documents as plain data, rendered to JSON (tokens inside strings resolve at synth)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Statement = dict[str, Any]


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    effect: str = "Allow",
    conditions: dict[str, Any] | None = None,
) -> Statement:
    result: Statement = {"Sid": sid, "Effect": effect, "Action": list(actions), "Resource": list(resources)}
    if conditions:
        result["Condition"] = conditions
    return result


def document(*statements: Statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


#: Services that AWS documents to send aws:SourceAccount when they assume a role; for the others
#: the condition applies only if the key is present, so a service that omits it can still assume.
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html and each service's guide.
SOURCE_ACCOUNT_DOCUMENTED = frozenset(
    {
        "ecs-tasks.amazonaws.com",
        "codebuild.amazonaws.com",
        "codepipeline.amazonaws.com",
        "codedeploy.amazonaws.com",
        "vpc-flow-logs.amazonaws.com",
        "monitoring.rds.amazonaws.com",
    }
)


def service_trust(service: str, account_id: str, source_arns: Sequence[str] = ()) -> str:
    """Trust policy for an AWS service, limited to this account (confused-deputy protection) and,
    where AWS documents that the service sends it, to the resources that use the role
    (``aws:SourceArn``; callers pass the ARNs, patterns allowed).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    """
    operator = "StringEquals" if service in SOURCE_ACCOUNT_DOCUMENTED else "StringEqualsIfExists"
    conditions: dict[str, Any] = {operator: {"aws:SourceAccount": account_id}}
    if source_arns:
        conditions["ArnLike"] = {"aws:SourceArn": list(source_arns)}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": conditions,
                }
            ],
        },
        indent=2,
    )
