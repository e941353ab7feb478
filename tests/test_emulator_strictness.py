"""The emulator refuses, as AWS does, the faulty orders the product must avoid; the right order passes.

moto accepts calls that AWS refuses (a metric filter for a missing log group, a VPC Lambda whose
role cannot manage network interfaces, ...), so an emulator cycle alone would not catch a stack
that creates a resource before its prerequisite. tools/harness/emulator_patches.py restores each refusal;
each test here makes the faulty call sequence against one emulator server (started once for the
module), expects AWS's error code, then makes the right sequence and expects it to pass.
"""

from __future__ import annotations

import importlib.util
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.harness.emulator_cycle import Emulator

ACCOUNT = "123456789012"
REGION = "eu-west-1"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("moto") is None, reason="the emulator needs moto[server] (not importable here)"
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log: Path = tmp_path_factory.mktemp("emulator-strictness") / "moto.log"
    server = Emulator(ACCOUNT, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aws(emulator: Emulator) -> Callable[..., Any]:
    """A boto3 client of the emulator: ``aws("logs")`` (``region=`` for another region)."""

    def client(service: str, region: str = REGION) -> Any:
        return emulator.client(service, region)

    return client


def refused(call: Callable[..., Any], code: str, **arguments: Any) -> str:
    """The message of the ClientError ``call(**arguments)`` raises, which must carry ``code``."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        call(**arguments)
    error = raised.value.response["Error"]
    assert error["Code"] == code, error
    return str(error["Message"])


@pytest.fixture(scope="module")
def network(aws: Callable[..., Any]) -> dict[str, Any]:
    """A VPC with two subnets in different zones and a security group."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, zone in enumerate("ab"):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")
        subnets.append(subnet["Subnet"]["SubnetId"])
    group = ec2.create_security_group(GroupName="strict", Description="strict", VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "subnets": subnets, "security_group": group}


def role(aws: Callable[..., Any], service: str, *statements: dict[str, Any], managed: str | None = None) -> str:
    """A new role ``service`` may assume, with ``statements`` as one inline policy (and ``managed``
    attached, an AWS-managed policy's ARN); its ARN."""
    iam = aws("iam")
    name = f"strict-{uuid.uuid4().hex[:8]}"
    trust = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document(trust))["Role"]["Arn"])
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(*statements))
    if managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    return arn


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


