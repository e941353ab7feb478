"""Every IAM policy the stacks emit, audited with cloudsplaining: no finding beyond the listed ones."""

from __future__ import annotations

import json

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from tests.conftest import SynthesizedStack

#: Finding -> actions allowed to raise it, each with the reason it cannot be narrower.
ALLOWED = {
    # Pulling or pushing images needs a registry login token; AWS scopes it to no resource.
    "credentials_exposure": {"ecr:GetAuthorizationToken"},
    # The load test (CodeBuild in the VPC) creates and deletes its build's network interfaces:
    # CodeBuild's documented role policy grants both on "*" (its subnets are checked through
    # ec2:CreateNetworkInterfacePermission instead). The hook Lambdas' are scoped.
    "write_actions_without_constraints": {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"},
}
ALLOWED["infrastructure_modification"] = ALLOWED["write_actions_without_constraints"]
CHECKS = (
    "allows_privilege_escalation",
    "allows_data_exfiltration_actions",
    "permissions_management_without_constraints",
    "credentials_exposure",
    "infrastructure_modification",
    "write_actions_without_constraints",
    "tagging_actions_without_constraints",
    "service_wildcard",
    "contains_statement_using_not_action",
)


def findings(document: dict[str, object]) -> dict[str, set[str]]:
    audited = PolicyDocument(document)
    result = {}
    for check in CHECKS:
        found = {json.dumps(f) if not isinstance(f, str) else f for f in getattr(audited, check)}
        if found - ALLOWED.get(check, set()):
            result[check] = found - ALLOWED.get(check, set())
    return result


def test_every_role_policy_passes_the_audit(stack: SynthesizedStack) -> None:
    audited = {r.path: findings(json.loads(r.body["policy"])) for r in stack.of_type("aws_iam_role_policy")}
    assert len(audited) >= 5
    assert {path: found for path, found in audited.items() if found} == {}


def test_the_audit_catches_what_it_should() -> None:
    """Guard against an audit that passes everything."""
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:PassRole", "s3:*"], "Resource": "*"}],
    }
    found = findings(wide)
    assert "permissions_management_without_constraints" in found and "service_wildcard" in found


@pytest.mark.parametrize("finding", sorted(ALLOWED))
def test_allowed_findings_name_real_actions(finding: str) -> None:
    assert all(":" in action for action in ALLOWED[finding])
