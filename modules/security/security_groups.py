"""Security groups that chain ALB -> tasks -> database, and nothing wider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

POSTGRES_PORT = 5432


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
    container_port: int
    #: The deployment test hook's group (and the load test's); the DR region runs no deployments.
    test_hook: bool = True


@dataclass(frozen=True)
class SecurityGroupsOutputs:
    alb_security_group_id: str
    tasks_security_group_id: str
    database_security_group_id: str
    test_hook_security_group_id: str | None


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
        self._egress(alb, "alb_out_tasks", p.container_port, "To the tasks on their container port", group=tasks)

        self._ingress(tasks, "tasks_in_alb", p.container_port, "From the load balancer", group=alb)
        # Tasks call AWS APIs (ECR, Logs, Secrets Manager) over HTTPS, via endpoints or NAT.
        self._egress(tasks, "tasks_out_https", 443, "HTTPS to AWS APIs", cidr="0.0.0.0/0")
        self._egress(tasks, "tasks_out_db", POSTGRES_PORT, "PostgreSQL to the database", group=database)

        self._ingress(database, "db_in_tasks", POSTGRES_PORT, "PostgreSQL from the tasks", group=tasks)

        hook = None
        if p.test_hook:
            # The test hook calls the ALB's public test listener (through NAT) and CodeDeploy's API.
            hook = self._group("test_hook", "Deployment test hook: the test listener and AWS APIs only", p)
            self._egress(
                hook, "hook_out_test_listener", p.test_listener_port, "The ALB test listener", cidr="0.0.0.0/0"
            )
            self._egress(hook, "hook_out_https", 443, "HTTPS to the CodeDeploy API", cidr="0.0.0.0/0")

        self.outputs = SecurityGroupsOutputs(
            alb_security_group_id=alb.id,
            tasks_security_group_id=tasks.id,
            database_security_group_id=database.id,
            test_hook_security_group_id=hook.id if hook else None,
        )

    def _group(self, purpose: str, description: str, p: SecurityGroupsProps) -> SecurityGroup:
        return SecurityGroup(
            self, f"{purpose}_sg", name=f"{p.name_prefix}-{purpose}", description=description, vpc_id=p.vpc_id
        )

    def _ingress(self, target: SecurityGroup, id: str, port: int, description: str, **peer: Any) -> None:
        self._rule(VpcSecurityGroupIngressRule, target, id, port, description, **peer)

    def _egress(self, source: SecurityGroup, id: str, port: int, description: str, **peer: Any) -> None:
        self._rule(VpcSecurityGroupEgressRule, source, id, port, description, **peer)

    def _rule(
        self,
        kind: type[VpcSecurityGroupIngressRule] | type[VpcSecurityGroupEgressRule],
        owner: SecurityGroup,
        id: str,
        port: int,
        description: str,
        *,
        cidr: str | None = None,
        group: SecurityGroup | None = None,
    ) -> None:
        """One TCP port, to or from one peer: a CIDR or another security group."""
        kind(
            self,
            _safe(id),
            security_group_id=owner.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
            cidr_ipv4=cidr,
            referenced_security_group_id=group.id if group else None,
        )


def _safe(id: str) -> str:
    return id.replace("/", "_").replace(".", "_")