LOGS = allow("logs:CreateLogStream", "logs:PutLogEvents")
NETWORK_INTERFACES = allow("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")
TRACES = allow("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def lambda_code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def function(role_arn: str, **settings: Any) -> dict[str, Any]:
    return {
        "FunctionName": f"strict-{uuid.uuid4().hex[:8]}",
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": role_arn,
        "Code": {"ZipFile": lambda_code()},
        **settings,
    }


VPC = {"VpcConfig": {"SubnetIds": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0a1b2c3d"]}}
ACTIVE_TRACING = {"TracingConfig": {"Mode": "Active"}}


def test_a_metric_filter_for_a_missing_log_group_is_refused(aws: Callable[..., Any]) -> None:
    logs = aws("logs")
    metric_filter = {
        "logGroupName": "/ecs/strict-app",
        "filterName": "5xx",
        "filterPattern": "[ip, id, user, timestamp, request, status_code=5*, size]",
        "metricTransformations": [{"metricName": "5xx", "metricNamespace": "strict", "metricValue": "1"}],
    }
    message = refused(logs.put_metric_filter, "ResourceNotFoundException", **metric_filter)
    assert message == "The specified log group does not exist."

    logs.create_log_group(logGroupName="/ecs/strict-app")
    logs.put_metric_filter(**metric_filter)
    created = logs.describe_metric_filters(logGroupName="/ecs/strict-app")["metricFilters"]
    assert [f["filterName"] for f in created] == ["5xx"]


def test_a_vpc_lambda_whose_role_cannot_manage_network_interfaces_is_refused(aws: Callable[..., Any]) -> None:
    lambda_ = aws("lambda")
    without = role(aws, "lambda.amazonaws.com", LOGS)
    message = refused(lambda_.create_function, "InvalidParameterValueException", **function(without, **VPC))
    assert message == "The provided execution role does not have permissions to call CreateNetworkInterface on EC2"

    lambda_.create_function(**function(role(aws, "lambda.amazonaws.com", LOGS, NETWORK_INTERFACES), **VPC))
    managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    lambda_.create_function(**function(role(aws, "lambda.amazonaws.com", managed=managed), **VPC))
    lambda_.create_function(**function(without))  # outside a VPC it needs none of them


def test_an_actively_traced_lambda_whose_role_cannot_send_traces_is_refused(aws: Callable[..., Any]) -> None:
    lambda_ = aws("lambda")
    without = role(aws, "lambda.amazonaws.com", LOGS, NETWORK_INTERFACES)
    message = refused(
        lambda_.create_function, "InvalidParameterValueException", **function(without, **VPC, **ACTIVE_TRACING)
    )
    assert message == "The provided execution role does not have permissions to call PutTraceSegments on XRAY"

    traced = role(aws, "lambda.amazonaws.com", LOGS, NETWORK_INTERFACES, TRACES)
    lambda_.create_function(**function(traced, **VPC, **ACTIVE_TRACING))


def test_moving_a_lambda_into_a_vpc_its_role_cannot_reach_is_refused(aws: Callable[..., Any]) -> None:
    lambda_ = aws("lambda")
    name = lambda_.create_function(**function(role(aws, "lambda.amazonaws.com", LOGS)))["FunctionName"]
    refused(lambda_.update_function_configuration, "InvalidParameterValueException", FunctionName=name, **VPC)

    able = role(aws, "lambda.amazonaws.com", LOGS, NETWORK_INTERFACES)
    lambda_.update_function_configuration(FunctionName=name, Role=able, **VPC)


#: The ELB account that delivers access logs in REGION (modules/access_logs.py, ELB_LOG_ACCOUNTS).
ELB_ACCOUNT = "156460612806"


def delivery_policy(bucket: str, principal: dict[str, str], prefix: str = "alb") -> str:
    resource = f"arn:aws:s3:::{bucket}/{prefix}/AWSLogs/{ACCOUNT}/*"
    return document({"Effect": "Allow", "Principal": principal, "Action": "s3:PutObject", "Resource": resource})


def test_alb_access_logs_to_a_bucket_that_does_not_admit_log_delivery_are_refused(
    aws: Callable[..., Any], network: dict[str, Any]
) -> None:
    elbv2, s3 = aws("elbv2"), aws("s3")
    balancer = elbv2.create_load_balancer(Name="strict-logs", Subnets=network["subnets"], Type="application")
    arn = balancer["LoadBalancers"][0]["LoadBalancerArn"]

    def access_logs(bucket: str) -> dict[str, Any]:
        attributes = {"access_logs.s3.enabled": "true", "access_logs.s3.bucket": bucket, "access_logs.s3.prefix": "alb"}
        return {"LoadBalancerArn": arn, "Attributes": [{"Key": k, "Value": v} for k, v in attributes.items()]}

    bucket = "strict-access-logs"
    message = refused(elbv2.modify_load_balancer_attributes, "InvalidConfigurationRequest", **access_logs(bucket))
    assert message == f"Access Denied for bucket: {bucket}. Please check S3bucket permission"  # no such bucket

    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    refused(elbv2.modify_load_balancer_attributes, "InvalidConfigurationRequest", **access_logs(bucket))  # no policy
    someone_else = delivery_policy(bucket, {"AWS": "arn:aws:iam::111122223333:root"})
    s3.put_bucket_policy(Bucket=bucket, Policy=someone_else)
    refused(elbv2.modify_load_balancer_attributes, "InvalidConfigurationRequest", **access_logs(bucket))
    another_prefix = delivery_policy(bucket, {"AWS": f"arn:aws:iam::{ELB_ACCOUNT}:root"}, prefix="other")
    s3.put_bucket_policy(Bucket=bucket, Policy=another_prefix)
    refused(elbv2.modify_load_balancer_attributes, "InvalidConfigurationRequest", **access_logs(bucket))

    s3.put_bucket_policy(Bucket=bucket, Policy=delivery_policy(bucket, {"AWS": f"arn:aws:iam::{ELB_ACCOUNT}:root"}))
    elbv2.modify_load_balancer_attributes(**access_logs(bucket))
    service = {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    s3.put_bucket_policy(Bucket=bucket, Policy=delivery_policy(bucket, service))
    elbv2.modify_load_balancer_attributes(**access_logs(bucket))
    disabled = [{"Key": "access_logs.s3.enabled", "Value": "false"}]
    s3.delete_bucket_policy(Bucket=bucket)
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=disabled)  # turning them off needs none


def target_group(aws: Callable[..., Any], network: dict[str, Any]) -> str:
    name = f"strict-{uuid.uuid4().hex[:8]}"
    created = aws("elbv2").create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=network["vpc"], TargetType="ip"
    )
    return str(created["TargetGroups"][0]["TargetGroupArn"])


def load_balancer(aws: Callable[..., Any], network: dict[str, Any]) -> str:
    name = f"strict-{uuid.uuid4().hex[:8]}"
    created = aws("elbv2").create_load_balancer(Name=name, Subnets=network["subnets"], Type="application")
    return str(created["LoadBalancers"][0]["LoadBalancerArn"])


def forward(to: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": to}]


@pytest.fixture(scope="module")
def cluster(aws: Callable[..., Any]) -> dict[str, str]:
    """An ECS cluster and a Fargate task definition of one container named app."""
    ecs = aws("ecs")
    name = ecs.create_cluster(clusterName="strict")["cluster"]["clusterName"]
    image = "public.ecr.aws/docker/library/nginx:stable"
    container = {"name": "app", "image": image, "essential": True, "portMappings": [{"containerPort": 8080}]}
    task = ecs.register_task_definition(
        family="strict",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )
    return {"cluster": name, "task_definition": task["taskDefinition"]["taskDefinitionArn"]}


def service(cluster: dict[str, str], network: dict[str, Any], **settings: Any) -> dict[str, Any]:
    vpc = {"subnets": network["subnets"], "securityGroups": [network["security_group"]], "assignPublicIp": "DISABLED"}
    return {
        "cluster": cluster["cluster"],
        "serviceName": f"strict-{uuid.uuid4().hex[:8]}",
        "taskDefinition": cluster["task_definition"],
        "desiredCount": 1,
        "networkConfiguration": {"awsvpcConfiguration": vpc},
        **settings,
    }


def test_an_ecs_service_whose_target_group_has_no_load_balancer_is_refused(
    aws: Callable[..., Any], network: dict[str, Any], cluster: dict[str, str]
) -> None:
    ecs, elbv2 = aws("ecs"), aws("elbv2")
    group = target_group(aws, network)
    behind = {"loadBalancers": [{"targetGroupArn": group, "containerName": "app", "containerPort": 8080}]}
    message = refused(ecs.create_service, "InvalidParameterException", **service(cluster, network, **behind))
    assert message == f"The target group with targetGroupArn {group} does not have an associated load balancer."

    balancer = load_balancer(aws, network)  # a load balancer alone does not associate it
    refused(ecs.create_service, "InvalidParameterException", **service(cluster, network, **behind))
    elsewhere = forward(target_group(aws, network))
    listener = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=elsewhere)
    refused(ecs.create_service, "InvalidParameterException", **service(cluster, network, **behind))

    rule = {"Field": "path-pattern", "Values": ["/green/*"]}
    other = listener["Listeners"][0]["ListenerArn"]
    elbv2.create_rule(ListenerArn=other, Priority=10, Conditions=[rule], Actions=forward(group))
    ecs.create_service(**service(cluster, network, **behind))  # a listener rule forwards to it
    second = target_group(aws, network)
    elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=8080, DefaultActions=forward(second))
    listed = {"loadBalancers": [{"targetGroupArn": second, "containerName": "app", "containerPort": 8080}]}
    ecs.create_service(**service(cluster, network, **listed))  # a listener's default action forwards to it


SPOT_STRATEGY = [
    {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
]
NOT_ASSOCIATED = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the"
    " cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
)


def test_an_ecs_service_naming_capacity_providers_not_associated_with_its_cluster_is_refused(
    aws: Callable[..., Any], network: dict[str, Any]
) -> None:
    ecs = aws("ecs")
    name = ecs.create_cluster(clusterName="strict-capacity")["cluster"]["clusterName"]
    task = ecs.register_task_definition(
        family="strict-capacity",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "public.ecr.aws/docker/library/nginx:stable"}],
    )
    fargate = {"cluster": name, "task_definition": task["taskDefinition"]["taskDefinitionArn"]}
    spot = {"capacityProviderStrategy": SPOT_STRATEGY}
    message = refused(ecs.create_service, "InvalidParameterException", **service(fargate, network, **spot))
    assert message == NOT_ASSOCIATED

    ecs.put_cluster_capacity_providers(
        cluster=name, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=SPOT_STRATEGY[:1]
    )
    refused(ecs.create_service, "InvalidParameterException", **service(fargate, network, **spot))  # no FARGATE_SPOT
    on_demand = ecs.create_service(**service(fargate, network, capacityProviderStrategy=SPOT_STRATEGY[:1]))
    moved = {"cluster": name, "service": on_demand["service"]["serviceName"], **spot}
    assert refused(ecs.update_service, "InvalidParameterException", **moved) == NOT_ASSOCIATED

    ecs.put_cluster_capacity_providers(
        cluster=name, capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=SPOT_STRATEGY
    )
    ecs.create_service(**service(fargate, network, **spot))
    ecs.update_service(**moved)


