"""What may pass through each VPC endpoint: the calls the stack's principals make from inside the
VPC, on the account's own resources in that region (and the one AWS-owned bucket ECR needs).

An endpoint policy grants nothing; it bounds what the endpoint carries, on top of each role's own
policy (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html). So each
statement names the roles that call through it and the actions they make
(``aws_rules/permissions.py`` lists them per role, ``aws_rules/network.py`` checks each against
these policies), and holds resources to the account and region: a stolen credential of another
account, or a call to another account's resource, does not pass.

Who calls what from inside the VPC (everything else the stack runs is called by AWS services
from outside it):

- Fargate, for each task, as the task execution role, through the task's network interface
  (platform 1.4+): ECR's API and registry, the image layers in S3 (through URLs ECR signs),
  CloudWatch Logs (awslogs), Secrets Manager and SSM (the task definition's ``secrets``).
  https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
- The load test's build (CodeBuild in the private subnets): its log, as its role.
- The hook Lambdas: CodeDeploy, CodeBuild, ACM, ELB and CloudWatch, none of which has an
  endpoint here (they go through NAT; see modules/security/security_groups.py).
- The app itself, as its task role, makes only the calls of its config grants (``grants:``; its
  IAM database token is signed locally): S3 through the gateway endpoint, SQS, SNS, SSM and KMS
  through an interface endpoint of each service granted (``granted_services``), each endpoint
  admitting exactly the granted actions on the granted resources for that role. A KMS grant
  ``via`` a service is used by that service on the task's behalf, from AWS's side: no endpoint.

Otherwise nothing in the VPC calls KMS itself: Secrets Manager, SSM, ECR, CloudWatch Logs and
Lambda decrypt on the caller's behalf (the roles' KMS grants require ``kms:ViaService``), so there
is no KMS endpoint unless a grant uses a key directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modules import iam

#: Interface endpoints every region's tasks use (Fargate platform 1.4+ needs both ECR endpoints).
TASK_SERVICES = ("ecr.api", "ecr.dkr", "logs")
#: ECR's registry and API share one policy, as ECR recommends.
ECR_SERVICES = ("ecr.api", "ecr.dkr")
#: What Fargate calls to pull an image (AmazonECSTaskExecutionRolePolicy).
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
#: What the awslogs driver and CodeBuild's log delivery call.
LOG_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
#: Reading and writing objects in the account's own buckets; no bucket configuration, no deletes.
ACCOUNT_BUCKET_USE = (
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:PutObject",
)


def ecr_layer_bucket(partition: str, region: str) -> str:
    """The AWS-owned bucket ECR stores image layers in; ECR hands out signed URLs to it, so the
    request is not signed by the caller's role.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-minimum-s3-perms
    """
    return f"arn:{partition}:s3:::prod-{region}-starport-layer-bucket"


@dataclass(frozen=True)
class VpcCallers:
    """The principals that call AWS from inside one region's VPC, and what they read there."""

    partition: str
    region: str
    account_id: str
    #: Fargate pulls, logs and reads the tasks' secrets as these roles (one per service).
    task_execution_role_arns: Sequence[str]
    #: Other roles writing CloudWatch Logs from inside the VPC (the load test's build).
    log_writer_role_arns: Sequence[str] = ()
    #: The migration task reads the database's master secret (the primary region only).
    reads_database_secret: bool = False
    #: ``service.secrets`` of this region: Secrets Manager secrets and SSM parameters. The
    #: account's own are covered by the account's pattern; another account's are named.
    secret_arns: Sequence[str] = ()
    parameter_arns: Sequence[str] = ()
    #: Task role ARN -> the statements of its service's config grants (modules/grants.py), for the
    #: region the grants' resources are in (the primary; an endpoint serves its own region only).
    granted: Mapping[str, Sequence[iam.Statement]] = field(default_factory=dict)

    def interface_services(self) -> tuple[str, ...]:
        """The interface endpoints these callers use, so the tasks need no NAT for AWS."""
        found = (
            *TASK_SERVICES,
            *(("secretsmanager",) if self.reads_database_secret or self.secret_arns else ()),
            *(("ssm",) if self.parameter_arns else ()),
        )
        return (*found, *(s for s in self.granted_services() if s not in found and s != "s3"))

    def granted_services(self) -> tuple[str, ...]:
        """The services the tasks call from the VPC under their grants, sorted."""
        found = {via_vpc(statement) for statements in self.granted.values() for statement in statements}
        return tuple(sorted(s for s in found if s is not None))

    def interface_policy(self, service: str) -> str:
        """The endpoint policy of one interface endpoint."""
        return _bounded(service, iam.document(*self._statements(service), *self._granted(service)))

    def gateway_policy(self) -> str:
        """The S3 gateway endpoint's policy: ECR's layers, the account's own buckets for the
        account's own principals, and each task role's granted buckets (of whichever account the
        grant names) for that role only; no other bucket of another account passes. Every role's
        own policy still names its exact buckets."""
        account = {"aws:PrincipalAccount": self.account_id, "s3:ResourceAccount": self.account_id}
        return _bounded(
            "s3",
            iam.document(
                _allow("EcrImageLayers", "*", ["s3:GetObject"], [f"{ecr_layer_bucket(self.partition, self.region)}/*"]),
                _allow("TheAccountsOwnBuckets", "*", ACCOUNT_BUCKET_USE, ["*"], {"StringEquals": account}),
                *self._granted("s3"),
            ),
        )

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def _statements(self, service: str) -> list[iam.Statement]:
        execution = list(self.task_execution_role_arns)
        if service in ECR_SERVICES:
            return [
                # GetAuthorizationToken has no resource type (Service Authorization Reference, ECR).
                _allow("RegistryLogin", execution, ["ecr:GetAuthorizationToken"], ["*"]),
                _allow("PullTheAccountsImages", execution, ECR_PULL, [self._arn("ecr", "repository/*")]),
            ]
        if service == "logs":
            writers = [*execution, *self.log_writer_role_arns]
            return [_allow("WriteTheAccountsLogs", writers, LOG_WRITE, [self._arn("logs", "log-group:*")])]
        if service == "secretsmanager":
            secrets = [self._arn("secretsmanager", "secret:*"), *_foreign(self.secret_arns, self.account_id)]
            return [_allow("ReadTheTasksSecrets", execution, ["secretsmanager:GetSecretValue"], secrets)]
        if service == "ssm" and self.parameter_arns:
            parameters = [self._arn("ssm", "parameter/*"), *_foreign(self.parameter_arns, self.account_id)]
            return [_allow("ReadTheTasksParameters", execution, ["ssm:GetParameters"], parameters)]
        if service in self.granted_services():
            return []  # only the grants' statements
        raise ValueError(f"no endpoint policy for {service}: list who calls it from the VPC first")

    def _granted(self, service: str) -> list[iam.Statement]:
        """For each task role, its grants' statements on ``service``: the same actions and
        resources, that role only. Of their conditions only the resource's owner is kept (an
        endpoint policy only bounds; the role's own policy still holds the key prefix and the
        service a key is used through)."""
        found: list[iam.Statement] = []
        for role, statements in self.granted.items():
            for statement in statements:
                if via_vpc(statement) != service:
                    continue
                owner = statement.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")
                conditions = {"StringEquals": {"s3:ResourceAccount": owner}} if owner else None
                sid = f"Task{len(found) + 1}{statement['Sid']}"
                found.append(_allow(sid, [role], statement["Action"], statement["Resource"], conditions))
        return found


