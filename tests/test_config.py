"""The config schema: shipped files are valid; every bad config is refused with key path, value and fix."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from config import ConfigError, load_config, shipped_environments
from config.schema import FARGATE_SIZES, EnvironmentConfig

ROOT = Path(__file__).resolve().parent.parent


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    return data


def prod_base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    return data


def problems_for(tmp_path: Path, data: Any, *, raw: str | None = None) -> str:
    file = tmp_path / "env.yaml"
    file.write_text(raw if raw is not None else yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return caught.value.render()


def with_(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return result


def without(data: dict[str, Any], path: str) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    del node[leaf]
    return result


@pytest.mark.parametrize("env", shipped_environments())
def test_shipped_configs_are_valid(env: str) -> None:
    config = load_config(ROOT / "config" / f"{env}.yaml")
    assert config.environment == env


def test_there_are_dev_staging_and_prod() -> None:
    assert {"dev", "staging", "prod"} <= set(shipped_environments())


# (case id, mutation, expected substrings of the one-line message)
CERTIFICATE = "arn:aws:acm:{region}:111111111111:certificate/00000000-0000-4000-8000-000000000001"
BAD_CONFIGS = [
    (
        "unknown top-level key",
        lambda d: with_(d, "colour", "blue"),
        ["env.yaml: colour: is not a known key (got 'blue'); remove it or use one of: project, environment"],
    ),
    (
        "misspelt key gets a suggestion",
        lambda d: with_(d, "networking.nat_mod", "single"),
        ["networking.nat_mod: is not a known key", "did you mean 'nat_mode'?"],
    ),
    (
        "wrong type",
        lambda d: with_(d, "service.desired_count", "many"),
        ["service.desired_count:", "(got 'many')", "write a whole number"],
    ),
    (
        "missing required key",
        lambda d: without(d, "pipeline.repository"),
        ["pipeline.repository: is required", "add it"],
    ),
    (
        "bad CIDR",
        lambda d: with_(d, "networking.vpc_cidr", "10.0.0.300/16"),
        ["networking.vpc_cidr: is not an IPv4 CIDR", "(got '10.0.0.300/16')", "an IPv4 CIDR such as '10.0.0.0/16'"],
    ),
    (
        "VPC too large",
        lambda d: with_(d, "networking.vpc_cidr", "10.0.0.0/8"),
        [
            "networking.vpc_cidr: is larger than AWS allows for a VPC (/16 to /24) (got '10.0.0.0/8')",
            "e.g. 10.0.0.0/16",
        ],
    ),
    (
        "public VPC range",
        lambda d: with_(d, "networking.vpc_cidr", "8.8.0.0/16"),
        ["networking.vpc_cidr: is not a private range (RFC 1918", "e.g. 10.8.0.0/16"],
    ),
    (
        "overlapping subnets",
        lambda d: with_(
            with_(d, "networking.public_subnets", ["10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"]),
            "networking.private_subnets",
            ["10.10.32.0/20", "10.10.48.0/20", "10.10.64.0/20"],
        ),
        [
            "networking.private_subnets.0: is the same range as public_subnets[2] (10.10.32.0/20) (got '10.10.32.0/20')",  # noqa: E501
            "non-overlapping",
        ],
    ),
    (
        "subnet outside the VPC",
        lambda d: with_(d, "networking.public_subnets", ["10.10.0.0/20", "10.10.16.0/20", "192.168.0.0/24"]),
        ["networking.public_subnets.2: is outside vpc_cidr 10.10.0.0/16 (got '192.168.0.0/24')"],
    ),
    (
        "wrong number of subnets",
        lambda d: with_(d, "networking.public_subnets", ["10.10.0.0/20"]),
        ["networking.public_subnets: lists 1 subnet, but there must be one per AZ (3, networking.az_count)"],
    ),
    (
        "subnets do not fit",
        lambda d: with_(with_(d, "networking.vpc_cidr", "10.10.0.0/24"), "networking.subnet_prefix_length", 25),
        ["networking.subnet_prefix_length: 10.10.0.0/24 has no room for 9 subnets of /25", "(got 25)"],
    ),
    (
        "too many AZs",
        lambda d: with_(d, "networking.az_count", 7),
        ["networking.az_count: is above the maximum of 6 (got 7); use a value from 2 to 6"],
    ),
    (
        "unknown NAT mode",
        lambda d: with_(d, "networking.nat_mode", "none"),
        ["networking.nat_mode: is not one of the allowed values (got 'none')", "(allowed: per_az, single)"],
    ),
    (
        "invalid Fargate pair",
        lambda d: with_(with_(d, "service.cpu", 256), "service.memory", 4096),
        ["service.memory: is not valid with cpu 256 on Fargate (got 4096)", "use 2048 (512..2048 MiB"],
    ),
    (
        "invalid Fargate cpu",
        lambda d: with_(d, "service.cpu", 300),
        ["service.cpu: is not a Fargate CPU size (got 300)", "use 256 (or one of 256, 512"],
    ),
    (
        "test port equals prod port",
        lambda d: with_(d, "load_balancer.test_listener_port", 443),
        ["load_balancer.test_listener_port: equals the production listener port (got 443)", "choose a different port"],
    ),
    (
        "port out of range",
        lambda d: with_(d, "service.container_port", 70000),
        ["service.container_port: is above the maximum of 65535 (got 70000); use a value from 1 to 65535"],
    ),
    (
        "names too long for an ALB",
        lambda d: with_(with_(d, "project", "averyveryverylongproj"), "environment", "stagingxx"),
        ["project: must be 2 to 20 lower-case letters", "use 'averyveryverylongpro'"],
    ),
    (
        "target group name over 32 characters",
        lambda d: with_(with_(d, "project", "a-very-long-project"), "environment", "preprod123"),
        [
            "project: makes the green target group name 'a-very-long-project-preprod123-green', which is 36 characters long, over AWS's 32",  # noqa: E501
            "shorten project or environment by 4 characters",
        ],
    ),
    (
        "secret in environment variables",
        lambda d: with_(d, "service.environment", {"DB_PASSWORD": "hunter2"}),
        [
            "service.environment.DB_PASSWORD: looks like a secret (got a value that looks secret, not shown)",
            "store it in Secrets Manager",
        ],
    ),
    (
        "bad environment variable name",
        lambda d: with_(d, "service.environment", {"1BAD": "x"}),
        ["service.environment.1BAD: is not a valid environment variable name"],
    ),
    (
        "invalid log retention",
        lambda d: with_(d, "service.log_retention_days", 100),
        ["service.log_retention_days: CloudWatch Logs does not accept this retention (got 100); use 90"],
    ),
    (
        "bad certificate ARN",
        lambda d: with_(d, "load_balancer.certificate_arn", "arn:aws:iam::1:server-certificate/x"),
        [
            "load_balancer.certificate_arn: is not an ACM certificate ARN",
            "write it like arn:aws:acm:eu-west-1:111111111111:certificate/",
        ],
    ),
    (
        "account id not 12 digits",
        lambda d: with_(d, "account_id", "12345"),
        ["account_id: must be the 12 digits of an AWS account id", "(got '12345')"],
    ),
    (
        "autoscaling range upside down",
        lambda d: with_(d, "service.autoscaling", {"min_tasks": 5, "max_tasks": 2}),
        ["service.autoscaling.max_tasks: is below min_tasks (5) (got 2)"],
    ),
    (
        "desired count outside the autoscaling range",
        lambda d: with_(d, "service.autoscaling", {"min_tasks": 2, "max_tasks": 4}),
        ["service.desired_count: is outside autoscaling's 2..4 (got 1)"],
    ),
    (
        "bad scaling schedule",
        lambda d: with_(
            d,
            "service.autoscaling",
            {"min_tasks": 1, "schedules": [{"name": "n", "schedule": "every night", "min_tasks": 0, "max_tasks": 0}]},
        ),
        [
            "service.autoscaling.schedules.0.schedule: is not cron(...), rate(...) or at(...) (got 'every night')",
            "write it like cron(0 19 ? * MON-FRI *)",
        ],
    ),
    (
        "unknown traffic shifting",
        lambda d: with_(d, "deployment.traffic", {"type": "gradual"}),
        [
            "deployment.traffic: has type 'gradual', which is not a kind this key knows",
            "set type to one of: all_at_once, canary, linear",
        ],
    ),
    (
        "canary share out of range",
        lambda d: with_(d, "deployment.traffic", {"type": "canary", "percent": 100}),
        ["deployment.traffic.percent: is above the maximum of 99 (got 100)"],
    ),
    (
        "linear key on a canary",
        lambda d: with_(d, "deployment.traffic", {"type": "canary", "every_minutes": 2}),
        [
            "deployment.traffic.every_minutes: is not a known key (got 2); did you mean 'minutes'? "
            "remove it or use one of: type, percent, minutes"
        ],
    ),
    (
        "serverless and instance class together",
        lambda d: with_(d, "database.instance_class", "db.r6g.large"),
        ["database.instance_class: conflicts with serverless_v2 (got 'db.r6g.large')"],
    ),
    (
        "health check timeout not below interval",
        lambda d: with_(d, "load_balancer.health_check_timeout_seconds", 10),
        [
            "load_balancer.health_check_timeout_seconds: must be shorter than health_check_interval_seconds (10) (got 10)"  # noqa: E501
        ],
    ),
    (
        "zone of another region",
        lambda d: with_(d, "networking.availability_zones", ["eu-west-1a", "eu-west-1b", "us-east-1a"]),
        ["networking.availability_zones.2: is not a zone of region eu-west-1 (got 'us-east-1a')"],
    ),
    (
        "section is not a mapping",
        lambda d: with_(d, "database", ["x"]),
        ["database: is a list, not a mapping", "write it as `key: value` lines under it"],
    ),
    (
        "load test without the hook that starts it",
        lambda d: with_(with_(d, "deployment.test_hook", False), "deployment.load_test", {"concurrency": 4}),
        ["deployment.load_test: is started by the test-traffic hook, which is switched off", "test_hook: true"],
    ),
    (
        "load test longer than half an hour",
        lambda d: with_(d, "deployment.load_test", {"duration_seconds": 3600}),
        ["deployment.load_test.duration_seconds: is above the maximum of 1800 (got 3600)"],
    ),
    (
        "auto-pause on an engine that cannot pause",
        lambda d: with_(
            with_(d, "database.engine_version", "16.1"), "database.serverless_v2", {"min_acu": 0, "max_acu": 2}
        ),
        ["database.serverless_v2.min_acu: 0 (auto-pause) needs a newer engine than 16.1 (got 0.0)", "16.3 or later"],
    ),
    (
        "autoscaling with no target at all",
        lambda d: with_(
            d,
            "service.autoscaling",
            {"cpu_target_percent": None, "memory_target_percent": None, "requests_per_task_per_minute": None},
        ),
        ["service.autoscaling.cpu_target_percent: memory_target_percent and requests_per_task_per_minute are all null"],
    ),
    (
        "DR in the primary region",
        lambda d: with_(d, "dr", {"region": "eu-west-1", "posture": "backup_restore"}),
        ["dr.region: is the primary region (got 'eu-west-1'); choose another region for DR"],
    ),
    (
        "DR VPC overlapping the primary",
        lambda d: with_(
            d,
            "dr",
            {
                "region": "eu-central-1",
                "posture": "backup_restore",
                "networking": {"vpc_cidr": d["networking"].get("vpc_cidr", "10.0.0.0/16")},
            },
        ),
        ["dr.networking.vpc_cidr: overlaps the primary VPC"],
    ),
    (
        "DR ALB without a certificate of its region",
        lambda d: with_(
            with_(d, "database.serverless_v2", {"min_acu": 0.5, "max_acu": 2}),
            "dr",
            {"region": "eu-central-1", "posture": "pilot_light"},
        ),
        ["dr.certificate_arn: is required: the DR ALB serves HTTPS like the primary, with a certificate in eu-central"],
    ),
    (
        "DR certificate of another region",
        lambda d: with_(
            d,
            "dr",
            {
                "region": "eu-central-1",
                "posture": "backup_restore",
                "certificate_arn": CERTIFICATE.format(region="eu-west-1"),
            },
        ),
        ["dr.certificate_arn: is in region eu-west-1, but it is used in eu-central-1"],
    ),
    (
        "failover with nothing to fail over to",
        lambda d: with_(
            d,
            "dr",
            {
                "region": "eu-central-1",
                "posture": "backup_restore",
                "failover": {"hosted_zone_id": "Z123EXAMPLE", "record_name": "app.example.com"},
            },
        ),
        ["dr.failover: has no DR load balancer to fail over to with backup_restore"],
    ),
    (
        "auto-pause in a global database",
        lambda d: with_(
            with_(d, "database.serverless_v2", {"min_acu": 0, "max_acu": 2}),
            "dr",
            {
                "region": "eu-central-1",
                "posture": "pilot_light",
                "certificate_arn": CERTIFICATE.format(region="eu-central-1"),
            },
        ),
        ["database.serverless_v2.min_acu: 0 (auto-pause) is not available to an Aurora global database member"],
    ),
    (
        "DNS failover behind a listener Route 53's health checkers cannot reach",
        lambda d: with_(
            with_(d, "load_balancer.ingress_cidrs", ["203.0.113.0/24"]),
            "dr",
            {
                "region": "eu-central-1",
                "posture": "pilot_light",
                "certificate_arn": CERTIFICATE.format(region="eu-central-1"),
                "failover": {"hosted_zone_id": "Z123EXAMPLE", "record_name": "app.example.com"},
            },
        ),
        ["dr.failover: needs Route 53's health checkers to reach the production listener", "add 0.0.0.0/0"],
    ),
    (
        "load test budget the rollback alarm pre-empts",
        lambda d: with_(d, "deployment.load_test", {"max_p99_ms": 5000}),
        [
            "deployment.load_test.max_p99_ms: is above the rollback alarm's p99 of 2000 ms",
            "(got 5000); set max_p99_ms to 2000 or less",
        ],
    ),
    (
        "prod-looking environment without production rules",
        lambda d: with_(d, "environment", "prod"),
        ["production: is false for environment 'prod' (got False); set production: true"],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_with_path_value_and_fix(tmp_path: Path, mutate: Any, expected: list[str]) -> None:
    message = problems_for(tmp_path, mutate(base()))
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    for line in message.splitlines():
        assert line.startswith(f"{tmp_path / 'env.yaml'}: ") or line.startswith("env.yaml: ") or ": " in line
        assert "; " in line, f"no fix given: {line}"


def test_at_least_twenty_bad_configs_are_covered() -> None:
    assert len(BAD_CONFIGS) >= 20


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "the file is empty; start from a copy of config/dev.yaml"),
        ("# only a comment\n", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping of sections, not a list"),
        ("just a string\n", "the top level must be a mapping of sections, not text"),
        ("project: [unclosed\n", "is not valid YAML at line 2"),
        ("project: a\nproject: b\n", "has the key 'project' twice (at line 2, column 1); keep only one"),
    ],
    ids=["empty", "comment only", "list", "scalar", "syntax error", "duplicate key"],
)
def test_unreadable_files_are_refused(tmp_path: Path, raw: str, expected: str) -> None:
    assert expected in problems_for(tmp_path, None, raw=raw)


def test_missing_file_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    choices = ", ".join(shipped_environments())
    assert f"file not found; create it or pick one of: {choices}" in caught.value.render()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = with_(with_(with_(base(), "colour", 1), "service.desired_count", -1), "networking.az_count", 1)
    lines = problems_for(tmp_path, data).splitlines()
    assert len(lines) == 3
    assert {line.split(": ")[1] for line in lines} == {"colour", "service.desired_count", "networking.az_count"}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("database.deletion_protection", False, "database.deletion_protection: must be true in production (got False)"),
        ("database.instance_count", 1, "database.instance_count: must be at least 2 in production"),
        ("networking.az_count", 2, "networking.az_count: must be at least 3 in production (got 2)"),
        (
            "networking.nat_mode",
            "single",
            "networking.nat_mode: must be per_az in production (a single NAT is a single point of failure) (got 'single')",  # noqa: E501
        ),
        ("load_balancer.certificate_arn", None, "load_balancer.certificate_arn: is required in production"),
        ("database.skip_final_snapshot", True, "database.skip_final_snapshot: must be false in production"),
        ("deployment.auto_rollback", False, "deployment.auto_rollback: must be true in production"),
        ("state", None, "state: is required in production"),
    ],
)
def test_production_safety_rules(tmp_path: Path, path: str, value: Any, expected: str) -> None:
    assert expected in problems_for(tmp_path, with_(prod_base(), path, value))


def test_production_databases_never_pause(tmp_path: Path) -> None:
    data = prod_base()
    data["database"] = {k: v for k, v in data["database"].items() if k != "instance_class"}
    data["database"]["serverless_v2"] = {"min_acu": 0, "max_acu": 8}
    message = problems_for(tmp_path, data)
    assert "database.serverless_v2.min_acu: 0 (auto-pause) is not allowed in production" in message
    assert "set database.serverless_v2.min_acu: 0.5 or more" in message


def test_defaults_fill_everything_but_the_essentials() -> None:
    config = EnvironmentConfig.model_validate(
        {"project": "shop", "environment": "qa", "account_id": "123456789012", "pipeline": {"repository": "g/shop"}}
    )
    assert config.networking.az_count == 3
    assert config.load_balancer.effective_prod_port == 80
    assert config.service.health_check_path == "/ready"
    assert config.deployment.traffic.type == "all_at_once"
    assert config.deployment.approval_timeout_minutes is None
    assert config.availability_zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def sections(annotation: Any, seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """Every model the schema reaches from ``annotation``: nested, optional, in lists, maps and unions."""
    seen = set() if seen is None else seen
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            for field in annotation.model_fields.values():
                sections(field.annotation, seen)
    else:
        for argument in typing.get_args(annotation):
            sections(argument, seen)
    return seen


def undocumented(root: type[BaseModel]) -> list[str]:
    return sorted(
        f"{model.__name__}.{name}"
        for model in sections(root)
        for name, info in model.model_fields.items()
        if not info.description
    )


def test_every_field_documents_itself() -> None:
    """A user reads defaults from the schema: every field of every section, however deep, says what it does."""
    assert len(sections(EnvironmentConfig)) >= 20, "the walk reaches the nested and optional sections"
    assert undocumented(EnvironmentConfig) == []


def test_an_undocumented_field_deep_in_an_optional_section_is_found() -> None:
    """Control: a field without a description inside an optional list of a nested section."""

    class Leaf(BaseModel):
        quiet: int = 1

    class Middle(BaseModel):
        leaves: tuple[Leaf, ...] | None = Field(None, description="documented")

    class Root(BaseModel):
        middle: dict[str, Middle] = Field(default_factory=dict, description="documented")

    assert undocumented(Root) == ["Leaf.quiet"]


def test_subnets_are_carved_without_overlap() -> None:
    config = load_config(ROOT / "config" / "prod.yaml")
    subnets = [s for tier in config.networking.tiers.values() for s in tier]
    assert len(subnets) == 9
    assert all(a == b or not a.overlaps(b) for a in subnets for b in subnets)
    assert all(s.subnet_of(config.networking.vpc_cidr) for s in subnets)


def test_fargate_table_matches_aws_limits() -> None:
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[1024][0] == 2048 and FARGATE_SIZES[1024][-1] == 8192
    assert FARGATE_SIZES[16384][-1] == 122880


def test_keys_that_would_break_the_one_line_format_are_quoted(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: a key with a control character split the message in two."""
    message = problems_for(tmp_path, with_(base(), "networking", {"\r": None, "a.b": 1}))
    assert "networking.'\\r': is not a known key" in message
    assert "networking.'a.b': is not a known key" in message
    assert len(message.splitlines()) == 2