#: A primary Aurora cluster's credentials (a global database's secondary has none of its own).
CREDENTIALS = {"MasterUsername": "app", "MasterUserPassword": "not-a-secret-0"}
SECONDARY_REGION = "eu-central-1"


def aurora_cluster(name: str, **settings: Any) -> dict[str, Any]:
    return {"DBClusterIdentifier": name, "Engine": "aurora-postgresql", "EngineVersion": "16.4", **settings}


def aurora_instance(cluster: str, **settings: Any) -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": f"{cluster}-{uuid.uuid4().hex[:6]}",
        "DBClusterIdentifier": cluster,
        "Engine": "aurora-postgresql",
        "DBInstanceClass": "db.r6g.large",
        **settings,
    }


MONITORING_REFUSAL = (
    "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"
)
#: An inline policy granting what AmazonRDSEnhancedMonitoringRole grants.
MONITORING_GROUP = allow("logs:CreateLogGroup", "logs:PutRetentionPolicy", resource="arn:aws:logs:*:*:log-group:RDS*")
MONITORING_STREAMS = allow(
    "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents",
    resource="arn:aws:logs:*:*:log-group:RDS*:log-stream:*",
)  # fmt: skip


def test_an_rds_instance_monitored_by_a_role_without_enhanced_monitoring_permissions_is_refused(
    aws: Callable[..., Any],
) -> None:
    rds = aws("rds")
    rds.create_db_cluster(**aurora_cluster("strict-monitored", **CREDENTIALS))

    def instance(monitoring_role: str | None) -> dict[str, Any]:
        monitored = {"MonitoringInterval": 60, "MonitoringRoleArn": monitoring_role} if monitoring_role else {}
        return aurora_instance("strict-monitored", **monitored)

    bare = role(aws, "monitoring.rds.amazonaws.com")
    assert refused(rds.create_db_instance, "InvalidParameterValue", **instance(bare)) == MONITORING_REFUSAL
    streams_only = role(aws, "monitoring.rds.amazonaws.com", MONITORING_STREAMS)
    refused(rds.create_db_instance, "InvalidParameterValue", **instance(streams_only))

    managed = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    rds.create_db_instance(**instance(role(aws, "monitoring.rds.amazonaws.com", managed=managed)))
    rds.create_db_instance(**instance(role(aws, "monitoring.rds.amazonaws.com", MONITORING_GROUP, MONITORING_STREAMS)))
    rds.create_db_instance(**instance(None))  # unmonitored: no role needed