#: An endpoint policy holds at most 20,480 characters, white space included; not adjustable.
#: https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html
ENDPOINT_POLICY_CHARACTERS = 20480
#: The longest role ARN a role reference resolves to (the partition with the longest name; a role
#: name has at most 64 characters), which the size is counted with.
LONGEST_ROLE_ARN = len("arn:aws-us-gov:iam::123456789012:role/") + 64
_ROLE_REFERENCE = re.compile(r"\$\{aws_iam_role\.[A-Za-z0-9_-]+\.arn\}")


def _bounded(service: str, document: str) -> str:
    """``document``, refused when it could not fit an endpoint policy once its role references resolve:
    only grants make a policy grow, one statement per granted statement."""
    size = len(_ROLE_REFERENCE.sub("r" * LONGEST_ROLE_ARN, document))
    if size > ENDPOINT_POLICY_CHARACTERS:
        raise ValueError(
            f"the {service} VPC endpoint's policy would hold up to {size} characters, over the "
            f"{ENDPOINT_POLICY_CHARACTERS} AWS allows (not adjustable): grant fewer {service} resources "
            "(a prefix or path covers everything under it), or set networking.interface_endpoints: false"
        )
    return document


#: The services a task calls under its grants, through an endpoint of the same name (S3's is the gateway).
GRANTED_SERVICES = ("s3", "sqs", "sns", "ssm", "kms")


def via_vpc(statement: iam.Statement) -> str | None:
    """The endpoint service that carries a grant statement's calls from the tasks, or None: a KMS
    statement with kms:ViaService is used by that service from AWS's side, not from the VPC."""
    services = {str(a).split(":")[0] for a in statement["Action"]}
    if len(services) != 1 or not services <= set(GRANTED_SERVICES):
        raise ValueError(f"a grant statement calls one of {GRANTED_SERVICES}: {statement['Action']}")
    (service,) = services
    if service == "kms" and "kms:ViaService" in statement.get("Condition", {}).get("StringEquals", {}):
        return None
    return service


def _foreign(arns: Sequence[str], account_id: str) -> list[str]:
    """The ARNs that belong to another account (the account's own are covered by its pattern)."""
    return sorted({arn for arn in arns if arn.split(":")[4] != account_id})


def _allow(
    sid: str,
    principals: str | Sequence[str],
    actions: Sequence[str],
    resources: Sequence[str],
    conditions: dict[str, dict[str, str]] | None = None,
) -> iam.Statement:
    result = iam.statement(sid, actions, resources, conditions=conditions)
    result["Principal"] = principals if isinstance(principals, str) else {"AWS": list(principals)}
    return result
