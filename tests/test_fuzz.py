"""Property tests: any config from the valid space synthesizes with the stack's invariants; any broken
one is refused by the project's own error naming the key path; nothing else is ever raised."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aws_rules.network import broad_endpoint_statements, needless_internet_egress, stuck
from aws_rules.stack import Stack
from config import ConfigError, aws_names, load_config, naming
from config.schema import (
    CODEBUILD_MAX_TIMEOUT_MINUTES,
    ECS_BLUE_GREEN_START_MINUTES,
    FARGATE_SIZES,
    RELEASE_STEP_START_MINUTES,
    DeploymentConfig,
    EnvironmentConfig,
)

#: The bake an ECS-native release takes when the config sets none.
DEFAULT_BAKE = DeploymentConfig.model_fields["termination_wait_minutes"].default
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    cpu = draw(st.sampled_from(sorted(FARGATE_SIZES)))
    production = draw(st.booleans())
    controller = draw(st.sampled_from(["codedeploy", "ecs"]))
    traffic = draw(
        st.one_of(
            st.just({"type": "all_at_once"}),
            st.builds(
                lambda p, m: {"type": "canary", "percent": p, "minutes": m}, st.integers(1, 99), st.integers(1, 60)
            ),
            st.builds(
                lambda p, m: {"type": "linear", "percent": p, "every_minutes": m},
                st.integers(3, 99),  # ECS-native linear steps are 3 percent or more
                st.integers(1, 60),
            ),
        )
    )
    if controller == "ecs" and traffic["type"] == "linear":
        # The release step follows an ECS-native release for a bounded time (config.schema): green's
        # start, the shift's waits and the (default) bake must fit in it.
        waits = -(-100 // traffic["percent"]) - 1
        room = CODEBUILD_MAX_TIMEOUT_MINUTES - RELEASE_STEP_START_MINUTES - ECS_BLUE_GREEN_START_MINUTES - DEFAULT_BAKE
        traffic["every_minutes"] = min(traffic["every_minutes"], room // waits)
    prod_port, test_port = draw(st.lists(st.integers(1024, 65535), min_size=2, max_size=2, unique=True))
    desired = draw(st.integers(2, 6))
    account = draw(st.from_regex(r"[0-9]{12}", fullmatch=True))
    region = draw(st.sampled_from(["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]))
    # Secrets the tasks read: in the region or another, the account's or another's, Secrets Manager or SSM.
    secrets = draw(
        st.dictionaries(
            st.sampled_from(["API_KEY", "TOKEN", "FLAG"]),
            st.builds(
                lambda kind, where, owner: (
                    f"arn:aws:secretsmanager:{where}:{owner}:secret:app/key-AbCdEf"
                    if kind == "secret"
                    else f"arn:aws:ssm:{where}:{owner}:parameter/app/flag"
                ),
                st.sampled_from(["secret", "parameter"]),
                st.sampled_from([region, "us-west-2"]),
                st.sampled_from([account, "999999999999"]),
            ),
            max_size=2,
        )
    )
    config: dict[str, Any] = {
        "project": draw(st.from_regex(r"[a-z][a-z0-9]{1,8}", fullmatch=True)),
        "environment": "prod" if production else draw(st.sampled_from(["dev", "qa", "test", "uat"])),
        "production": production,
        "account_id": account,
        "region": region,
        "networking": {
            "vpc_cidr": f"10.{draw(st.integers(0, 255))}.0.0/16",
            "az_count": 3 if production else draw(st.integers(2, 3)),
            "nat_mode": "per_az" if production else draw(st.sampled_from(["per_az", "single"])),
            "interface_endpoints": draw(st.booleans()),
        },
        "database": {"instance_count": draw(st.integers(2, 4))},
        "service": {
            "cpu": cpu,
            "memory": draw(st.sampled_from(FARGATE_SIZES[cpu])),
            "desired_count": desired,
            "autoscaling": draw(st.one_of(st.none(), st.just({"min_tasks": 2, "max_tasks": 6}))),
            "secrets": secrets,
        },
        "load_balancer": {
            "certificate_arn": f"arn:aws:acm:{region}:{account}:certificate/00000000-0000-4000-8000-000000000001",
            "prod_listener_port": prod_port,
            "test_listener_port": test_port,
        },
        "pipeline": {"repository": "group/app"},
        "deployment": {"controller": controller, "traffic": traffic},
        "state": {"bucket": "state-bucket"},
    }
    return config


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@FUZZ
@given(data=valid_configs())
def test_every_valid_config_is_accepted(tmp_path: Path, data: dict[str, Any]) -> None:
    config = load_config(write(tmp_path, data))
    assert config.load_balancer.test_listener_port != config.load_balancer.effective_prod_port
    assert all(not aws_names.check(name.kind, name.value) for name in naming.physical_names(config))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=valid_configs())
def test_valid_configs_synthesize_with_the_invariants(tmp_path: Path, data: dict[str, Any]) -> None:
    import main

    config = EnvironmentConfig.model_validate(data)
    main.synthesize([config], str(tmp_path / "out"))
    document = json.loads((tmp_path / "out" / "stacks" / config.names.prefix / "cdk.tf.json").read_text())
    resources = document["resource"]
    (service,) = resources["aws_ecs_service"].values()
    assert {"task_definition", "load_balancer"} <= set(service["lifecycle"]["ignore_changes"])
    assert service["network_configuration"]["assign_public_ip"] is False
    assert len(resources["aws_nat_gateway"]) == (
        config.networking.az_count if config.networking.nat_mode == "per_az" else 1
    )
    assert ("aws_codedeploy_deployment_group" in resources) is (config.deployment.controller == "codedeploy")
    for rule in resources["aws_vpc_security_group_ingress_rule"].values():
        if rule.get("cidr_ipv4") == "0.0.0.0/0":
            assert rule["from_port"] in {config.load_balancer.effective_prod_port, 80}
    for group in resources["aws_cloudwatch_log_group"].values():
        assert group["kms_key_id"].startswith("${aws_kms_key.")
    stack = Stack(document)
    assert [str(s) for s in stuck(stack)] == [] and list(needless_internet_egress(stack)) == []
    assert list(broad_endpoint_statements(stack)) == []
    secrets = [s.source for s in config.service.secrets.values()]
    services = {e["service_name"].rsplit(".", 1)[-1] for e in resources["aws_vpc_endpoint"].values()}
    if config.networking.interface_endpoints:
        assert ("ssm" in services) is any(f":ssm:{config.region}:" in s for s in secrets)
        nat = [r for r in resources["aws_vpc_security_group_egress_rule"].values() if "through NAT" in r["description"]]
        elsewhere = any(s.split(":")[3] != config.region for s in secrets)
        assert [r["from_port"] for r in nat if "tasks" in r["security_group_id"]] == ([443] if elsewhere else [])


#: (key path, a value that breaks a rule there)
BREAKERS = [
    (("networking", "az_count"), 9),
    (("networking", "vpc_cidr"), "10.0.0.0/8"),
    (("service", "memory"), 3),
    (("service", "desired_count"), -1),
    (("load_balancer", "health_check_timeout_seconds"), 299),
    (("deployment", "traffic"), {"type": "canary", "percent": 0}),
    (("pipeline", "repository"), "no slash"),
    (("account_id",), "12"),
    (("service", "grants"), [{"type": "sqs", "queue": "arn:aws:sqs:eu-west-1:111111111111:*", "access": "send"}]),
]


@FUZZ
@given(data=valid_configs(), breaker=st.sampled_from(BREAKERS))
def test_breaking_a_rule_is_refused_naming_the_key(
    tmp_path: Path, data: dict[str, Any], breaker: tuple[tuple[str, ...], Any]
) -> None:
    path, value = breaker
    broken = copy.deepcopy(data)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        load_config(write(tmp_path, broken))
    except ConfigError as error:
        assert any(".".join(map(str, p.path)).startswith(".".join(path)) for p in error.problems), error.render()
    else:
        raise AssertionError(f"{'.'.join(path)} = {value!r} was accepted")


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(
    data=valid_configs(),
    section=st.sampled_from(["networking", "database", "service", "load_balancer", "deployment", "state", "tags"]),
    junk=JUNK,
)
def test_nothing_but_the_projects_own_error_is_ever_raised(
    tmp_path: Path, data: dict[str, Any], section: str, junk: Any
) -> None:
    data[section] = junk
    try:
        load_config(write(tmp_path, data))
    except ConfigError as error:
        assert all("; " in line for line in error.render().splitlines())


GRANT_KINDS = st.sampled_from(["s3", "sqs", "sns", "ssm", "kms", "service", "dynamodb"])
GRANT_FIELDS = st.sampled_from(["bucket", "prefix", "access", "account", "queue", "topic", "path", "key", "use", "via"])


@FUZZ
@given(
    data=valid_configs(),
    grants=st.lists(
        st.builds(
            lambda kind, fields: {"type": kind, **fields},
            GRANT_KINDS,
            st.dictionaries(
                GRANT_FIELDS, JUNK | st.sampled_from(["*", "/", "arn:aws:sqs:eu-west-1:1:q", "read"]), max_size=4
            ),
        )
        | JUNK,
        max_size=3,
    ),
)
def test_any_grant_is_accepted_or_refused_by_the_projects_own_error(
    tmp_path: Path, data: dict[str, Any], grants: list[Any]
) -> None:
    data["service"]["grants"] = grants
    try:
        load_config(write(tmp_path, data))
    except ConfigError as error:
        lines = error.render().splitlines()
        assert all("; " in line for line in lines)
        assert all("Input should" not in line and "typing." not in line for line in lines), error.render()