def test_a_global_database_secondary_added_before_the_primary_has_an_instance_is_refused(
    aws: Callable[..., Any],
) -> None:
    rds, dr = aws("rds"), aws("rds", SECONDARY_REGION)
    rds.create_global_cluster(GlobalClusterIdentifier="strict-global", Engine="aurora-postgresql", EngineVersion="16.4")
    joined = {"GlobalClusterIdentifier": "strict-global"}
    rds.create_db_cluster(**aurora_cluster("strict-primary", **CREDENTIALS, **joined))  # the first member: primary
    secondary = aurora_cluster("strict-secondary", **joined)
    message = refused(dr.create_db_cluster, "InvalidDBClusterStateFault", **secondary)
    assert "strict-global" in message and "no available instance" in message

    rds.create_db_instance(**aurora_instance("strict-primary"))
    dr.create_db_cluster(**secondary)
    members = rds.describe_global_clusters(GlobalClusterIdentifier="strict-global")["GlobalClusters"][0]
    assert [m["IsWriter"] for m in members["GlobalClusterMembers"]] == [True, False]
    rds.create_db_cluster(**aurora_cluster("strict-standalone", **CREDENTIALS))  # outside a global database


VPC_BUILDS = allow(
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
)  # fmt: skip


def test_a_vpc_codebuild_project_whose_role_cannot_use_the_vpc_is_refused(
    aws: Callable[..., Any], network: dict[str, Any]
) -> None:
    codebuild = aws("codebuild")

    def project(service_role: str, in_vpc: bool = True) -> dict[str, Any]:
        vpc = {"vpcId": network["vpc"], "subnets": network["subnets"], "securityGroupIds": [network["security_group"]]}
        return {
            "name": f"strict-{uuid.uuid4().hex[:8]}",
            "source": {"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {build: {commands: [true]}}\n"},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            "serviceRole": service_role,
            **({"vpcConfig": vpc} if in_vpc else {}),
        }

    logs_only = role(aws, "codebuild.amazonaws.com", LOGS)
    message = refused(codebuild.create_project, "InvalidInputException", **project(logs_only))
    assert message == "Not authorized to perform DescribeSecurityGroups"
    interfaces_only = role(aws, "codebuild.amazonaws.com", LOGS, NETWORK_INTERFACES)
    refused(codebuild.create_project, "InvalidInputException", **project(interfaces_only))

    codebuild.create_project(**project(role(aws, "codebuild.amazonaws.com", LOGS, VPC_BUILDS)))
    codebuild.create_project(**project(logs_only, in_vpc=False))  # outside a VPC it needs none of them


