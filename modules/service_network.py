"""How services reach each other: a service without a route is found by name, and only by the
services granted to call it.

- **By name.** The environment gets a private DNS namespace in its VPC (Cloud Map creates the
  Route 53 private hosted zone), and each service without a route a Cloud Map service in it: ECS
  registers each task's address there, so callers resolve ``<key>.<namespace>`` to its running
  tasks. Routed services are reached at their route instead; a grant cannot name them
  (``EnvironmentConfig._service_grant_problems``).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-discovery.html
- **Only the granted callers.** Every service that calls or is called gets a security group of its
  own beside the tasks' shared one: a callee's admits each caller's group on the callee's container
  port, and a caller's lets it out to each callee's group on that port, nothing else. ECS
  deregisters tasks from Cloud Map itself, through its service-linked role, so no role of the
  stack needs Cloud Map permissions.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.service_discovery_private_dns_namespace import ServiceDiscoveryPrivateDnsNamespace
from cdktf_cdktf_provider_aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfig,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
    ServiceDiscoveryServiceHealthCheckCustomConfig,
)
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from config import EnvironmentConfig
from modules import grants
from modules.layout import service_scope
from modules.security.security_groups import port_rule

#: Seconds a resolver caches a task's address: short, as a rolling release replaces the tasks.
DNS_TTL_SECONDS = 10
#: The service's own group, beside the tasks' shared one (config/naming.py ServiceNames).
PEERS = "peers"


@dataclass(frozen=True)
class ServicePeering:
    """What the services' tasks are given, by service key."""

    #: Security groups of the services that call or are called, beside the shared tasks' group.
    groups: Mapping[str, str]
    #: Cloud Map services of the services without a route (ECS registers their tasks there).
    registries: Mapping[str, str]
    #: Each caller's rules out to its callees: its first tasks call through them.
    egress: Mapping[str, tuple[TerraformResource, ...]]

    def security_groups(self, key: str, shared: str) -> list[str]:
        """The groups ``key``'s tasks run in: the shared one first, then its own if it has one."""
        return [shared, *([self.groups[key]] if key in self.groups else [])]


def build(stack: Construct, c: EnvironmentConfig, vpc_id: str) -> ServicePeering:
    """The namespace and registries (only with services without a route), and each calling or
    called service's group with exactly its grants' rules."""
    unrouted = [key for key, spec in c.all_services.items() if spec.route is None]
    registries = _registries(stack, c, vpc_id, unrouted) if unrouted else {}
    callers = grants.service_callers(c)
    peers = sorted({*callers, *(caller for found in callers.values() for caller in found)})
    groups = {
        key: SecurityGroup(
            service_scope(stack, key),
            PEERS,
            name=c.names.service(key).security_group(PEERS),
            description=f"Service {key}: to and from exactly the services its grants name",
            vpc_id=vpc_id,
        )
        for key in peers
    }
    egress: dict[str, list[TerraformResource]] = {}
    for callee, found in callers.items():
        port = c.all_services[callee].container_port
        for caller in found:
            # On the callee's side the rule is its own; on the caller's, the caller's.
            port_rule(
                VpcSecurityGroupIngressRule,
                groups[callee],
                f"from_{caller}",
                groups[callee],
                port,
                f"From service {caller}, granted to call it",
                group=groups[caller],
            )
            rule = port_rule(
                VpcSecurityGroupEgressRule,
                groups[caller],
                f"to_{callee}",
                groups[caller],
                port,
                f"To service {callee}, which it is granted to call",
                group=groups[callee],
            )
            egress.setdefault(caller, []).append(rule)
    return ServicePeering(
        {key: group.id for key, group in groups.items()},
        registries,
        {key: tuple(rules) for key, rules in egress.items()},
    )


def _registries(stack: Construct, c: EnvironmentConfig, vpc_id: str, keys: list[str]) -> dict[str, str]:
    namespace = ServiceDiscoveryPrivateDnsNamespace(
        stack,
        "service_discovery",
        name=c.names.service_namespace,
        vpc=vpc_id,
        description="Services without a route, found by name from inside the VPC",
    )
    registries = {}
    for key in keys:
        registry = ServiceDiscoveryService(
            service_scope(stack, key),
            "discovery",
            name=key,
            dns_config=ServiceDiscoveryServiceDnsConfig(
                namespace_id=namespace.id,
                # One A record per task (awsvpc: each task has its own address).
                dns_records=[ServiceDiscoveryServiceDnsConfigDnsRecords(ttl=DNS_TTL_SECONDS, type="A")],
                routing_policy="MULTIVALUE",
            ),
            # ECS reports each task's health to Cloud Map (its container health check): a task that
            # fails it leaves DNS. ECS registers a task as healthy at start, before its first check,
            # so callers should retry a connection that fails. failure_threshold is deprecated and
            # always 1, but removing the block makes the provider plan a change on every run
            # (hashicorp/terraform-provider-aws#44285).
            health_check_custom_config=ServiceDiscoveryServiceHealthCheckCustomConfig(failure_threshold=1),
            # Registered instances would block deletion; they are ECS's tasks, gone with the service.
            force_destroy=True,
        )
        registries[key] = registry.arn
    return registries
