"""A service's config grants on its task role: customer managed policies, attached.

Managed, not inline: a role's inline policies share 10,240 characters, while each managed policy
holds 6,144 and a role may have 10 of them, so the most grants the config allows (4 policies, see
config.schema.MAX_GRANTS) never crowd the task role's own inline policy.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html

Nothing is created for a service without IAM grants, so such a service's JSON is unchanged.
"""

from __future__ import annotations

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from config import EnvironmentConfig
from modules import grants
from modules.security import RoleOutputs


def attach(scope: Construct, c: EnvironmentConfig, key: str, task_role: RoleOutputs) -> list[TerraformResource]:
    """The policies of service ``key``'s grants (under ``scope``/grants), attached to its task role;
    the attachments, which whatever first uses the grants (the ECS service) waits for."""
    statements = grants.grant_statements(c.partition, c.region, c.account_id, c.all_services[key].grants)
    documents = grants.grant_documents(statements)
    if not documents:
        return []
    at = Construct(scope, "grants")
    names = c.names.service(key)
    attachments: list[TerraformResource] = []
    for number, document in enumerate(documents, start=1):
        policy = IamPolicy(
            at,
            f"policy_{number}",
            name=names.task_grants_policy(number),
            description=f"The config grants of service {key} ({number} of {len(documents)})",
            policy=document,
        )
        attachments.append(
            IamRolePolicyAttachment(at, f"attachment_{number}", role=task_role.role_name, policy_arn=policy.arn)
        )
    return attachments