def test_reserving_lambda_concurrency_is_refused_as_in_a_new_account(aws: Callable[..., Any]) -> None:
    lambda_ = aws("lambda")
    name = lambda_.create_function(**function(role(aws, "lambda.amazonaws.com", LOGS)))["FunctionName"]
    message = refused(
        lambda_.put_function_concurrency,
        "InvalidParameterValueException",
        FunctionName=name,
        ReservedConcurrentExecutions=1,
    )
    assert "UnreservedConcurrentExecution below its minimum value" in message

    lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)  # leaves the minimum
    lambda_.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lambda_.get_function_concurrency(FunctionName=name)


REFUSALS = (
    "logs_metric_filter_needs_its_log_group",
    "lambda_vpc_and_tracing_need_the_execution_roles_permissions",
    "elb_access_logs_need_a_bucket_that_admits_log_delivery",
    "ecs_service_target_groups_need_a_load_balancer",
    "ecs_capacity_provider_strategy_names_only_the_clusters_providers",
    "rds_enhanced_monitoring_needs_a_role_that_can_write_os_metrics",
    "rds_global_database_secondary_waits_for_the_primarys_instance",
    "codebuild_vpc_project_needs_a_role_that_can_use_the_vpc",
)


def test_the_emulator_names_each_refusal_it_restores(emulator: Emulator) -> None:
    """The server lists its patches at start-up (tests/test_emulator.py records them per cycle)."""
    applied = emulator.patches()
    assert [name for name in REFUSALS if name not in applied] == []


def test_the_emulator_returns_each_rule_description_as_aws_does(
    aws: Callable[..., Any], network: dict[str, Any]
) -> None:
    """Terraform reads a rule's description back (re-planning shows a change otherwise): AWS
    returns it for rules to an address range, a security group and a prefix list alike."""
    ec2 = aws("ec2")
    table = ec2.create_route_table(VpcId=network["vpc"])["RouteTable"]["RouteTableId"]
    s3 = f"com.amazonaws.{REGION}.s3"
    ec2.create_vpc_endpoint(VpcId=network["vpc"], ServiceName=s3, VpcEndpointType="Gateway", RouteTableIds=[table])
    (prefix_list,) = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [s3]}])["PrefixLists"]
    peer = ec2.create_security_group(GroupName="peer", Description="peer", VpcId=network["vpc"])["GroupId"]
    group = network["security_group"]
    permissions = {
        "range": {"IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "range"}]},
        "group": {"UserIdGroupPairs": [{"GroupId": peer, "Description": "group"}]},
        "prefix list": {"PrefixListIds": [{"PrefixListId": prefix_list["PrefixListId"], "Description": "prefix list"}]},
    }
    ids = [
        rule["SecurityGroupRuleId"]
        for port, peer_of in enumerate(permissions.values(), start=1000)
        for rule in ec2.authorize_security_group_egress(
            GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **peer_of}]
        )["SecurityGroupRules"]
    ]
    rules = ec2.describe_security_group_rules(SecurityGroupRuleIds=ids)["SecurityGroupRules"]
    assert sorted(rule.get("Description") for rule in rules) == sorted(permissions)
