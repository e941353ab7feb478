"""Security: IAM roles, KMS keys, security groups and the permission policies of the roles.

Built in two steps because the wiring demands it: roles (trust only), keys and security groups
come first, since every other module needs them; the roles' permission policies come last, once
every ARN they are scoped to exists. Terraform orders the real API calls from the references.
"""

from modules.security.keys import EncryptionKeys, EncryptionKeysOutputs, EncryptionKeysProps
from modules.security.policies import (
    BlueGreenAccess,
    CodeDeployAccess,
    DrServiceAccess,
    DrServicePolicies,
    ReleaseStepAccess,
    RolePolicies,
    RolePoliciesOutputs,
    RolePoliciesProps,
    SecondaryRegionPolicies,
    SecondaryRegionPoliciesProps,
)
from modules.security.roles import (
    EnvironmentRoles,
    PlatformRoles,
    PlatformRolesOutputs,
    PlatformRolesProps,
    RoleOutputs,
    ServiceRoles,
    ServiceRolesOutputs,
    ServiceRolesProps,
)
from modules.security.security_groups import (
    PrivateApis,
    SecurityGroups,
    SecurityGroupsOutputs,
    SecurityGroupsProps,
    ThroughNat,
)

__all__ = [
    "BlueGreenAccess",
    "CodeDeployAccess",
    "DrServiceAccess",
    "DrServicePolicies",
    "EncryptionKeys",
    "EncryptionKeysOutputs",
    "EncryptionKeysProps",
    "EnvironmentRoles",
    "PlatformRoles",
    "PlatformRolesOutputs",
    "PlatformRolesProps",
    "PrivateApis",
    "ReleaseStepAccess",
    "RoleOutputs",
    "RolePolicies",
    "RolePoliciesOutputs",
    "RolePoliciesProps",
    "SecondaryRegionPolicies",
    "SecondaryRegionPoliciesProps",
    "SecurityGroups",
    "SecurityGroupsOutputs",
    "SecurityGroupsProps",
    "ServiceRoles",
    "ServiceRolesOutputs",
    "ServiceRolesProps",
    "ThroughNat",
]
