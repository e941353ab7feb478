"""Security groups that chain ALB -> tasks -> database, and nothing wider.

Egress is what each group's members call at run time. The tasks reach AWS inside the VPC where
the interface endpoints and S3's gateway cover everything they call (``PrivateApis``), otherwise
through NAT (``ThroughNat``, with the reason). The hooks' group keeps two rules to the internet,
each for a reason no endpoint or prefix list removes (``HOOK_INTERNET_EGRESS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

POSTGRES_PORT = 5432
HTTPS = 443
INTERNET = "0.0.0.0/0"

#: A rule into or out of a security group, a resource of its own (not inline in the group).
Rule = TypeVar("Rule", VpcSecurityGroupIngressRule, VpcSecurityGroupEgressRule)

#: Why the hooks' group (the test-traffic and release-alarms Lambdas, the load test's build) may
#: reach the internet, by port: "test_listener" or HTTPS. Rule descriptions carry these words.
HOOK_INTERNET_EGRESS = {
    # The hooks test green through the ALB's public DNS name, as clients do: the request leaves
    # through NAT for the ALB's public addresses, which change and have no prefix list.
    "test_listener": "The ALB test listener at its public addresses (they change), through NAT",
    # No interface endpoint for these here (five more per AZ, for a group that needs NAT anyway);
    # and a CodeBuild build in a VPC needs NAT to reach public endpoints at all.
    # https://docs.aws.amazon.com/codebuild/latest/userguide/vpc-support.html#best-practices-for-vpcs
    "https": "HTTPS to CodeDeploy, CodeBuild, ACM, ELB and CloudWatch through NAT (no endpoints here); "
    "CodeBuild in a VPC needs NAT",
}


@dataclass(frozen=True)
class PrivateApis:
    """Every AWS API the tasks call has an endpoint in the VPC: HTTPS to the interface endpoints
    and to S3's addresses (the gateway endpoint's prefix list) only."""

    endpoint_security_group_id: str
    s3_prefix_list_id: str


@dataclass(frozen=True)
class ThroughNat:
    """Some AWS API the tasks call has no endpoint here: their HTTPS leaves through NAT."""

    #: Why, in the rule's description (security group rule description characters only).
    reason: str


@dataclass(frozen=True)
class SecurityGroupsProps:
    name_prefix: str
    vpc_id: str
    #: Where tests inside the VPC (hooks, integration tests) reach the internet-facing ALB from:
    #: the NAT gateways' public addresses, since that is the source the ALB sees.
    nat_public_cidrs: Sequence[str]
    prod_listener_port: int
    #: Port 80 is opened too, only to redirect to HTTPS.
    http_redirect: bool
    test_listener_port: int
    #: Who may reach the production listener.
    ingress_cidrs: Sequence[str]
    #: Who besides the VPC may reach the test listener.
    test_ingress_cidrs: Sequence[str]
    #: Every routed service's container port (services may listen on different ones).
    container_ports: Sequence[int]
    #: How the tasks reach the AWS APIs they call (ECR, S3, CloudWatch Logs, Secrets Manager).
    task_apis: PrivateApis | ThroughNat
    #: Where the service's own code calls out over HTTPS besides AWS (``service.https_egress_cidrs``).
    service_https_cidrs: Sequence[str] = ()
    #: The deployment test hook's group (and the load test's); the DR region runs no deployments.
    test_hook: bool = True


@dataclass(frozen=True)
class SecurityGroupsOutputs:
    alb_security_group_id: str
    tasks_security_group_id: str
    database_security_group_id: str
    test_hook_security_group_id: str | None
    #: The tasks' egress rules: their first tasks start only once these exist (stack.py).
    tasks_egress_rules: tuple[TerraformResource, ...]


class SecurityGroups(Construct):
    def __init__(self, scope: Construct, id: str, props: SecurityGroupsProps) -> None:
        super().__init__(scope, id)
        p = props
        alb = self._group("alb", "Application load balancer: listeners in, tasks out", p)
        tasks = self._group("tasks", "ECS tasks: ALB in; AWS APIs and the database out", p)
        database = self._group("database", "Aurora: PostgreSQL from the tasks only", p)

        prod_ports = [p.prod_listener_port] + ([80] if p.http_redirect else [])
        for cidr in p.ingress_cidrs:
            for port in prod_ports:
                self._ingress(alb, f"alb_in_{port}_{cidr}", port, f"Production listener {port} from {cidr}", cidr=cidr)
        for index, cidr in enumerate(p.nat_public_cidrs):
            self._ingress(
                alb, f"alb_in_test_nat_{index}", p.test_listener_port, "Test listener from the VPC (NAT)", cidr=cidr
            )
        for cidr in p.test_ingress_cidrs:
            self._ingress(alb, f"alb_in_test_{cidr}", p.test_listener_port, f"Test listener from {cidr}", cidr=cidr)
        for index, port in enumerate(dict.fromkeys(p.container_ports)):
            # The first port's rules keep the ids they had with one service.
            suffix = f"_{port}" if index else ""
            self._egress(alb, f"alb_out_tasks{suffix}", port, "To the tasks on their container port", group=tasks)
            self._ingress(tasks, f"tasks_in_alb{suffix}", port, "From the load balancer", group=alb)
        tasks_egress = [
            *self._task_apis(tasks, p.task_apis),
            self._egress(tasks, "tasks_out_db", POSTGRES_PORT, "PostgreSQL to the database", group=database),
            *(
                self._egress(tasks, f"tasks_out_service_{cidr}", HTTPS, f"HTTPS the service calls: {cidr}", cidr=cidr)
                for cidr in p.service_https_cidrs
                # Through NAT, HTTPS to the internet is open already (AWS refuses a duplicate rule).
                if not (cidr == INTERNET and isinstance(p.task_apis, ThroughNat))
            ),
        ]

        self._ingress(database, "db_in_tasks", POSTGRES_PORT, "PostgreSQL from the tasks", group=tasks)

        hook = None
        if p.test_hook:
            hook = self._group("test_hook", "Deployment test hook: the test listener and AWS APIs only", p)
            reasons = HOOK_INTERNET_EGRESS
            self._egress(hook, "hook_out_test_listener", p.test_listener_port, reasons["test_listener"], cidr=INTERNET)
            self._egress(hook, "hook_out_https", HTTPS, reasons["https"], cidr=INTERNET)

        self.outputs = SecurityGroupsOutputs(
            alb_security_group_id=alb.id,
            tasks_security_group_id=tasks.id,
            database_security_group_id=database.id,
            test_hook_security_group_id=hook.id if hook else None,
            tasks_egress_rules=tuple(tasks_egress),
        )

    def _task_apis(self, tasks: SecurityGroup, route: PrivateApis | ThroughNat) -> list[TerraformResource]:
        if isinstance(route, ThroughNat):
            return [self._egress(tasks, "tasks_out_https", HTTPS, route.reason, cidr=INTERNET)]
        return [
            self._egress(
                tasks,
                "tasks_out_endpoints",
                HTTPS,
                "HTTPS to the interface endpoints of the AWS APIs the tasks call",
                group_id=route.endpoint_security_group_id,
            ),
            self._egress(
                tasks,
                "tasks_out_s3",
                HTTPS,
                "HTTPS to S3 through its gateway endpoint (image layers)",
                prefix_list_id=route.s3_prefix_list_id,
            ),
        ]

    def _group(self, purpose: str, description: str, p: SecurityGroupsProps) -> SecurityGroup:
        return SecurityGroup(
            self, f"{purpose}_sg", name=f"{p.name_prefix}-{purpose}", description=description, vpc_id=p.vpc_id
        )

    def _ingress(self, target: SecurityGroup, id: str, port: int, description: str, **peer: Any) -> None:
        self._rule(VpcSecurityGroupIngressRule, target, id, port, description, **peer)

    def _egress(
        self, source: SecurityGroup, id: str, port: int, description: str, **peer: Any
    ) -> VpcSecurityGroupEgressRule:
        return self._rule(VpcSecurityGroupEgressRule, source, id, port, description, **peer)

    def _rule(self, kind: type[Rule], owner: SecurityGroup, id: str, port: int, description: str, **peer: Any) -> Rule:
        return port_rule(kind, self, _safe(id), owner, port, description, **peer)


def port_rule(
    kind: type[Rule],
    scope: Construct,
    id: str,
    owner: SecurityGroup,
    port: int,
    description: str,
    *,
    cidr: str | None = None,
    group: SecurityGroup | None = None,
    group_id: str | None = None,
    prefix_list_id: str | None = None,
) -> Rule:
    """One TCP port into or out of ``owner``, to or from one peer: a CIDR, another security group
    or a prefix list."""
    return kind(
        scope,
        id,
        security_group_id=owner.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
        cidr_ipv4=cidr,
        referenced_security_group_id=group.id if group else group_id,
        prefix_list_id=prefix_list_id,
    )


def _safe(id: str) -> str:
    return id.replace("/", "_").replace(".", "_")
