"""The VPC: public subnets (ALB, NAT), private subnets (tasks), database subnets (no route out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cdktf import TerraformResource
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.depends import after
from modules.logs import encrypted_log_group


@dataclass(frozen=True)
class NetworkingProps:
    name_prefix: str
    region: str
    vpc_cidr: str
    availability_zones: Sequence[str]
    public_subnet_cidrs: Sequence[str]
    private_subnet_cidrs: Sequence[str]
    database_subnet_cidrs: Sequence[str]
    #: "per_az": a NAT gateway in every AZ; "single": one NAT gateway shared by all AZs.
    nat_mode: str
    #: The S3 gateway endpoint's policy (modules/endpoint_policies.py).
    gateway_policy: str
    #: Interface endpoints, by service (e.g. "ecr.dkr"), each with its endpoint policy; empty:
    #: none, and AWS's APIs are reached through NAT.
    interface_endpoints: Mapping[str, str]
    flow_log_group_name: str
    flow_log_retention_days: int
    flow_log_role_arn: str
    logs_kms_key_arn: str


@dataclass(frozen=True)
class NetworkingOutputs:
    vpc_id: str
    vpc_cidr: str
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]
    database_subnet_ids: list[str]
    #: Public addresses (as /32 CIDRs) that private-subnet traffic to the internet leaves from.
    nat_public_cidrs: list[str]
    flow_log_group_arn: str
    #: The S3 gateway endpoint's prefix list (S3's addresses in the region), for egress rules.
    s3_prefix_list_id: str
    #: The interface endpoints' security group; None without interface endpoints.
    endpoint_security_group_id: str | None


class Networking(Construct):
    def __init__(self, scope: Construct, id: str, props: NetworkingProps) -> None:
        super().__init__(scope, id)
        p = props
        vpc = Vpc(
            self,
            "vpc",
            cidr_block=p.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": p.name_prefix},
        )
        # The default security group allows all traffic between its members: strip it of rules.
        DefaultSecurityGroup(self, "default_sg", vpc_id=vpc.id, ingress=[], egress=[])
        igw = InternetGateway(self, "igw", vpc_id=vpc.id, tags={"Name": p.name_prefix})

        public = self._subnets(vpc, "public", p.public_subnet_cidrs, p)
        private = self._subnets(vpc, "private", p.private_subnet_cidrs, p)
        database = self._subnets(vpc, "database", p.database_subnet_cidrs, p)

        self._public_routes(vpc, igw, public, p)
        eips, nats = self._nat_gateways(igw, public, p)
        private_route_tables = self._private_routes(vpc, private, nats, p)
        database_rt = self._database_routes(vpc, database, p)

        s3 = self._s3_endpoint(vpc, [t.id for t in private_route_tables] + [database_rt.id], p)
        self._endpoints: list[TerraformResource] = [s3]
        endpoint_sg = self._interface_endpoints(vpc, private, p) if p.interface_endpoints else None
        log_group = self._flow_logs(vpc, p)

        self.outputs = NetworkingOutputs(
            vpc_id=vpc.id,
            vpc_cidr=vpc.cidr_block,
            public_subnet_ids=[s.id for s in public],
            private_subnet_ids=[s.id for s in private],
            database_subnet_ids=[s.id for s in database],
            nat_public_cidrs=[f"{eip.public_ip}/32" for eip in eips],
            flow_log_group_arn=log_group.arn,
            s3_prefix_list_id=s3.prefix_list_id,
            endpoint_security_group_id=endpoint_sg.id if endpoint_sg else None,
        )

    @property
    def endpoints(self) -> tuple[TerraformResource, ...]:
        """The VPC's endpoints: what reaches AWS from the private subnets without NAT."""
        return tuple(self._endpoints)

    def log_after(self, permissions: TerraformResource) -> None:
        """Flow logs are delivered with the role from the moment they exist: wait for its policy.
        https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html"""
        after(self._flow_log, permissions)

    def _subnets(self, vpc: Vpc, tier: str, cidrs: Sequence[str], p: NetworkingProps) -> list[Subnet]:
        return [
            Subnet(
                self,
                f"{tier}_{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                # Nothing gets a public IP by launching into a public subnet; the ALB and NAT use their own.
                map_public_ip_on_launch=False,
                tags={"Name": f"{p.name_prefix}-{tier}-{zone}", "tier": tier},
            )
            for index, (cidr, zone) in enumerate(zip(cidrs, p.availability_zones, strict=True))
        ]

    def _public_routes(self, vpc: Vpc, igw: InternetGateway, public: list[Subnet], p: NetworkingProps) -> None:
        """One route table for the public subnets, out through the internet gateway."""
        public_rt = RouteTable(self, "public_rt", vpc_id=vpc.id, tags={"Name": f"{p.name_prefix}-public"})
        Route(
            self, "public_default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id
        )
        for index, subnet in enumerate(public):
            RouteTableAssociation(self, f"public_rta_{index}", subnet_id=subnet.id, route_table_id=public_rt.id)

    def _nat_gateways(
        self, igw: InternetGateway, public: list[Subnet], p: NetworkingProps
    ) -> tuple[list[Eip], list[NatGateway]]:
        """A NAT gateway (with its address) in each public subnet, or in the first only ("single")."""
        nat_count = len(public) if p.nat_mode == "per_az" else 1
        eips, nats = [], []
        for index in range(nat_count):
            eip = Eip(self, f"nat_eip_{index}", domain="vpc", tags={"Name": f"{p.name_prefix}-nat-{index}"})
            eips.append(eip)
            nats.append(
                NatGateway(
                    self,
                    f"nat_{index}",
                    allocation_id=eip.id,
                    subnet_id=public[index].id,
                    tags={"Name": f"{p.name_prefix}-nat-{index}"},
                    depends_on=[igw],
                )
            )
        return eips, nats

    def _private_routes(
        self, vpc: Vpc, private: list[Subnet], nats: list[NatGateway], p: NetworkingProps
    ) -> list[RouteTable]:
        """A route table per private subnet, out through its AZ's NAT gateway (or the only one)."""
        tables = []
        for index, subnet in enumerate(private):
            table = RouteTable(
                self, f"private_rt_{index}", vpc_id=vpc.id, tags={"Name": f"{p.name_prefix}-private-{index}"}
            )
            Route(
                self,
                f"private_default_{index}",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[index % len(nats)].id,
            )
            RouteTableAssociation(self, f"private_rta_{index}", subnet_id=subnet.id, route_table_id=table.id)
            tables.append(table)
        return tables

    def _database_routes(self, vpc: Vpc, database: list[Subnet], p: NetworkingProps) -> RouteTable:
        # Database subnets have no route to the internet at all.
        database_rt = RouteTable(self, "database_rt", vpc_id=vpc.id, tags={"Name": f"{p.name_prefix}-database"})
        for index, subnet in enumerate(database):
            RouteTableAssociation(self, f"database_rta_{index}", subnet_id=subnet.id, route_table_id=database_rt.id)
        return database_rt

    def _s3_endpoint(self, vpc: Vpc, route_table_ids: list[str], p: NetworkingProps) -> VpcEndpoint:
        return VpcEndpoint(
            self,
            "s3_endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{p.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            policy=p.gateway_policy,
            tags={"Name": f"{p.name_prefix}-s3"},
        )

    def _flow_logs(self, vpc: Vpc, p: NetworkingProps) -> CloudwatchLogGroup:
        """All of the VPC's traffic, logged to an encrypted log group; returns the group."""
        log_group = encrypted_log_group(
            self, "flow_log_group", p.flow_log_group_name, p.flow_log_retention_days, p.logs_kms_key_arn
        )
        self._flow_log = FlowLog(
            self,
            "flow_log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=p.flow_log_role_arn,
            max_aggregation_interval=60,
        )
        return log_group

    def _interface_endpoints(self, vpc: Vpc, private: list[Subnet], p: NetworkingProps) -> SecurityGroup:
        endpoint_sg = SecurityGroup(
            self,
            "endpoint_sg",
            name=f"{p.name_prefix}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to AWS interface endpoints",
        )
        VpcSecurityGroupIngressRule(
            self,
            "endpoint_https_in",
            security_group_id=endpoint_sg.id,
            cidr_ipv4=p.vpc_cidr,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS from the VPC",
        )
        for service, policy in p.interface_endpoints.items():
            endpoint = VpcEndpoint(
                self,
                f"endpoint_{service.replace('.', '_')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{p.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in private],
                security_group_ids=[endpoint_sg.id],
                policy=policy,
                tags={"Name": f"{p.name_prefix}-{service}"},
            )
            self._endpoints.append(endpoint)
        return endpoint_sg
