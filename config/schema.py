"""The config schema: everything a user may vary, with its default, in one place.

Models here check what people write. They are frozen and reject unknown keys. Cross-field
rules report every problem they find, each with its own key path and fix (see ``problems``).
Nothing in this file imports cdktf or the AWS provider, so a bad config fails in well under
a second.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from config import arns, aws_names, commands, engines, formats, naming, redact, regions, schedules, subnets, tag_rules
from config.naming import PhysicalName, ResourceNames
from config.problems import Problem, raise_if_any


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, data: object) -> object:
        """Pydantic reads true as 1 for a number and 1 as true for a boolean, and YAML reads yes, on
        and true as true: ``desired_count: yes`` would mean one task. A boolean given to a number
        field, or a number to a boolean field, is passed on as what the user wrote, which then fails
        as "not a whole number" or "not true or false" along with every other problem."""
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: (
                Written(value)
                if key in fields
                and (
                    (isinstance(value, bool) and _is_number(fields[key].annotation))
                    or (
                        isinstance(value, int | float)
                        and not isinstance(value, bool)
                        and _is_bool(fields[key].annotation)
                    )
                )
                else value
            )
            for key, value in data.items()
        }


class Written:
    """A value of the wrong kind, kept as the user wrote it so that validation refuses it."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return str(self.value).lower() if isinstance(self.value, bool) else str(self.value)

    __repr__ = __str__


def _is_number(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return all(isinstance(arg, int) and not isinstance(arg, bool) for arg in args)
    return any(_is_number(arg) for arg in args)


def _is_bool(annotation: object) -> bool:
    return annotation is bool or any(arg is bool for arg in get_args(annotation))


# ---------------------------------------------------------------------------------------------
# Constants AWS imposes (data, not logic).
# ---------------------------------------------------------------------------------------------

#: Valid Fargate task sizes: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


_SECRET_LOOKING = redact.SECRET_NAME
#: Variables the stack sets in the container (modules/stack.py: the port, the shutdown budget, the
#: database connection); a config value for one would be silently replaced.
RESERVED_ENVIRONMENT = frozenset({"PORT", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS"})
#: Prefixes the stack and the runtime own: how the app reaches its database (DB_*: a config that
#: set DB_SSLMODE=disable or DB_USER would undo least privilege or TLS), and what AWS sets (AWS_*).
RESERVED_ENVIRONMENT_PREFIXES = ("DB_", "AWS_", "ECS_")

#: ALB security policies that negotiate TLS 1.3 and keep forward secrecy on every cipher they
#: allow, strictest first; the first is the default. The Ext and TLS 1.0/1.1 variants add ciphers
#: without forward secrecy or older protocols and are refused.
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
TlsPolicy = Literal[
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
]
TLS_POLICIES: tuple[str, ...] = get_args(TlsPolicy)
#: The restricted ones production requires: TLS 1.3 only, or TLS 1.2 with AEAD ECDHE ciphers only.
PRODUCTION_TLS_POLICIES = TLS_POLICIES[:4]
#: A year: what the log retention rules of production ask for (audit trails outlive an incident review).
PRODUCTION_MIN_LOG_RETENTION_DAYS = 365
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACM_ARN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"
_CONNECTION_ARN = r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
_WAF_ARN = r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+$"

Port = Annotated[int, Field(ge=1, le=65535)]


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        nearest = min(LOG_RETENTION_DAYS, key=lambda allowed: abs(allowed - value))
        raise ValueError(
            f"CloudWatch Logs does not accept this retention; use {nearest} "
            f"(or another of {', '.join(map(str, LOG_RETENTION_DAYS))})"
        )
    return value


#: Amazon ECS API Reference, DeploymentConfiguration: bakeTimeInMinutes, canaryBakeTimeInMinutes and
#: stepBakeTimeInMinutes are 0 to 1440; LinearConfiguration: stepPercent is 3.0 to 100.0.
ECS_MAX_BAKE_MINUTES = 1440
ECS_MIN_LINEAR_PERCENT = 3
#: CodeBuild stops a build after 8 hours (API_CreateProject, timeoutInMinutes 5 to 2160 for some
#: fleets, 480 on demand: https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html).
#: The ECS controller's release step (modules/ecs_release.py) starts a release and waits for it.
CODEBUILD_MAX_TIMEOUT_MINUTES = 480
#: The release step's own work before it waits: registering the revision, updating the service.
RELEASE_STEP_START_MINUTES = 10
#: A rolling release: new tasks start, pass their health checks, old ones drain.
ROLLING_RELEASE_MINUTES = 60
#: An ECS-native blue/green release, besides its shift and bake: green's tasks start, the hooks run.
ECS_BLUE_GREEN_START_MINUTES = 30
#: Amazon VPC User Guide, "Amazon VPC quotas": inbound rules per security group (adjustable; the default).
SECURITY_GROUP_RULES = 60
#: A KMS key id (a UUID, or "mrk-" and 32 hex digits for a multi-Region key) or an alias name.
KMS_KEY_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias/[A-Za-z0-9/_-]+"


def _refuse_all(found: list[tuple[str, str]], value: object) -> None:
    """Raise every (what, fix) of one field at once (a ValueError carries one message only)."""
    raise_if_any(Problem((), what, fix, value) for what, fix in found)


def _known_region(value: str) -> str:
    if regions.get(value) is None:
        raise ValueError(f"is not an AWS region; {regions.unknown_region_fix(value)}")
    return value


def _region(name: str) -> regions.Region:
    region = regions.get(name)
    assert region is not None, "validated by _known_region"
    return region


def _zone_problems(
    region_name: str, networking: NetworkingConfig, region_path: tuple[str, ...], at: tuple[str, ...]
) -> Iterator[Problem]:
    """The AZs a VPC spreads over exist in its region (config/data/regions.json)."""
    region = _region(region_name)
    written = networking.model_fields_set
    if networking.az_count > region.az_count:
        got: object
        if "az_count" in written:
            path, got, fix = (*at, "az_count"), networking.az_count, f"use {region.az_count} or fewer"
        else:
            path, got = region_path, region_name
            fix = f"set {'.'.join(at)}.az_count: {region.az_count}, or choose a region with more zones"
        yield Problem(
            path,
            f"{region_name} has {region.az_count} availability zones, but {'.'.join(at)}.az_count is "
            f"{networking.az_count}{'' if 'az_count' in written else ' (the default)'}",
            fix,
            got,
        )
    zones = networking.availability_zones
    if zones is None:
        if region.zones_vary_by_account:
            yield Problem(
                region_path,
                f"names zones differently in each account ({', '.join(region.zone_names)} exist in some)",
                f"list {'.'.join(at)}.availability_zones: the zones `aws ec2 describe-availability-zones --region "
                f"{region_name}` shows for your account",
                region_name,
            )
        return
    if len(zones) != networking.az_count or len(set(zones)) != len(zones):
        yield Problem(
            (*at, "availability_zones"),
            f"must list {networking.az_count} distinct zones ({'.'.join(at)}.az_count)",
            f"list one zone per AZ, e.g. {list(region.default_zones(networking.az_count))}, or remove the key",
            list(zones),
        )
    for index, zone in enumerate(zones):
        if zone not in region.zone_names:
            close = difflib.get_close_matches(zone, region.zone_names, n=1)
            yield Problem(
                (*at, "availability_zones", index),
                f"is not a zone of region {region_name}",
                f"use {close[0]!r}" if close else f"use one of {', '.join(region.zone_names)}",
                zone,
            )


def _value_at(config: BaseModel, path: tuple[str | int, ...]) -> object:
    value: object = config
    for part in path:
        value = value[part] if isinstance(part, int) else getattr(value, part)  # type: ignore[index]
    return value


def _label(physical: PhysicalName) -> str:
    what = physical.label or aws_names.RULES[physical.kind].what
    return f"{what} ({physical.where})" if physical.where else what


def _name_fix(physical: PhysicalName, finding: aws_names.Finding, value: object) -> str:
    keys = [".".join(map(str, path)) for path in physical.made_of]
    if finding.excess:
        if physical.made_of[0] == ("project",):
            return f"shorten project or environment by {finding.excess} characters"
        return f"shorten {keys[0]} by {finding.excess} characters"
    fix = f"change {' or '.join(keys[:2])}: the {aws_names.RULES[physical.kind].what} must {finding.remedy}"
    if physical.made_of[0] == ("project",) and isinstance(value, str):
        # The usual culprit: a project ending in a hyphen, doubling one, or taking a reserved prefix.
        repaired = re.sub("-+", "-", value).strip("-")
        for prefix in ("internal-", "xn-", "sthree-", "amzn-s3-demo-"):
            repaired = repaired.removeprefix(prefix)
        if repaired != value and re.fullmatch(formats.PROJECT.pattern, repaired):
            fix += f", e.g. project: {repaired}"
    return fix


def _duplicates(
    values: list[str], path: tuple[str | int, ...], leaf: str | None, what: str, why: str, *, fold_case: bool = True
) -> list[Problem]:
    """A problem for each value that repeats an earlier one (ignoring case unless ``fold_case`` is False):
    two constructs would get the same name, which only jsii would notice, at synthesis, with a traceback."""
    found: list[Problem] = []
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        key = value.lower() if fold_case else value
        if key in first:
            same = "repeats" if values[first[key]] == value else "differs only in case from"
            found.append(
                Problem(
                    (*path, index, *((leaf,) if leaf else ())),
                    f"{same} the {what} at index {first[key]} ({values[first[key]]!r}): {why}",
                    "remove it, or give it a name of its own",
                    value,
                )
            )
        else:
            first[key] = index
    return found


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


class NetworkingConfig(Section):
    """The VPC: public subnets (ALB, NAT), private subnets (tasks), database subnets (no route out)."""

    vpc_cidr: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("10.0.0.0/16"), description="VPC address range; /16 to /24."
    )
    az_count: int = Field(3, ge=2, le=6, description="Availability zones to spread over; production needs 3.")
    nat_mode: Literal["per_az", "single"] = Field(
        "per_az",
        description="per_az: one NAT gateway per AZ (survives an AZ loss); single: one NAT for the VPC (cheaper).",
    )
    subnet_prefix_length: int = Field(
        20, ge=16, le=28, description="Size of each automatically carved subnet (a /20 holds 4,091 addresses)."
    )
    public_subnets: tuple[ipaddress.IPv4Network, ...] | None = Field(
        None, description="Explicit public subnet CIDRs, one per AZ; default: carved from vpc_cidr."
    )
    private_subnets: tuple[ipaddress.IPv4Network, ...] | None = Field(
        None, description="Explicit private (task) subnet CIDRs, one per AZ; default: carved from vpc_cidr."
    )
    database_subnets: tuple[ipaddress.IPv4Network, ...] | None = Field(
        None, description="Explicit database subnet CIDRs, one per AZ; default: carved from vpc_cidr."
    )
    availability_zones: tuple[str, ...] | None = Field(
        None,
        description="AZ names to use, az_count of them; default: the region's a, b, c... zones. Set it in regions whose zone letters differ (e.g. ap-northeast-1).",  # noqa: E501
    )
    interface_endpoints: bool = Field(
        True,
        description="Interface endpoints for what the tasks call (ECR, CloudWatch Logs, and Secrets Manager or SSM "
        "where they read secrets in this region, and SQS, SNS, SSM or KMS where a service's grants call them), each "
        "with a policy admitting only the stack's roles on the account's (or the granted) resources; the tasks' HTTPS "
        "then reaches only these endpoints and S3's gateway, not the internet. "
        "false: through NAT instead, saving each endpoint's hourly charge per AZ (about 0.01 USD).",
    )
    flow_log_retention_days: int = Field(365, description="Retention of VPC flow logs in CloudWatch Logs.")

    _check_retention = field_validator("flow_log_retention_days")(_log_retention)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= value.prefixlen <= 24:
            size = "larger" if value.prefixlen < 16 else "smaller"
            nearest = ipaddress.IPv4Network(
                f"{value.network_address}/{min(max(value.prefixlen, 16), 24)}", strict=False
            )
            raise ValueError(
                f"is {size} than AWS allows for a VPC (/16 to /24); use a prefix length in that range, e.g. {nearest}"
            )
        return value

    @cached_property
    def tiers(self) -> dict[str, tuple[ipaddress.IPv4Network, ...]]:
        """Subnets of each tier ('public', 'private', 'database'), one per AZ, listed or carved."""
        plan = subnets.carve(self.vpc_cidr, self.subnet_prefix_length, self._listed, self.az_count)
        assert plan is not None, "validated: the carved subnets fit"
        return plan

    @property
    def _listed(self) -> dict[str, tuple[ipaddress.IPv4Network, ...] | None]:
        return {tier: getattr(self, f"{tier}_subnets") for tier in subnets.TIERS}

    @model_validator(mode="after")
    def _subnets_fit(self) -> NetworkingConfig:
        raise_if_any(
            subnets.problems(
                self.vpc_cidr, self.subnet_prefix_length, self._listed, self.az_count, set(self.model_fields_set)
            )
        )
        return self


#: PostgreSQL's reserved key words (PostgreSQL documentation, Appendix C, "SQL Key Words": the
#: ones marked reserved). RDS refuses them as the initial database name or master user name.
POSTGRES_RESERVED = frozenset(
    {
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    }
)
#: Role names RDS keeps for itself (Amazon RDS User Guide, "Master user account privileges").
RDS_RESERVED_USERS = frozenset({"rdsadmin", "rdsrepladmin", "rdstopmgr", "rds_superuser"})
#: Aurora Serverless v2 capacity moves in steps of half an ACU (Aurora User Guide,
#: "Aurora Serverless v2 capacity").
ACU_STEP = 0.5


def _acu(value: float) -> float:
    if value % ACU_STEP:
        lower = value // ACU_STEP * ACU_STEP
        raise ValueError(
            f"is not a multiple of {ACU_STEP} ACU (Aurora Serverless v2 scales in half-ACU steps); "
            f"use {lower:g} or {lower + ACU_STEP:g}"
        )
    return value


class ServerlessV2Capacity(Section):
    min_acu: float = Field(
        0.5,
        ge=0,
        le=256,
        description="Minimum Aurora capacity units, in steps of 0.5; 0 pauses the database when no connection is "
        "open (needs Aurora PostgreSQL 13.15, 14.12, 15.7, 16.3 or later; not in production).",
    )
    max_acu: float = Field(
        4,
        ge=1,
        le=256,
        description="Maximum Aurora capacity units, in steps of 0.5 (above 128 needs 13.13, 14.10, 15.5, 16.1 or "
        "later).",
    )
    seconds_until_auto_pause: int = Field(
        300,
        ge=300,
        le=86_400,
        description="With min_acu 0: idle time before the database pauses; the first connection after "
        "that waits for it to resume (about 15 seconds).",
    )

    _check_steps = field_validator("min_acu", "max_acu")(_acu)

    @property
    def auto_pause(self) -> bool:
        return self.min_acu == 0

    @model_validator(mode="after")
    def _ordered(self) -> ServerlessV2Capacity:
        if self.max_acu < self.min_acu:
            raise_if_any(
                [
                    Problem(
                        ("max_acu",),
                        f"is below min_acu ({self.min_acu:g})",
                        f"set max_acu to {self.min_acu:g} or more",
                        self.max_acu,
                    )
                ]
            )
        return self


def _engine_version(value: str) -> str:
    if value not in engines.versions():
        nearest = engines.nearest_version(value)
        raise ValueError(
            f"is not an Aurora PostgreSQL version AWS offers (as of {engines.compiled()}); use {nearest!r} "
            f"(versions: config/data/aurora_postgresql.json)"
        )
    return value


def _instance_class(value: str) -> str:
    if value not in engines.instance_classes():
        nearest = engines.nearest(value, engines.instance_classes()) or "db.r6g.large"
        raise ValueError(
            f"is not an Aurora PostgreSQL instance class (as of {engines.compiled()}); use {nearest!r} "
            f"(classes: config/data/aurora_postgresql.json)"
        )
    return value


def _not_reserved(value: str, *, users: bool) -> str:
    if value in POSTGRES_RESERVED:
        raise ValueError(f"is a word PostgreSQL reserves; use another name, e.g. {value}_1 or app")
    if users and (value in RDS_RESERVED_USERS or value.startswith("pg_")):
        raise ValueError("is a role name RDS or PostgreSQL keeps for itself; use another, e.g. app_admin")
    return value


class DatabaseConfig(Section):
    """Aurora PostgreSQL. The master password is created and rotated by Secrets Manager (never in code or state)."""

    engine_version: str = Field(
        "16",
        description="Aurora PostgreSQL version: the major version (16), so AWS's automatic minor upgrades never "
        "meet a pinned minor that the next apply would try to downgrade to; a pinned minor (16.4) needs "
        "auto_minor_version_upgrade: false, except in a DR global database, whose members all run the "
        "version given here (minor upgrades then go through the global cluster; README). One of "
        "config/data/aurora_postgresql.json.",
        json_schema_extra={"enum": list[JsonValue](engines.versions())},
    )
    auto_minor_version_upgrade: bool = Field(
        True,
        description="Let AWS apply minor engine upgrades in the maintenance window. A DR global database "
        "is upgraded by raising engine_version (its global cluster upgrades every member; Terraform leaves "
        "the members' versions to it).",
    )
    instance_class: str = Field(
        "db.r6g.large",
        description="Instance class; db.serverless when serverless_v2 is set.",
        json_schema_extra={"enum": list[JsonValue](engines.instance_classes())},
    )
    serverless_v2: ServerlessV2Capacity | None = Field(
        None, description="Aurora Serverless v2 capacity; when set, instances are db.serverless."
    )
    instance_count: int = Field(2, ge=1, le=15, description="Writer plus readers, spread over the AZs.")
    password_version: int = Field(
        1,
        ge=1,
        description="Only with a DR global database (whose members cannot have RDS manage the password): "
        "Secrets Manager generates the password at apply time, write-only, never in state; raise this "
        "number to rotate it.",
    )
    database_name: str = Field("app", pattern=formats.DATABASE_NAME.pattern, description="Initial database.")
    master_username: str = Field(
        "app_admin",
        pattern=formats.MASTER_USERNAME.pattern,
        description="Master user name: the migration task and break-glass only; the service never uses it.",
    )
    app_username: str = Field(
        "app_user",
        pattern=formats.DATABASE_NAME.pattern,
        description="The service's own database role: data access only (no DDL), signed in with IAM database "
        "authentication (a fresh token per connection; the task role may connect as exactly this user). The "
        "migration task creates it.",
    )
    owner_role: str = Field(
        "app_owner",
        pattern=formats.DATABASE_NAME.pattern,
        description="Role (no login) that owns the schema's tables; migrations run as it.",
    )
    backup_retention_days: int = Field(7, ge=1, le=35, description="Automated backup retention.")
    preferred_backup_window: str = Field(
        "03:00-04:00",
        description="Daily backup window, hh24:mi-hh24:mi in UTC, at least 30 minutes, apart from the maintenance "
        "window.",
    )
    preferred_maintenance_window: str = Field(
        "sun:04:30-sun:05:30",
        description="Weekly maintenance window, ddd:hh24:mi-ddd:hh24:mi in UTC (days in lower case), at least 30 "
        "minutes.",
    )
    deletion_protection: bool = Field(True, description="Block deleting the cluster; production requires it.")
    skip_final_snapshot: bool = Field(False, description="Skip the snapshot taken when the cluster is deleted.")
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        60, description="Enhanced Monitoring interval; 0 turns it off."
    )
    performance_insights: bool = Field(True, description="Performance Insights, encrypted with the database key.")
    log_retention_days: int = Field(365, description="Retention of the exported PostgreSQL log.")

    _check_retention = field_validator("log_retention_days")(_log_retention)
    _check_version = field_validator("engine_version")(_engine_version)
    _check_class = field_validator("instance_class")(_instance_class)

    @field_validator("database_name")
    @classmethod
    def _database_name(cls, value: str) -> str:
        return _not_reserved(value, users=False)

    @field_validator("master_username", "app_username", "owner_role")
    @classmethod
    def _role_name(cls, value: str) -> str:
        return _not_reserved(value, users=True)

    @property
    def effective_instance_class(self) -> str:
        return "db.serverless" if self.serverless_v2 is not None else self.instance_class

    @model_validator(mode="after")
    def _distinct_roles(self) -> DatabaseConfig:
        seen: dict[str, str] = {}
        problems = []
        for key in ("master_username", "owner_role", "app_username"):
            value = getattr(self, key)
            if value in seen:
                problems.append(
                    Problem(
                        (key,),
                        f"is the same role as {seen[value]}: the service's role must not own tables or be the master",
                        f"give {key} a name of its own, e.g. {value}_2",
                        value,
                    )
                )
            seen[value] = key
        raise_if_any(problems)
        return self

    @model_validator(mode="after")
    def _capacity_mode(self) -> DatabaseConfig:
        problems: list[Problem] = []
        if (
            self.serverless_v2 is not None
            and "instance_class" in self.model_fields_set
            and self.instance_class != "db.serverless"
        ):
            problems.append(
                Problem(
                    ("instance_class",),
                    "conflicts with serverless_v2",
                    "remove instance_class (Serverless v2 instances are db.serverless) or remove serverless_v2",
                    self.instance_class,
                )
            )
        if self.serverless_v2 is None and self.instance_class == "db.serverless":
            problems.append(
                Problem(
                    ("serverless_v2",),
                    "is required when instance_class is db.serverless",
                    "add serverless_v2: {min_acu: 0.5, max_acu: 4}",
                    None,
                )
            )
        capacity = self.serverless_v2
        since = engines.max_acu_256_since(self.engine_version)
        if (
            capacity is not None
            and capacity.max_acu > 128
            and (
                since is None
                or engines.version_key(engines.effective(self.engine_version)) < engines.version_key(since)
            )
        ):
            problems.append(
                Problem(
                    ("serverless_v2", "max_acu"),
                    f"is over 128, which Aurora PostgreSQL {self.engine_version} cannot reach",
                    f"set max_acu to 128 or less, or engine_version to {since or '16.1'} or later",
                    capacity.max_acu,
                )
            )
        problems += self._window_problems()
        raise_if_any(problems)
        return self

    def _window_problems(self) -> Iterator[Problem]:
        backup_problems, backup = schedules.daily_window(self.preferred_backup_window)
        maintenance_problems, maintenance = schedules.weekly_window(self.preferred_maintenance_window)
        for key, found, value in (
            ("preferred_backup_window", backup_problems, self.preferred_backup_window),
            ("preferred_maintenance_window", maintenance_problems, self.preferred_maintenance_window),
        ):
            for what, fix in found:
                yield Problem((key,), what, fix, value)
        if backup is not None and maintenance is not None and schedules.windows_overlap(backup, maintenance):
            # RDS: "Must not conflict with the preferred maintenance window" (CreateDBCluster).
            key = (
                "preferred_backup_window"
                if "preferred_backup_window" in self.model_fields_set
                else "preferred_maintenance_window"
            )
            other = "maintenance" if key == "preferred_backup_window" else "backup"
            yield Problem(
                (key,),
                f"overlaps the {other} window ({getattr(self, f'preferred_{other}_window')})",
                "move one of them so they do not meet, e.g. backups 03:00-04:00 and maintenance sun:04:30-sun:05:30",
                getattr(self, key),
            )


class ScheduledScaling(Section):
    """Change the task range on a schedule, e.g. non-production down to zero at night."""

    name: str = Field(..., pattern=formats.SCHEDULE_NAME.pattern, description="Name of the scheduled action.")
    schedule: str = Field(
        ...,
        description="cron(minutes hours day-of-month month day-of-week year), rate(value unit) or "
        "at(yyyy-mm-ddThh:mm:ss), as Application Auto Scaling reads it.",
        json_schema_extra={"pattern": r"^(cron|rate|at)\(.+\)$"},
    )
    timezone: str = Field("UTC", description="IANA time zone of the schedule, e.g. Europe/Amsterdam.")
    min_tasks: int = Field(..., ge=0, le=1000, description="The service's minimum task count from this time on.")
    max_tasks: int = Field(..., ge=0, le=1000, description="The service's maximum task count from this time on.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        _refuse_all(schedules.schedule(value), value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        _refuse_all(schedules.time_zone(value), value)
        return value


class AutoscalingConfig(Section):
    """Application Auto Scaling of the service's task count; it follows the service through deployments."""

    min_tasks: int = Field(2, ge=0, le=1000, description="Fewest tasks scaling in leaves running.")
    max_tasks: int = Field(10, ge=1, le=1000, description="Most tasks scaling out starts.")
    cpu_target_percent: int | None = Field(60, ge=10, le=95, description="Target average CPU; null: not used.")
    memory_target_percent: int | None = Field(None, ge=10, le=95, description="Target average memory; null: not used.")
    requests_per_task_per_minute: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Target ALB requests per running task per minute; null: not used. Counted on the load "
        "balancer over the service's running tasks, because the target group serving production alternates "
        "between blue and green.",
    )
    scale_in_cooldown_seconds: int = Field(
        300, ge=0, le=3600, description="Wait after a scale-in before the next scale-in (target tracking)."
    )
    scale_out_cooldown_seconds: int = Field(
        60, ge=0, le=3600, description="Wait after a scale-out before the next scale-out (target tracking)."
    )
    schedules: tuple[ScheduledScaling, ...] = Field((), description="Scheduled changes of min/max tasks.")

    @model_validator(mode="after")
    def _ranges(self) -> AutoscalingConfig:
        problems = []
        if self.max_tasks < self.min_tasks:
            problems.append(
                Problem(
                    ("max_tasks",),
                    f"is below min_tasks ({self.min_tasks})",
                    "raise max_tasks or lower min_tasks",
                    self.max_tasks,
                )
            )
        if (self.cpu_target_percent, self.memory_target_percent, self.requests_per_task_per_minute) == (None,) * 3:
            problems.append(
                Problem(
                    ("cpu_target_percent",),
                    "memory_target_percent and requests_per_task_per_minute are all null: nothing would scale",
                    "set at least one target",
                    None,
                )
            )
        problems += _duplicates(
            [schedule.name for schedule in self.schedules],
            ("schedules",),
            "name",
            "schedule name",
            "each scheduled action is named after its schedule (AWS keeps one action per name)",
        )
        for index, schedule in enumerate(self.schedules):
            if schedule.max_tasks < schedule.min_tasks:
                problems.append(
                    Problem(
                        ("schedules", index, "max_tasks"),
                        f"is below min_tasks ({schedule.min_tasks})",
                        "raise max_tasks",
                        schedule.max_tasks,
                    )
                )
        raise_if_any(problems)
        return self


class CapacityConfig(Section):
    """How tasks are spread over Fargate and Fargate Spot (Spot is cheaper and can be reclaimed)."""

    fargate_base: int = Field(1, ge=0, le=100000, description="Tasks always on regular Fargate.")
    fargate_weight: int = Field(1, ge=0, le=1000, description="Relative share of regular Fargate beyond the base.")
    spot_weight: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Relative share of Fargate Spot; default 0 in production and with ARM64 (Fargate Spot runs "
        "X86_64 only), 3 elsewhere.",
    )


_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+(:[A-Za-z0-9_.-]*:[A-Za-z0-9_-]*:[A-Za-z0-9-]*)?$"
)
_PARAMETER_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")


class ServiceSecret(Section):
    """A secret the task receives as an environment variable, read by ECS when the task starts."""

    arn: str = Field(
        ...,
        description="A Secrets Manager secret's full ARN, as the console shows it (ending in six random "
        "characters; optionally with :json-key:version-stage:version-id, as ECS reads it) or an SSM "
        "parameter's ARN; the execution role may read exactly this.",
    )
    kms_key_arn: str | None = Field(
        None,
        description="The customer key it is encrypted with, if not AWS's own; the execution role may decrypt with it.",
    )

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not (_SECRET_ARN.fullmatch(value) or _PARAMETER_ARN.fullmatch(value)):
            raise ValueError(
                "is not a Secrets Manager secret or SSM parameter ARN; use "
                "arn:aws:secretsmanager:<region>:<account>:secret:<name> "
                "or arn:aws:ssm:<region>:<account>:parameter/<name>"
            )
        return value

    @field_validator("kms_key_arn")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY_ARN.fullmatch(value):
            raise ValueError("is not a KMS key ARN; use arn:aws:kms:<region>:<account>:key/<key id>")
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_arn(cls, value: object) -> object:
        return {"arn": value} if isinstance(value, str) else value

    @property
    def source(self) -> str:
        """What IAM authorises: the secret itself (ECS's :json-key suffixes are not part of it)."""
        if self.arn.split(":")[2] == "secretsmanager":
            return ":".join(self.arn.split(":")[:7])
        return self.arn


# --- grants: what a service's task role may do beyond the stack's own resources (issue 15) ------
# Each kind is a type of its own, told apart by ``type``; modules/grants.py turns them into IAM
# statements scoped to exactly the resource named. ARNs are checked against the stack's partition,
# region and account in EnvironmentConfig._grant_rules (which know them), with these rules:
# another partition or region is refused; another account only where the kind allows it and the
# grant says so (its resource policy must then grant the role too); no wildcard anywhere.

#: At most this many grants per service, and prefixes and paths of at most GRANT_TEXT characters:
#: the worst case packs into at most 4 managed policies of 6,144 characters each
#: (modules/grants.grant_documents; tests/test_grants.py renders it), within the 10 a role may have.
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MAX_GRANTS = 20
GRANT_TEXT = 256
#: Services that may use a key on the task's behalf (kms:ViaService).
KmsVia = Literal["s3", "sqs", "sns", "ssm", "secretsmanager"]
#: SSM Parameter Store: a name's first level cannot start with aws or ssm (any case); at most 15 levels.
#: https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html
SSM_MAX_LEVELS = 15
_SSM_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+/?")


def _wildcard_problem(field: str, value: str, what: str) -> Problem | None:
    found = sorted({c for c in value if c in arns.WILDCARDS})
    if not found:
        return None
    return Problem(
        (field,),
        f"contains {' '.join(repr(c) for c in found)}, which IAM reads as a wildcard or a variable: "
        f"the grant would reach every {what} it matches",
        f"name one {what} exactly (one grant each)",
        value,
    )


class S3Grant(Section):
    """Read or write the objects of one bucket, or of one prefix in it."""

    type: Literal["s3"] = Field(description="Objects of an S3 bucket.")
    bucket: str = Field(
        ...,
        description="The bucket's name, or its ARN (arn:aws:s3:::<name>). With interface endpoints the tasks reach "
        "S3 only through the VPC's gateway endpoint, which carries the stack region's buckets only: the bucket must be "
        "in that region.",
    )
    prefix: str | None = Field(
        None,
        min_length=1,
        max_length=GRANT_TEXT,
        description="Only keys starting with this text (literally: end it with / for a folder, e.g. uploads/); "
        "listing the bucket is limited to it too. Default: the whole bucket.",
    )
    access: Literal["read", "write", "read_write"] = Field(
        ..., description="read: get and list; write: put and delete; read_write: both."
    )
    account: str | None = Field(
        None,
        pattern=formats.ACCOUNT_ID.pattern,
        description="The account that owns the bucket (bucket names are global, so the grant holds only for a "
        "bucket of this account, s3:ResourceAccount); default: the stack's. Another account's bucket policy "
        "must grant the task role too.",
    )

    @property
    def name(self) -> str:
        return self.bucket.rsplit(":", 1)[-1] if self.bucket.startswith("arn:") else self.bucket

    def problems(self, partition: str) -> Iterator[Problem]:
        """Its shape and partition (a bucket has no region, and its account is ``account``)."""
        wildcard = _wildcard_problem("bucket", self.bucket, "bucket")
        if wildcard is not None:
            yield wildcard
        elif self.bucket.startswith("arn:"):
            arn = arns.parse(self.bucket)
            if arn is None or arn.service != "s3" or arn.region or arn.account or "/" in arn.resource:
                yield Problem(
                    ("bucket",),
                    "is not an S3 bucket ARN (a bucket's ARN has no region, account or key)",
                    f"write the bucket's name, or its ARN like arn:{partition}:s3:::my-bucket (keys go in prefix)",
                    self.bucket,
                )
            else:
                if arn.partition != partition:
                    yield Problem(
                        ("bucket",),
                        f"is in partition {arn.partition or '(empty)'}, but the stack's region is in {partition}",
                        f"use a bucket of partition {partition} (arn:{partition}:s3:::...)",
                        self.bucket,
                    )
                yield from self._name_problems()
        else:
            yield from self._name_problems()
        if self.prefix is None:
            return
        if any(c in arns.WILDCARDS for c in self.prefix):
            yield Problem(
                ("prefix",),
                "contains '*', '?' or '$', which IAM reads as a wildcard or a variable",
                "write the prefix without it: every key that starts with the prefix is granted",
                self.prefix,
            )
        elif self.prefix.startswith("/"):
            yield Problem(
                ("prefix",),
                "starts with /, which the keys S3's console and SDKs write do not",
                f"write it without the leading slash: {self.prefix.lstrip('/')!r}",
                self.prefix,
            )
        elif not self.prefix.isprintable():
            yield Problem(("prefix",), "contains a control character", "remove it", self.prefix)

    def _name_problems(self) -> Iterator[Problem]:
        for finding in aws_names.check("s3_bucket", self.name):
            yield Problem(
                ("bucket",),
                f"is not an S3 bucket name AWS accepts: it {finding.message}",
                f"write the bucket's name as S3 shows it (a bucket name must {finding.remedy})",
                self.bucket,
            )


class SqsGrant(Section):
    """Send to or receive from one SQS queue."""

    type: Literal["sqs"] = Field(description="An SQS queue.")
    queue: str = Field(..., description="The queue's ARN (arn:aws:sqs:<region>:<account>:<name>).")
    access: Literal["send", "receive", "send_receive"] = Field(
        ...,
        description="send: send messages; receive: receive, delete and change the visibility of messages; "
        "send_receive: both. A queue encrypted with a customer key also needs a kms grant (via sqs).",
    )
    cross_account: bool = Field(
        False, description="The queue belongs to another account, whose queue policy grants the task role too."
    )


class SnsGrant(Section):
    """Publish to one SNS topic."""

    type: Literal["sns"] = Field(description="An SNS topic.")
    topic: str = Field(
        ...,
        description="The topic's ARN (arn:aws:sns:<region>:<account>:<name>). A topic encrypted with a customer "
        "key also needs a kms grant (encrypt_decrypt, via sns).",
    )
    cross_account: bool = Field(
        False, description="The topic belongs to another account, whose topic policy grants the task role too."
    )


class SsmGrant(Section):
    """Read the parameters under one Parameter Store path of the stack's region and account."""

    type: Literal["ssm"] = Field(description="SSM Parameter Store parameters.")
    path: str = Field(
        ...,
        max_length=GRANT_TEXT,
        description="The path, e.g. /shop/api/: every parameter under it (and the path itself) may be read, by "
        "name or by path. SecureStrings under a customer key also need a kms grant (decrypt, via ssm).",
    )

    @property
    def name(self) -> str:
        """The path as IAM names it in a parameter ARN: without its leading and trailing slash."""
        return self.path.strip("/")

    def problems(self) -> Iterator[Problem]:
        wildcard = _wildcard_problem("path", self.path, "parameter")
        if wildcard is not None:
            yield Problem(
                wildcard.path,
                wildcard.message,
                "write the path without it: every parameter under the path is granted",
                self.path,
            )
            return
        if self.path.strip("/") == "":
            yield Problem(
                ("path",),
                "is the root of Parameter Store: it would grant every parameter of the account and region",
                "grant the path of this service's parameters, e.g. /shop/api/",
                self.path,
            )
            return
        if not _SSM_PATH.fullmatch(self.path):
            yield Problem(
                ("path",),
                "is not a Parameter Store path: levels of letters, digits, _ . and -, each after a /",
                "write it like /shop/api/ (a path of this account and region)",
                self.path,
            )
            return
        first = self.name.split("/")[0]
        if first.lower().startswith(("aws", "ssm")):
            yield Problem(
                ("path",),
                f"starts with {first!r}: AWS reserves names starting aws or ssm, so it holds no parameter of yours",
                "grant the path of your own parameters, e.g. /shop/api/",
                self.path,
            )
        levels = len(self.name.split("/"))
        if levels > SSM_MAX_LEVELS:
            yield Problem(
                ("path",),
                f"has {levels} levels; Parameter Store names have at most {SSM_MAX_LEVELS}",
                "grant a shorter path (every parameter under it is granted)",
                self.path,
            )


class KmsGrant(Section):
    """Use one KMS key to encrypt or decrypt, optionally only through one AWS service."""

    type: Literal["kms"] = Field(description="A KMS key.")
    key: str = Field(
        ...,
        description="The key's ARN (arn:aws:kms:<region>:<account>:key/<key id>); IAM does not accept an alias. The "
        "key is not the stack's: its own key policy must also allow this service's task role (by its ARN, or the "
        "account with IAM policies enabled), or KMS refuses every use whatever the grant says.",
    )
    use: Literal["encrypt", "decrypt", "encrypt_decrypt"] = Field(
        ...,
        description="encrypt: kms:Encrypt and kms:GenerateDataKey; decrypt: kms:Decrypt; encrypt_decrypt: all three.",
    )
    via: KmsVia | None = Field(
        None,
        description="Only through this service in the stack's region (kms:ViaService), e.g. sqs for an encrypted "
        "queue; default: directly too.",
    )
    cross_account: bool = Field(
        False, description="The key belongs to another account, whose key policy grants the task role too."
    )


class ServiceGrant(Section):
    """Call another service of the environment: its security group admits this service's tasks."""

    type: Literal["service"] = Field(description="Another service of this environment.")
    service: str = Field(..., pattern=formats.SERVICE_KEY.pattern, description="Its key under services:.")


Grant = Annotated[S3Grant | SqsGrant | SnsGrant | SsmGrant | KmsGrant | ServiceGrant, Field(discriminator="type")]
#: The grants whose resource is an ARN: its field, its kind, and the resource policy that must also
#: grant the role when it is another account's.
_ARN_GRANTS: dict[type[BaseModel], tuple[str, arns.ArnKind, str]] = {
    SqsGrant: ("queue", arns.SQS_QUEUE, "queue policy"),
    SnsGrant: ("topic", arns.SNS_TOPIC, "topic policy"),
    KmsGrant: ("key", arns.KMS_KEY_BY_ID, "key policy"),
}


def _arn_grant_problems(
    grant: SqsGrant | SnsGrant | KmsGrant, *, partition: str, region: str, account: str
) -> Iterator[Problem]:
    """The resource ARN of a queue, topic or key grant: no wildcard, the stack's partition and region,
    and the stack's account unless the grant says cross_account."""
    field, kind, policy = _ARN_GRANTS[type(grant)]
    value: str = getattr(grant, field)
    noun = kind.what.removeprefix("an ").removeprefix("a ").split(" ARN")[0]
    wildcard = _wildcard_problem(field, value, noun)
    if wildcard is not None:
        yield wildcard
        return
    if kind is arns.KMS_KEY_BY_ID and (arn := arns.parse(value)) is not None and arn.resource.startswith("alias/"):
        yield Problem(
            (field,),
            "is an alias ARN: in an IAM policy it names the alias, not the key behind it",
            f"use the key's ARN (aws kms describe-key --key-id {arn.resource} shows it)",
            value,
        )
        return
    for what, fix in arns.problems(value, kind, partition=partition, region=region, account=None):
        yield Problem((field,), what, fix, value)
    arn = arns.parse(value)
    if arn is not None and re.fullmatch(r"\d{12}", arn.account) and arn.account != account and not grant.cross_account:
        yield Problem(
            (field,),
            f"belongs to account {arn.account}, not the stack's {account}",
            f"use one in account {account}, or set cross_account: true once that account's {policy} grants "
            "this service's task role",
            value,
        )


class ServiceConfig(Section):
    """The Fargate service the pipeline deploys."""

    container_name: str = Field(
        "app",
        pattern=formats.CONTAINER_NAME.pattern,
        description="Container name in the task definition and appspec.",
    )
    container_port: Port = Field(8080, description="Port the container listens on.")
    cpu: int = Field(512, description="Task CPU units; with memory, a valid Fargate pair.")
    memory: int = Field(1024, description="Task memory (MiB); with cpu, a valid Fargate pair.")
    cpu_architecture: Literal["X86_64", "ARM64"] = Field(
        "X86_64", description="Task CPU architecture; the build image matches it."
    )
    desired_count: int = Field(2, ge=0, le=1000, description="Tasks to run.")
    health_check_path: str = Field(
        "/ready", pattern=formats.HEALTH_CHECK_PATH.pattern, description="Path the target groups probe (readiness)."
    )
    health_check_grace_period_seconds: int = Field(
        60,
        ge=0,
        le=2147483647,
        description="Seconds ECS ignores failing load balancer health checks of a new task while it starts.",
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables; secrets belong in secrets."
    )
    https_egress_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(
        (),
        description="Where the service's own code calls out over HTTPS (port 443) besides AWS, through NAT, e.g. "
        "[0.0.0.0/0] for public APIs. Default none: with interface endpoints the tasks reach only AWS's endpoints, "
        "S3 and the database.",
    )
    secrets: dict[str, ServiceSecret] = Field(
        default_factory=dict,
        description="Environment variables ECS fills from Secrets Manager or SSM Parameter Store at task start: "
        "NAME: <secret or parameter ARN>, or NAME: {arn: ..., kms_key_arn: ...} when a customer key encrypts it.",
    )
    grants: tuple[Grant, ...] = Field(
        (),
        max_length=MAX_GRANTS,
        description="What the task may reach beyond the stack's own resources, each scoped to the resource named: "
        "s3 (bucket, prefix, access), sqs (queue, access), sns (topic), ssm (path), kms (key, use, via), and "
        "service (another service's key: its security group admits this one's tasks). The IAM kinds become managed "
        "policies on the task role; with interface endpoints, each granted service's endpoint admits the granted "
        "calls of this task role (S3's gateway too), and an SQS, SNS, SSM or KMS (without via) grant adds that "
        "service's endpoint (an hourly charge per AZ).",
    )
    stop_timeout_seconds: int = Field(
        30, ge=10, le=120, description="Grace between SIGTERM and SIGKILL; the app drains and stops inside it."
    )
    health_check_command: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = Field(
        (),
        max_length=16,
        description="A command ECS runs in the container to check it (exec form, e.g. [python, -m, "
        "service.healthcheck]; exit 0 is healthy), every 10 s; ECS replaces a task that fails it 3 times and a "
        "rolling release whose new tasks fail it rolls back. A service without a route has no other health "
        "check. Empty: none (a routed service is probed by its target groups).",
    )
    readonly_root_filesystem: bool = Field(True, description="Mount the container's root filesystem read-only.")
    initial_image_tag: str = Field(
        "bootstrap",
        pattern=formats.IMAGE_TAG.pattern,
        description="Image tag of the first task definition, before the pipeline's first deployment replaces it.",
    )
    log_retention_days: int = Field(365, description="Retention of the container logs.")
    autoscaling: AutoscalingConfig | None = Field(
        None, description="Scale the task count automatically; null keeps desired_count fixed."
    )
    capacity: CapacityConfig = Field(default_factory=CapacityConfig, description="Fargate / Fargate Spot split.")

    _check_retention = field_validator("log_retention_days")(_log_retention)

    @model_validator(mode="after")
    def _task(self) -> ServiceConfig:
        problems: list[Problem] = list(self._environment_problems())
        scaling = self.autoscaling
        if scaling is not None and not scaling.min_tasks <= self.desired_count <= scaling.max_tasks:
            problems.append(
                Problem(
                    ("desired_count",),
                    f"is outside autoscaling's {scaling.min_tasks}..{scaling.max_tasks}",
                    "set desired_count inside the autoscaling range (it is the starting count)",
                    self.desired_count,
                )
            )
        if self.cpu not in FARGATE_SIZES:
            nearest = min(FARGATE_SIZES, key=lambda size: abs(size - self.cpu))
            problems.append(
                Problem(
                    ("cpu",),
                    "is not a Fargate CPU size",
                    f"use {nearest} (or one of {', '.join(map(str, FARGATE_SIZES))})",
                    self.cpu,
                )
            )
        elif self.memory not in FARGATE_SIZES[self.cpu]:
            allowed = FARGATE_SIZES[self.cpu]
            nearest = min(allowed, key=lambda size: abs(size - self.memory))
            problems.append(
                Problem(
                    ("memory",),
                    f"is not valid with cpu {self.cpu} on Fargate",
                    f"use {nearest} ({allowed[0]}..{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]})",
                    self.memory,
                )
            )
        raise_if_any(problems)
        return self

    def _environment_problems(self) -> Iterator[Problem]:
        yield from _duplicates(
            [str(network) for network in self.https_egress_cidrs],
            ("https_egress_cidrs",),
            None,
            "CIDR",
            "each CIDR gets its own security group rule, and AWS refuses a duplicate rule",
            fold_case=False,
        )
        for name in self.secrets:
            path = ("secrets", name)
            if not _ENV_VAR_NAME.match(name):
                yield Problem(
                    path,
                    "is not a valid environment variable name",
                    "use letters, digits and _, not starting with a digit",
                )
            elif name in RESERVED_ENVIRONMENT or name.startswith(RESERVED_ENVIRONMENT_PREFIXES):
                yield Problem(
                    path,
                    "is set by the stack or by AWS",
                    f"rename it: {', '.join(sorted(RESERVED_ENVIRONMENT))} and names starting "
                    f"{', '.join(RESERVED_ENVIRONMENT_PREFIXES)} are reserved",
                )
            elif name in self.environment:
                yield Problem(path, "is also in service.environment", "keep it in one of the two")
        for name, value in self.environment.items():
            path = ("environment", name)
            if not _ENV_VAR_NAME.match(name):
                yield Problem(
                    path,
                    "is not a valid environment variable name",
                    "use letters, digits and _, not starting with a digit",
                )
            elif _SECRET_LOOKING.search(name) or redact.looks_secret_text(value):
                yield Problem(
                    path,
                    "looks like a secret",
                    "store it in Secrets Manager and let the task read it from there, never in config",
                    value,
                )
            if name in RESERVED_ENVIRONMENT or name.startswith(RESERVED_ENVIRONMENT_PREFIXES):
                yield Problem(
                    path,
                    "is set by the stack or by AWS (the app's port and drain deadlines, its database connection "
                    "and TLS, the AWS runtime)",
                    f"rename it: {', '.join(sorted(RESERVED_ENVIRONMENT))} and names starting "
                    f"{', '.join(RESERVED_ENVIRONMENT_PREFIXES)} are reserved",
                    value,
                )


class LoadBalancerConfig(Section):
    """Public ALB with a production listener, a test listener and blue/green target groups."""

    certificate_arn: str | None = Field(
        None,
        description="ACM certificate in the stack's region and account; when set, both listeners are HTTPS and "
        "port 80 redirects.",
        json_schema_extra={"pattern": _ACM_ARN},
    )
    prod_listener_port: Port | None = Field(
        None, description="Production listener port; default 443 with a certificate, else 80."
    )
    test_listener_port: Port = Field(
        8443, description="Test listener port; green is reachable here before traffic shifts."
    )
    ssl_policy: TlsPolicy = Field(
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        description="TLS policy of HTTPS listeners: a TLS 1.3 policy whose every cipher keeps forward secrecy; "
        "default the restricted one (TLS 1.2 and 1.3, AEAD ECDHE ciphers only); production requires a "
        "restricted or TLS 1.3-only policy.",
    )
    ingress_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(
        (ipaddress.IPv4Network("0.0.0.0/0"),), description="Who may reach the production listener."
    )
    test_ingress_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(
        (),
        description="Who besides the VPC (through its NAT gateways) may reach the test listener, e.g. an office range.",
    )
    health_check_interval_seconds: int = Field(
        10, ge=5, le=300, description="Seconds between the target groups' probes of each task."
    )
    health_check_timeout_seconds: int = Field(
        5, ge=2, le=120, description="Seconds a probe may take; shorter than the interval."
    )
    healthy_threshold: int = Field(2, ge=2, le=10, description="Passing probes in a row before a task is healthy.")
    unhealthy_threshold: int = Field(3, ge=2, le=10, description="Failing probes in a row before a task is unhealthy.")
    deregistration_delay_seconds: int = Field(30, ge=0, le=3600, description="Connection draining on deregistration.")
    idle_timeout_seconds: int = Field(
        60, ge=1, le=4000, description="Seconds the ALB keeps an idle client or target connection open."
    )
    load_balancing_algorithm: Literal["round_robin", "least_outstanding_requests", "weighted_random"] | None = Field(
        None,
        description="How the target groups pick a task for each request; least_outstanding_requests suits "
        "requests of uneven cost. Default (null): AWS's, round_robin.",
    )
    deletion_protection: bool = Field(True, description="Block deleting the ALB; production requires it.")
    waf_web_acl_arn: str | None = Field(
        None,
        description="Existing regional WAFv2 web ACL (the stack's region and account) to associate instead of the "
        "managed one.",
        json_schema_extra={"pattern": _WAF_ARN},
    )
    managed_waf: bool = Field(
        True, description="Without waf_web_acl_arn: create a web ACL with AWS managed rules and a per-IP rate limit."
    )
    waf_rate_limit_per_5_minutes: int = Field(
        2000,
        ge=100,
        le=2_000_000_000,
        description="Requests per client IP per 5 minutes before the managed WAF blocks it.",
    )
    waf_log_retention_days: int = Field(365, description="Retention of the managed WAF's logs.")
    access_log_retention_days: int = Field(
        365, ge=1, le=3650, description="Days ALB and S3 access logs are kept in S3."
    )

    _check_retention = field_validator("waf_log_retention_days")(_log_retention)

    @property
    def https(self) -> bool:
        return self.certificate_arn is not None

    @property
    def effective_prod_port(self) -> int:
        if self.prod_listener_port is not None:
            return self.prod_listener_port
        return 443 if self.https else 80

    @model_validator(mode="after")
    def _ports_and_timing(self) -> LoadBalancerConfig:
        problems = []
        if self.test_listener_port == self.effective_prod_port:
            problems.append(
                Problem(
                    ("test_listener_port",),
                    "equals the production listener port",
                    "choose a different port (e.g. 8443) so test traffic never reaches production",
                    self.test_listener_port,
                )
            )
        if self.https and self.test_listener_port == 80:
            problems.append(
                Problem(("test_listener_port",), "is the HTTP redirect port", "choose another port (e.g. 8443)", 80)
            )
        if self.https and self.prod_listener_port == 80:
            # With a certificate, port 80 is the redirect listener's; one port holds one listener.
            problems.append(
                Problem(
                    ("prod_listener_port",),
                    "is the HTTP redirect port, which the HTTPS production listener cannot share",
                    "use 443 (the default with a certificate) or another port",
                    80,
                )
            )
        for key in ("ingress_cidrs", "test_ingress_cidrs"):
            problems += _duplicates(
                [str(network) for network in getattr(self, key)],
                (key,),
                None,
                "CIDR",
                "each CIDR gets its own security group rule, and AWS refuses a duplicate rule",
                fold_case=False,
            )
        if self.health_check_timeout_seconds >= self.health_check_interval_seconds:
            problems.append(
                Problem(
                    ("health_check_timeout_seconds",),
                    f"must be shorter than health_check_interval_seconds ({self.health_check_interval_seconds})",
                    "lower the timeout or raise the interval",
                    self.health_check_timeout_seconds,
                )
            )
        raise_if_any(problems)
        return self


#: CodeBuild's general-purpose machines (small: 3 GB and 2 vCPUs, medium: 7 GB and 4, large: 15 GB and 8).
BuildComputeType = Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"]


#: CodePipeline V2 push triggers: each file path pattern is 1 to 255 characters (GitFilePathFilterCriteria).
#: https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GitFilePathFilterCriteria.html
TRIGGER_PATH_LENGTH = 255


def _repository_relative(path: str) -> str:
    """``path`` as the repository's file paths are written (no leading ./, no trailing /); "" for its root."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return "/".join(parts)


class ServiceSource(Section):
    """Where a service's code lives and how its image is built."""

    repository: str = Field(..., pattern=formats.REPOSITORY.pattern, description="Full repository id, e.g. group/app.")
    branch: str = Field(
        "main",
        description="Branch that triggers the pipeline (a Git branch name).",
        json_schema_extra={"pattern": r"^[A-Za-z0-9._/-]+$"},
    )
    app_path: str = Field(
        "app",
        description="Folder of the Dockerfile in the repository, relative to its root (the build runs "
        "`docker build ... <app_path>`, so nothing outside it reaches the image).",
        json_schema_extra={"pattern": r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$"},
    )
    start_on: Literal["any_push", "app_path_changes"] = Field(
        "any_push",
        description="What starts the pipeline: any_push to branch, or (in a monorepo) app_path_changes, only pushes "
        "that change a file under app_path (a CodePipeline V2 push trigger filtering on file paths).",
    )
    build_compute_type: BuildComputeType = Field(
        "BUILD_GENERAL1_SMALL", description="CodeBuild machine of the image build (small: 3 GB, 2 vCPUs)."
    )
    build_timeout_minutes: int = Field(
        20, ge=5, le=480, description="Minutes before CodeBuild stops an image build as failed."
    )

    @field_validator("app_path")
    @classmethod
    def _app_path(cls, value: str) -> str:
        _refuse_all(commands.path_problems(value), value)
        return value

    @property
    def trigger_paths(self) -> tuple[str, ...]:
        """The file paths whose change starts the pipeline (glob patterns); () for any push."""
        return (f"{_repository_relative(self.app_path)}/**",) if self.start_on == "app_path_changes" else ()

    @model_validator(mode="after")
    def _start_on_app_path(self) -> ServiceSource:
        if self.start_on != "app_path_changes":
            return self
        folder = _repository_relative(self.app_path)
        if not folder:
            raise_if_any(
                [
                    Problem(
                        ("start_on",),
                        f"filters on app_path, but app_path ({self.app_path!r}) is the whole repository",
                        "leave start_on out (any push starts the pipeline), or set app_path to the service's folder",
                        self.start_on,
                    )
                ]
            )
        elif len(folder) + len("/**") > TRIGGER_PATH_LENGTH:
            raise_if_any(
                [
                    Problem(
                        ("app_path",),
                        f"is {len(folder)} characters; a trigger's file path is at most {TRIGGER_PATH_LENGTH} "
                        "with the /** CodePipeline matches below it",
                        f"use a folder of at most {TRIGGER_PATH_LENGTH - 3} characters, or leave start_on out",
                        self.app_path,
                    )
                ]
            )
        return self

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        _refuse_all(commands.branch_problems(value), value)
        return value


#: A single-service environment without its repository (the loader reports it with other errors).
MISSING_REPOSITORY: tuple[tuple[str, ...], str, str] = (
    ("pipeline", "repository"),
    "is required",
    "add it, e.g. group/app (or list services:, each with its own source)",
)
#: The fields of ``pipeline:`` that are the single service's source (``services.<key>.source`` otherwise).
SOURCE_FIELDS = tuple(ServiceSource.model_fields)


class PipelineConfig(ServiceSource):
    """Source (CodeConnections) -> CodeBuild -> blue/green deploy: what the environment's pipelines share.

    In a single-service environment (``service:``) it also names that service's source
    (repository, branch, app_path, build_*); with ``services:`` each service has its own ``source``.
    """

    source_provider: Literal["GitHub", "GitLab", "Bitbucket", "GitHubEnterpriseServer", "GitLabSelfManaged"] = Field(
        "GitLab", description="Where the application repositories live."
    )
    repository: str | None = Field(  # type: ignore[assignment]
        None,
        pattern=formats.REPOSITORY.pattern,
        description="Full repository id, e.g. group/app: the single service's (required without services:).",
    )
    connection_arn: str | None = Field(
        None,
        json_schema_extra={"pattern": _CONNECTION_ARN},
        description="Existing CodeConnections connection in the stack's region and account; default: one is created (someone must approve it once in the console).",  # noqa: E501
    )
    artifact_retention_days: int = Field(30, ge=1, le=3650, description="Days pipeline artifacts are kept.")
    build_log_retention_days: int = Field(365, description="Retention of CodeBuild logs.")

    _check_retention = field_validator("build_log_retention_days")(_log_retention)


class RollbackAlarms(Section):
    """What rolls a release back: green's own error rate, latency and health, never blue's traffic.

    Before each deployment starts green, a hook points these alarms at green's target group, so
    errors that blue serves (an outsider's included) cannot stop a release; rates with a minimum
    request count cannot be reached by a handful of requests.
    """

    target_5xx_percent: float = Field(
        5.0, gt=0, le=100, description="Share of green's requests answered 5xx, per minute, in 2 of 3 minutes."
    )
    min_requests_per_minute: int = Field(
        20, ge=1, le=1_000_000, description="Requests green must receive in a minute before its rates count."
    )
    p99_latency_ms: int = Field(
        2000, ge=10, le=120_000, description="Green's p99 response time over a minute (with the minimum requests)."
    )
    unhealthy_hosts: int = Field(1, ge=1, description="Green's unhealthy targets, for two consecutive minutes.")
    app_5xx_per_minute: int = Field(
        5,
        ge=1,
        description="5xx responses the app itself logged, per minute, across both colours: notifies, never "
        "rolls back (it cannot tell green from blue).",
    )


class LoadTestConfig(Section):
    """A bounded load test of green (CodeBuild, inside the VPC) before production traffic moves.

    The test-traffic hook starts it once its smoke checks pass; the deployment waits for the
    verdict and rolls back if the budget is exceeded, the build fails or it times out.
    """

    duration_seconds: int = Field(120, ge=10, le=1800, description="How long the workers keep sending requests.")
    concurrency: int = Field(8, ge=1, le=64, description="Simulated users, each repeating the app's API scenario.")
    max_error_percent: float = Field(
        1.0, ge=0, le=100, description="Largest share of failed requests (network errors and unexpected statuses)."
    )
    max_p99_ms: int = Field(1000, ge=10, le=60_000, description="Largest p99 latency over the whole run.")
    compute_type: BuildComputeType = Field(
        "BUILD_GENERAL1_SMALL", description="CodeBuild compute size of the load generator."
    )


class NotificationsConfig(Section):
    """Pipeline and deployment events (failed, rolled back, succeeded, approval needed) to an SNS topic."""

    email_subscribers: tuple[Annotated[str, Field(pattern=formats.EMAIL.pattern)], ...] = Field(
        (), description="E-mail addresses subscribed to the topic (each confirms once by e-mail)."
    )

    @model_validator(mode="after")
    def _each_once(self) -> NotificationsConfig:
        raise_if_any(
            _duplicates(
                list(self.email_subscribers),
                ("email_subscribers",),
                None,
                "address",
                "SNS would subscribe the same mailbox twice (domains and most mailboxes ignore case)",
            )
        )
        return self


class AllAtOnce(Section):
    """Shift all production traffic to green in one step."""

    type: Literal["all_at_once"] = Field("all_at_once", description="One step.")


class Canary(Section):
    """Shift ``percent`` first, then the rest after ``minutes``."""

    type: Literal["canary"] = Field(description="Two steps.")
    percent: int = Field(10, ge=1, le=99, description="Share of traffic in the first step.")
    minutes: int = Field(5, ge=1, le=2880, description="Wait before shifting the rest.")


class Linear(Section):
    """Shift ``percent`` more every ``every_minutes`` until all traffic is on green."""

    type: Literal["linear"] = Field(description="Equal steps.")
    percent: int = Field(10, ge=1, le=99, description="Share of traffic added at each step.")
    every_minutes: int = Field(1, ge=1, le=2880, description="Minutes between steps.")


Traffic = Annotated[AllAtOnce | Canary | Linear, Field(discriminator="type")]


class DeploymentConfig(Section):
    """How CodeDeploy shifts traffic from blue to green, and when it gives up."""

    controller: Literal["codedeploy", "ecs"] = Field(
        "codedeploy",
        description="Who runs blue/green: CodeDeploy (default), or ECS's own blue/green deployments (no CodeDeploy; "
        "listener rules, a bake time, ECS lifecycle hooks).",
    )
    traffic: Traffic = Field(
        default_factory=AllAtOnce,
        description="all_at_once, canary (percent, minutes) or linear (percent, every_minutes); CodeDeploy's "
        "predefined configs are used when they match, otherwise the stack creates one.",
    )
    termination_wait_minutes: int = Field(
        5, ge=0, le=2880, description="How long blue keeps running after the shift; rollback is instant meanwhile."
    )
    approval_timeout_minutes: int | None = Field(
        None,
        ge=1,
        le=2880,
        description="Hold green (tested, no production traffic) until someone continues the deployment; "
        "stop it after this many minutes. Default: shift as soon as green is ready.",
    )
    test_hook: bool = Field(
        True,
        description="Run the test-traffic Lambda (hooks/test_traffic.py) on AfterAllowTestTraffic: green must "
        "pass readiness, version and an API smoke test through the test listener before production moves.",
    )
    test_hostname: str | None = Field(
        None,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$",
        description="The name the test hook and load test check green's certificate for (they call the ALB by its "
        "DNS name); default: the listeners' certificate's own name (a wildcard's, as deployment-check.<domain>).",
    )
    load_test: LoadTestConfig | None = Field(
        None,
        description="Run a bounded load test against green (through the test listener) after the hook's smoke "
        "checks and before production traffic moves; needs test_hook. Default: none.",
    )
    auto_rollback: bool = Field(True, description="Roll back on deployment failure and on alarm.")
    alarms: RollbackAlarms = Field(
        default_factory=RollbackAlarms, description="Thresholds of the alarms that stop and roll back a deployment."
    )
    approval_stage: bool | None = Field(
        None,
        description="A manual approval stage in the pipeline before the deploy stage; default: on in production.",
    )


def ecs_native_release_minutes(deployment: DeploymentConfig) -> int:
    """How long an ECS-native blue/green release may take: green starting, the shift, the bake."""
    traffic = deployment.traffic
    if isinstance(traffic, Canary):
        shift = traffic.minutes
    elif isinstance(traffic, Linear):
        # One wait between each step and the next.
        shift = (-(-100 // traffic.percent) - 1) * traffic.every_minutes
    else:
        shift = 0
    return ECS_BLUE_GREEN_START_MINUTES + shift + deployment.termination_wait_minutes


#: ALB rules: at most 5 condition values per rule (host and paths together), priorities 1 to 50000.
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
RULE_CONDITION_VALUES = 5
RULE_PRIORITIES = (1, 50_000)
#: What only a blue/green release uses: refused on a service without a route (rolled by ECS).
BLUE_GREEN_ONLY = (
    "controller",
    "traffic",
    "termination_wait_minutes",
    "approval_timeout_minutes",
    "test_hook",
    "test_hostname",
    "load_test",
    "alarms",
)
#: Target groups per Application Load Balancer: 100, not adjustable; every routed service has two
#: (blue and green), so at most 50 services share one. Its rules stay within the default quota of
#: 100 then: two per service (production and test), none for CodeDeploy's default route.
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
ALB_TARGET_GROUPS = 100
#: A service key: lower-case letters and digits, part of its resources' names.
SERVICE_KEY = formats.SERVICE_KEY.pattern


class Route(Section):
    """Which production requests reach the service on the shared HTTPS listener.

    Neither host nor paths: the listener's default (every request no other service's route takes);
    at most one service per environment. Otherwise a listener rule matching both.
    """

    host: str | None = Field(
        None,
        pattern=formats.ROUTE_HOST.pattern,
        description="Host header the service answers, e.g. api.example.com or *.example.com.",
    )
    paths: tuple[Annotated[str, Field(pattern=formats.ROUTE_PATH.pattern, max_length=128)], ...] = Field(
        (), description="Path patterns the service answers, e.g. /v1/* (ALB wildcards * and ?)."
    )
    priority: int | None = Field(
        None,
        ge=RULE_PRIORITIES[0],
        le=RULE_PRIORITIES[1],
        description="The rule's priority on the listener (lower is evaluated first); default: 10 times the "
        "service's position among routed services, so adding a service at the end moves no other rule.",
    )

    @property
    def is_default(self) -> bool:
        return self.host is None and not self.paths


class ServiceSpec(ServiceConfig):
    """One service of the environment: its container, where its code is, how it is reached and released."""

    source: ServiceSource = Field(..., description="The service's repository and image build.")
    route: Route | None = Field(
        default_factory=Route,
        description="Where its production traffic arrives on the shared HTTPS listener; null: no load "
        "balancer (a worker or an internal service, released by rolling update, reached by the services "
        "granted to call it at <key>.<the environment's private DNS namespace>).",
    )
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig, description="How releases shift traffic to green and roll back."
    )

    @property
    def released_by(self) -> ReleasedBy:
        """How the service is released, read once from its route and controller (deployer_for,
        the names and the tools ask this): by rolling update without a route, else blue/green."""
        if self.route is None:
            return "rolling"
        return "ecs_native" if self.deployment.controller == "ecs" else "codedeploy"


#: CodeDeploy blue/green, ECS-native blue/green, or a rolling update (a service without a route).
ReleasedBy = Literal["codedeploy", "ecs_native", "rolling"]


@dataclass(frozen=True)
class DatabaseIdentity:
    """A service's own database on the cluster, and its roles there (app/service/migrate.py creates them)."""

    name: str
    #: The runtime role (IAM authentication): reads and writes the tables, changes no schema.
    user: str
    #: The NOLOGIN role that owns the schema; the migration acts as it.
    owner: str


@dataclass(frozen=True)
class ServicePaths:
    """Where a service's settings are in the config file, for error messages."""

    container: tuple[str, ...]
    source: tuple[str, ...]
    deployment: tuple[str, ...]
    route: tuple[str, ...] | None


class FailoverConfig(Section):
    """DNS failover: Route 53 answers with the primary ALB while its health check passes, else the DR ALB."""

    hosted_zone_id: str = Field(..., pattern=formats.HOSTED_ZONE_ID.pattern, description="Existing public hosted zone.")
    record_name: str = Field(
        ...,
        pattern=formats.RECORD_NAME.pattern,
        description="Name users call, e.g. app.example.com; both ALBs' certificates must cover it.",
    )
    health_check_path: str = Field(
        "/ready", pattern=formats.ROUTE53_PATH.pattern, description="Path Route 53 checks on each ALB."
    )


def _dr_networking() -> NetworkingConfig:
    return NetworkingConfig(vpc_cidr=ipaddress.IPv4Network("10.100.0.0/16"), nat_mode="single")


class DisasterRecoveryConfig(Section):
    """A second region to recover in. Postures, cheapest and slowest first:

    backup_restore: database backups and images copied to the DR region; nothing runs there.
    pilot_light: the database replicates continuously (Aurora Global Database, no instance in the
    DR region), VPC, ALB, cluster and service exist there at zero tasks.
    warm_standby: as pilot light, with a reader instance and ``standby_tasks`` tasks running.
    """

    region: str = Field(
        ...,
        description="The DR region: another region of the same partition.",
        json_schema_extra={"enum": list[JsonValue](sorted(regions.table()))},
    )
    posture: Literal["backup_restore", "pilot_light", "warm_standby"] = Field(
        ..., description="backup_restore, pilot_light or warm_standby (see the README's DR runbook)."
    )
    networking: NetworkingConfig = Field(
        default_factory=_dr_networking,
        description="The DR VPC (same schema as networking); default 10.100.0.0/16 with one NAT gateway. "
        "Its range must not overlap the primary VPC's.",
    )
    certificate_arn: str | None = Field(
        None,
        json_schema_extra={"pattern": _ACM_ARN},
        description="ACM certificate in the DR region for its ALB; required when the primary listeners are HTTPS "
        "and the posture runs an ALB (pilot_light, warm_standby).",
    )
    _check_region = field_validator("region")(_known_region)

    standby_tasks: int = Field(1, ge=1, le=100, description="warm_standby: tasks kept running in the DR region.")
    backup_copy_retention_days: int = Field(
        35, ge=1, le=36_500, description="backup_restore: days each daily backup copy is kept in the DR region."
    )
    failover: FailoverConfig | None = Field(
        None, description="Route 53 failover records with health checks on both ALBs; default: none."
    )

    @property
    def global_database(self) -> bool:
        return self.posture in ("pilot_light", "warm_standby")

    @property
    def runs_compute(self) -> bool:
        return self.posture in ("pilot_light", "warm_standby")


class StateBackendConfig(Section):
    """Remote Terraform state in S3, locked with S3's native lock file."""

    bucket: str = Field(..., pattern=formats.BUCKET.pattern, description="Existing S3 bucket for state.")
    key: str | None = Field(None, description="Object key; default <project>/<environment>/terraform.tfstate.")
    region: str | None = Field(
        None,
        description="Bucket region (same partition as the stack); default: the stack's region.",
        json_schema_extra={"enum": [*sorted(regions.table()), None]},
    )
    use_lockfile: bool = Field(True, description="S3 native state locking (Terraform >= 1.10).")

    @field_validator("region")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else _known_region(value)

    kms_key_id: str | None = Field(
        None,
        description="KMS key for state objects (key id, alias/name, or the ARN of a key or alias in the bucket's "
        "region); default: the bucket's encryption.",
    )


class EnvironmentConfig(Section):
    """One deployment environment: one config file, one Terraform stack."""

    project: str = Field(
        ..., pattern=formats.PROJECT.pattern, description="Short project name; prefixes every resource name."
    )
    environment: str = Field(
        ..., pattern=formats.ENVIRONMENT.pattern, description="Environment name, e.g. dev, staging, prod."
    )
    production: bool = Field(False, description="Enforce production safety rules.")
    account_id: str = Field(
        ...,
        pattern=formats.ACCOUNT_ID.pattern,
        description="AWS account the stack may deploy into (provider allowed_account_ids).",
    )
    region: str = Field(
        "eu-west-1",
        description="AWS region (config/data/regions.json lists them).",
        json_schema_extra={"enum": list[JsonValue](sorted(regions.table()))},
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=f"Tags added to every resource, at most {tag_rules.MAX_USER_TAGS} (AWS allows 50 per resource "
        "and the stack adds its own).",
    )
    networking: NetworkingConfig = Field(default_factory=NetworkingConfig, description="The VPC and its subnets.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Aurora PostgreSQL.")
    service: ServiceConfig = Field(
        default_factory=ServiceConfig,
        description="The Fargate service of a single-service environment (read as the service keyed app); "
        "with services: leave it out.",
    )
    services: dict[Annotated[str, Field(pattern=SERVICE_KEY)], ServiceSpec] | None = Field(
        None,
        description="Several services on the one platform, by key (part of their names; the service keyed app "
        "keeps a single-service environment's names); each released on its own. Default: the one service "
        "of service:, pipeline: and deployment:.",
    )
    load_balancer: LoadBalancerConfig = Field(
        default_factory=LoadBalancerConfig, description="The ALB, its listeners and the WAF."
    )
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig, description="Source, build and deploy pipelines: what they share."
    )
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig,
        description="How releases of a single-service environment shift traffic and roll back (with services: "
        "each service's own deployment).",
    )
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig, description="Where pipeline and deployment events go."
    )
    state: StateBackendConfig | None = Field(None, description="Remote state; default: local state (not for teams).")
    dr: DisasterRecoveryConfig | None = Field(None, description="Disaster recovery in a second region; default: none.")

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.project, self.environment, self.account_id)

    @property
    def availability_zones(self) -> tuple[str, ...]:
        if self.networking.availability_zones is not None:
            return self.networking.availability_zones
        return _region(self.region).default_zones(self.networking.az_count)

    @property
    def dr_availability_zones(self) -> tuple[str, ...]:
        assert self.dr is not None
        if self.dr.networking.availability_zones is not None:
            return self.dr.networking.availability_zones
        return _region(self.dr.region).default_zones(self.dr.networking.az_count)

    @property
    def partition(self) -> str:
        return regions.partition_of(self.region)

    @cached_property
    def all_services(self) -> dict[str, ServiceSpec]:
        """Every service by key: ``services:``, or the single one of ``service:``, keyed app."""
        if self.services is not None:
            return dict(self.services)
        # Its parts are validated already (and the source's repository is checked by _service_rules).
        source = ServiceSource.model_construct(**{f: getattr(self.pipeline, f) for f in SOURCE_FIELDS})
        fields = {name: getattr(self.service, name) for name in ServiceConfig.model_fields}
        spec = ServiceSpec.model_construct(**fields, source=source, route=Route(), deployment=self.deployment)
        return {naming.LEGACY_SERVICE: spec}

    def pick_service(self, key: str | None) -> str:
        """The service a tool acts on: ``key``, or the environment's only one. Raises ValueError with the fix."""
        keys = sorted(self.all_services)
        if key is None and len(keys) == 1:
            return keys[0]
        if key is None:
            raise ValueError(
                f"{self.environment} has several services ({', '.join(keys)}): name one with SERVICE=<key>"
            )
        if key not in self.all_services:
            raise ValueError(f"{self.environment} has no service {key!r}; its services: {', '.join(keys)}")
        return key

    def database_identity(self, key: str) -> DatabaseIdentity:
        """The service keyed app keeps the configured database and roles; any other has its own."""
        db = self.database
        if key == naming.LEGACY_SERVICE:
            return DatabaseIdentity(db.database_name, db.app_username, db.owner_role)
        return DatabaseIdentity(key, f"{key}_app", f"{key}_owner")

    def paths(self, key: str) -> ServicePaths:
        """Where the service's settings are written: its section of services:, or service: and its siblings."""
        if self.services is None:
            return ServicePaths(("service",), ("pipeline",), ("deployment",), None)
        base = ("services", key)
        return ServicePaths(base, (*base, "source"), (*base, "deployment"), (*base, "route"))

    def spot_weight(self, service: ServiceConfig) -> int:
        explicit = service.capacity.spot_weight
        if explicit is not None:
            return explicit
        # Fargate Spot runs X86_64 tasks only (Amazon ECS Developer Guide, "Fargate capacity providers").
        return 0 if self.production or service.cpu_architecture == "ARM64" else 3

    def approval_stage(self, deployment: DeploymentConfig) -> bool:
        explicit = deployment.approval_stage
        return self.production if explicit is None else explicit

    def rule_priorities(self) -> dict[str, int]:
        """Each routed service's rule priority, except the default route's (the listener's default)."""
        routed = [(k, s.route) for k, s in self.all_services.items() if s.route is not None and not s.route.is_default]
        return {key: route.priority or 10 * (index + 1) for index, (key, route) in enumerate(routed)}

    @property
    def state_key(self) -> str:
        if self.state is not None and self.state.key:
            return self.state.key
        return f"{self.project}/{self.environment}/terraform.tfstate"

    _check_region = field_validator("region")(_known_region)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        raise_if_any(tag_rules.problems(value))
        return value

    @model_validator(mode="after")
    def _rules(self) -> EnvironmentConfig:
        service_problems = list(self._service_rules())
        if service_problems:
            raise_if_any(service_problems)  # the rules below read every service
        raise_if_any(
            [
                *self._name_rules(),
                *self._zone_rules(),
                *self._arn_rules(),
                *self._grant_rules(),
                *self._controller_rules(),
                *self._capacity_rules(),
                *self._security_group_rules(),
                *self._database_rules(),
                *self._dr_rules(),
                *self._state_rules(),
                *self._production_rules(),
            ]
        )
        return self

    def _controller_rules(self) -> Iterator[Problem]:
        for key, spec in self.all_services.items():
            yield from self._deployment_rules(spec.deployment, self.paths(key).deployment)

    @staticmethod
    def _deployment_rules(deployment: DeploymentConfig, at: tuple[str, ...]) -> Iterator[Problem]:
        load_test, alarms = deployment.load_test, deployment.alarms
        if load_test is not None and load_test.max_p99_ms > alarms.p99_latency_ms:
            # The rollback alarm watches green's p99 while the load test runs: a budget above it
            # can never be reached, the alarm rolls the deployment back first.
            yield Problem(
                (*at, "load_test", "max_p99_ms"),
                f"is above the rollback alarm's p99 of {alarms.p99_latency_ms} ms (deployment.alarms.p99_latency_ms)",
                f"set max_p99_ms to {alarms.p99_latency_ms} or less, or raise deployment.alarms.p99_latency_ms",
                load_test.max_p99_ms,
            )
        if deployment.load_test is not None and not deployment.test_hook:
            yield Problem(
                (*at, "load_test"),
                "is started by the test-traffic hook, which is switched off",
                "set deployment.test_hook: true, or remove load_test",
                deployment.load_test.model_dump(),
            )
        if deployment.controller != "ecs":
            return
        if deployment.approval_timeout_minutes is not None:
            yield Problem(
                (*at, "approval_timeout_minutes"),
                "holds green for an operator, which only CodeDeploy can do",
                "remove it, or use deployment.controller: codedeploy (an approval stage works with both)",
                deployment.approval_timeout_minutes,
            )
        # Amazon ECS API Reference, DeploymentConfiguration, CanaryConfiguration, LinearConfiguration:
        # bake times 0 to 1440 minutes; a linear step 3.0 to 100.0 percent.
        if deployment.termination_wait_minutes > ECS_MAX_BAKE_MINUTES:
            yield Problem(
                (*at, "termination_wait_minutes"),
                f"is ECS's bake time with controller ecs, which is at most {ECS_MAX_BAKE_MINUTES} minutes",
                f"use {ECS_MAX_BAKE_MINUTES} or less, or controller: codedeploy (which waits up to 2880)",
                deployment.termination_wait_minutes,
            )
        longest = CODEBUILD_MAX_TIMEOUT_MINUTES - RELEASE_STEP_START_MINUTES
        minutes = ecs_native_release_minutes(deployment)
        if minutes > longest and deployment.termination_wait_minutes <= ECS_MAX_BAKE_MINUTES:
            yield Problem(
                (*at, "termination_wait_minutes"),
                f"makes an ECS-native release last up to {minutes} minutes ({ECS_BLUE_GREEN_START_MINUTES} to start"
                f" green, the traffic shift, then this bake), longer than the {longest} the pipeline's release"
                " step can wait for it (CodeBuild stops a build after 8 hours)",
                f"shorten the bake or the shift to fit {longest} minutes, or use controller: codedeploy",
                deployment.termination_wait_minutes,
            )
        traffic = deployment.traffic
        if isinstance(traffic, Linear):
            if traffic.percent < ECS_MIN_LINEAR_PERCENT:
                yield Problem(
                    (*at, "traffic", "percent"),
                    f"is below the {ECS_MIN_LINEAR_PERCENT} percent ECS's linear deployments shift at least per step",
                    f"use {ECS_MIN_LINEAR_PERCENT} to 99, or controller: codedeploy",
                    traffic.percent,
                )
            if traffic.every_minutes > ECS_MAX_BAKE_MINUTES:
                yield Problem(
                    (*at, "traffic", "every_minutes"),
                    f"is over the {ECS_MAX_BAKE_MINUTES} minutes ECS waits at most between linear steps",
                    f"use {ECS_MAX_BAKE_MINUTES} or less",
                    traffic.every_minutes,
                )
        if isinstance(traffic, Canary) and traffic.minutes > ECS_MAX_BAKE_MINUTES:
            yield Problem(
                (*at, "traffic", "minutes"),
                f"is over the {ECS_MAX_BAKE_MINUTES} minutes ECS bakes a canary at most",
                f"use {ECS_MAX_BAKE_MINUTES} or less",
                traffic.minutes,
            )

    def _capacity_rules(self) -> Iterator[Problem]:
        for key, spec in self.all_services.items():
            at, capacity, spot = self.paths(key).container, spec.capacity, self.spot_weight(spec)
            if spec.cpu_architecture == "ARM64" and spot > 0:
                yield Problem(
                    (*at, "capacity", "spot_weight"),
                    "puts ARM64 tasks on Fargate Spot, which runs X86_64 tasks only",
                    "set spot_weight: 0 (the default with ARM64), or cpu_architecture: X86_64",
                    capacity.spot_weight,
                )
            if capacity.fargate_weight == 0 and spot == 0:
                # Amazon ECS API Reference, CapacityProviderStrategyItem: at least one provider needs a weight above 0.
                field = "fargate_weight" if "fargate_weight" in capacity.model_fields_set else "spot_weight"
                yield Problem(
                    (*at, "capacity", field),
                    "leaves every capacity provider at weight 0; ECS needs one above 0 to place tasks",
                    "set fargate_weight: 1 (or spot_weight above 0 on X86_64)",
                    getattr(capacity, field),
                )

    def _service_rules(self) -> Iterator[Problem]:
        """One way of writing services, and services that can share one load balancer."""
        if self.services is None:
            if self.pipeline.repository is None:
                yield Problem(*MISSING_REPOSITORY)
            return
        for written in ("service", "deployment"):
            if written in self.model_fields_set:
                yield Problem(
                    (written,),
                    "is the single service's, but services: lists the services",
                    f"move it into each service (services.<key>.{'deployment' if written == 'deployment' else '...'})",
                    None,
                )
        for field in set(SOURCE_FIELDS) & self.pipeline.model_fields_set:
            yield Problem(
                ("pipeline", field),
                "is a single service's source, but services: lists the services",
                f"move it to services.<key>.source.{field}",
                getattr(self.pipeline, field),
            )
        if not self.services:
            yield Problem(("services",), "lists no service", "list at least one service, or leave services: out", {})
        yield from self._route_rules()

    def _route_rules(self) -> Iterator[Problem]:
        for key in (k for k, s in self.all_services.items() if s.route is None):
            yield from self._unrouted_rules(key)
        routes = {k: s.route for k, s in self.all_services.items() if s.route is not None}
        defaults = [k for k, r in routes.items() if r.is_default]
        for key in defaults[1:]:
            yield Problem(
                ("services", key, "route"),
                f"has neither host nor paths, like service {defaults[0]}'s: only one service can be the default",
                "give it a host or paths",
                {},
            )
        seen: dict[tuple[str | None, tuple[str, ...]], str] = {}
        for key, route in routes.items():
            at = ("services", key, "route")
            condition = (route.host, tuple(sorted(route.paths)))
            if not route.is_default and condition in seen:
                yield Problem(
                    at,
                    f"matches exactly what service {seen[condition]}'s route matches, so one of them is never reached",
                    "give one of them another host or other paths",
                    None,
                )
            seen.setdefault(condition, key)
            values = (route.host is not None) + len(route.paths)
            if values > RULE_CONDITION_VALUES:
                yield Problem(
                    (*at, "paths"),
                    f"makes a rule of {values} condition values; an ALB rule takes at most {RULE_CONDITION_VALUES}",
                    f"use at most {RULE_CONDITION_VALUES - (route.host is not None)} paths (e.g. a prefix /v1/*)",
                    list(route.paths),
                )
        if 2 * len(routes) > ALB_TARGET_GROUPS:
            yield Problem(
                ("services",),
                f"needs {2 * len(routes)} target groups on the shared load balancer (blue and green for each of "
                f"{len(routes)} services), over AWS's {ALB_TARGET_GROUPS}",
                f"keep at most {ALB_TARGET_GROUPS // 2} services in one environment (split it into two)",
                len(routes),
            )
        taken: dict[int, str] = {}
        for key, priority in self.rule_priorities().items():
            if priority in taken:
                explicit = self.all_services[key].route is not None and self.all_services[key].route.priority  # type: ignore[union-attr]
                yield Problem(
                    ("services", key, "route", "priority"),
                    f"{priority} is also service {taken[priority]}'s rule priority"
                    + ("" if explicit else " (derived from its position)"),
                    "give one of them another priority (rules are evaluated from the lowest)",
                    priority,
                )
            taken.setdefault(priority, key)

    def _unrouted_rules(self, key: str) -> Iterator[Problem]:
        """A service without a route is released by rolling update: nothing of blue/green applies."""
        spec, paths = self.all_services[key], self.paths(key)
        for field in sorted(set(BLUE_GREEN_ONLY) & spec.deployment.model_fields_set):
            yield Problem(
                (*paths.deployment, field),
                "applies to blue/green releases behind the load balancer; a service without a route is "
                "released by rolling update (ECS replaces its tasks, and rolls back when they fail to start)",
                f"remove {field}, or give {key} a route",
                getattr(spec.deployment, field) if field != "load_test" else "set",
            )
        scaling = spec.autoscaling
        if scaling is not None and scaling.requests_per_task_per_minute is not None:
            yield Problem(
                (*paths.container, "autoscaling", "requests_per_task_per_minute"),
                "counts the load balancer's requests, which a service without a route never receives",
                "scale it on cpu_target_percent or memory_target_percent instead",
                scaling.requests_per_task_per_minute,
            )

    def _security_group_rules(self) -> Iterator[Problem]:
        """Amazon VPC User Guide, "Amazon VPC quotas": 60 inbound rules per security group (IPv4)."""
        lb = self.load_balancer
        production_ports = 2 if lb.https else 1
        sites = [self.networking] + ([self.dr.networking] if self.dr is not None and self.dr.runs_compute else [])
        nat_addresses = max(n.az_count if n.nat_mode == "per_az" else 1 for n in sites)
        rules = len(lb.ingress_cidrs) * production_ports + nat_addresses + len(lb.test_ingress_cidrs)
        if rules > SECURITY_GROUP_RULES:
            key = "ingress_cidrs" if "ingress_cidrs" in lb.model_fields_set else "test_ingress_cidrs"
            room = SECURITY_GROUP_RULES - nat_addresses - (len(lb.test_ingress_cidrs) if key == "ingress_cidrs" else 0)
            per = production_ports if key == "ingress_cidrs" else 1
            yield Problem(
                ("load_balancer", key),
                f"needs {rules} inbound rules on the load balancer's security group ({len(lb.ingress_cidrs)} CIDRs x "
                f"{production_ports} production ports, {len(lb.test_ingress_cidrs)} test CIDRs, {nat_addresses} NAT "
                f"address{'es' if nat_addresses != 1 else ''}), over AWS's {SECURITY_GROUP_RULES}",
                f"list at most {max(room // per, 0)} CIDRs here (merge neighbouring ranges into larger ones)",
                len(getattr(lb, key)),
            )
        # The same quota for outbound rules: the tasks' group has up to three of its own (HTTPS to the
        # endpoints, to S3's prefix list, PostgreSQL) besides one per https_egress_cidrs entry.
        # The tasks of every service share the group: their CIDRs count together.
        cidrs = list(dict.fromkeys(n for spec in self.all_services.values() for n in spec.https_egress_cidrs))
        if len(cidrs) + 3 > SECURITY_GROUP_RULES:
            last = [key for key, spec in self.all_services.items() if spec.https_egress_cidrs][-1]
            together = " (every service's CIDRs together: the tasks share it)" if len(self.all_services) > 1 else ""
            yield Problem(
                (*self.paths(last).container, "https_egress_cidrs"),
                f"needs {len(cidrs) + 3} outbound rules on the tasks' security group{together}, "
                f"over AWS's {SECURITY_GROUP_RULES}",
                f"list at most {SECURITY_GROUP_RULES - 3} CIDRs (merge neighbouring ranges, or use 0.0.0.0/0)",
                len(cidrs),
            )

    def _zone_rules(self) -> Iterator[Problem]:
        yield from _zone_problems(self.region, self.networking, ("region",), ("networking",))
        if self.dr is not None:
            yield from _zone_problems(self.dr.region, self.dr.networking, ("dr", "region"), ("dr", "networking"))

    def _arn_rules(self) -> Iterator[Problem]:
        fields: list[tuple[tuple[str, ...], str | None, arns.ArnKind, str]] = [
            (("load_balancer", "certificate_arn"), self.load_balancer.certificate_arn, arns.CERTIFICATE, self.region),
            (("load_balancer", "waf_web_acl_arn"), self.load_balancer.waf_web_acl_arn, arns.WEB_ACL, self.region),
            (("pipeline", "connection_arn"), self.pipeline.connection_arn, arns.CONNECTION, self.region),
        ]
        if self.dr is not None:
            fields.append((("dr", "certificate_arn"), self.dr.certificate_arn, arns.CERTIFICATE, self.dr.region))
        for path, value, kind, region in fields:
            if value is None:
                continue
            for what, fix in arns.problems(
                value, kind, partition=self.partition, region=region, account=self.account_id
            ):
                yield Problem(path, what, fix, value)

    def _grant_rules(self) -> Iterator[Problem]:
        """Each grant names one resource of the stack's partition (and region, and account unless it may
        be another's), once; a service grant names another service of this environment."""
        partition, account = self.partition, self.account_id
        for key, spec in self.all_services.items():
            at: tuple[str | int, ...] = (*self.paths(key).container, "grants")
            for index, grant in enumerate(spec.grants):
                where = (*at, index)
                if isinstance(grant, S3Grant):
                    found = list(grant.problems(partition))
                elif isinstance(grant, SsmGrant):
                    found = list(grant.problems())
                elif isinstance(grant, ServiceGrant):
                    found = list(self._service_grant_problems(key, grant))
                else:
                    found = list(_arn_grant_problems(grant, partition=partition, region=self.region, account=account))
                yield from (problem.under(where) for problem in found)
            first: dict[S3Grant | SqsGrant | SnsGrant | SsmGrant | KmsGrant | ServiceGrant, int] = {}
            for index, grant in enumerate(spec.grants):
                if grant in first:
                    yield Problem(
                        (*at, index),
                        f"is the same grant as index {first[grant]}, so it grants nothing more",
                        "remove it",
                    )
                first.setdefault(grant, index)

    def _service_grant_problems(self, caller: str, grant: ServiceGrant) -> Iterator[Problem]:
        others = sorted(k for k in self.all_services if k != caller)
        callee = self.all_services.get(grant.service)
        if callee is not None and callee.route is not None and grant.service != caller:
            yield Problem(
                ("service",),
                "is routed on the load balancer: callers reach it by its route, not through a grant",
                f"remove the grant and call {grant.service} at its route, or make it an internal service "
                "(route: null) that only its granted callers reach",
                grant.service,
            )
        if grant.service == caller:
            yield Problem(
                ("service",),
                "is this service itself, which reaches its own tasks without a grant",
                f"name another service ({', '.join(others)})" if others else "remove the grant",
                grant.service,
            )
        elif grant.service not in self.all_services:
            close = difflib.get_close_matches(grant.service, others, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield Problem(
                ("service",),
                "is not a service of this environment",
                f"{hint}name one of: {', '.join(others)}"
                if others
                else "remove the grant (a single-service environment has no other service to call)",
                grant.service,
            )

    def _name_rules(self) -> Iterator[Problem]:
        """Every physical name against its resource's rules; names that break the same rule because
        of the same key make one problem (the worst first), not one per name."""
        groups: dict[tuple[object, str], list[tuple[PhysicalName, aws_names.Finding]]] = {}
        seen: set[tuple[str, str]] = set()
        for physical in naming.physical_names(self):
            if (physical.kind, physical.value) in seen:
                continue  # the same name in the DR region breaks the same rules
            seen.add((physical.kind, physical.value))
            for finding in aws_names.check(physical.kind, physical.value):
                kind = "length" if finding.excess else finding.remedy
                groups.setdefault((physical.made_of[0], kind), []).append((physical, finding))
        for found in groups.values():
            found.sort(key=lambda pair: -pair[1].excess)
            physical, finding = found[0]
            path = physical.made_of[0]
            more = [f"{_label(p)} {p.value!r}" for p, _ in found[1:]]
            also = f" (likewise {', '.join(more)})" if more else ""
            value = _value_at(self, path)
            yield Problem(
                path,
                f"makes the {_label(physical)} {physical.value!r}, which {finding.message}{also}",
                _name_fix(physical, finding, value),
                value,
            )

    def _database_rules(self) -> Iterator[Problem]:
        db = self.database
        pinned = "." in db.engine_version
        global_database = self.dr is not None and self.dr.global_database
        if pinned and db.auto_minor_version_upgrade and not global_database:
            # The provider keeps a major-only version when AWS upgrades the minor (16 matches
            # 16.6); a pinned 16.4 would make the next plan a downgrade that RDS refuses.
            yield Problem(
                ("database", "engine_version"),
                "pins a minor version while AWS applies minor upgrades: after the first one, every apply would "
                "try to downgrade",
                f"write the major version only ({db.engine_version.split('.')[0]!r}), or set "
                "database.auto_minor_version_upgrade: false",
                db.engine_version,
            )
        if global_database and not pinned:
            # Every member of a global database must run the exact version the global cluster has.
            yield Problem(
                ("database", "engine_version"),
                "must name the exact minor version with a DR global database (its members all run that version)",
                f"write the version in full, e.g. '{db.engine_version}.4' (aws rds describe-db-engine-versions "
                "--engine aurora-postgresql)",
                db.engine_version,
            )
        capacity = db.serverless_v2
        if capacity is None or not capacity.auto_pause:
            return
        version = self.database.engine_version
        since = engines.auto_pause_since(version)
        if since is None or engines.version_key(engines.effective(version)) < engines.version_key(since):
            yield Problem(
                ("database", "serverless_v2", "min_acu"),
                f"0 (auto-pause) needs a newer engine than {version}",
                f"set database.engine_version to {since or '16.3'} or later "
                "(13.15, 14.12, 15.7, 16.3 and 17.4 pause), or min_acu: 0.5",
                capacity.min_acu,
            )
        if self.production:
            yield Problem(
                ("database", "serverless_v2", "min_acu"),
                "0 (auto-pause) is not allowed in production: the first request after a pause waits for the resume",
                "set database.serverless_v2.min_acu: 0.5 or more",
                capacity.min_acu,
            )

    def _dr_rules(self) -> Iterator[Problem]:
        dr = self.dr
        if dr is None:
            return
        if dr.region == self.region:
            yield Problem(("dr", "region"), "is the primary region", "choose another region for DR", dr.region)
        elif regions.partition_of(dr.region) != self.partition:
            area = self.region.split("-")[0]
            same = sorted(
                (r for r, info in regions.table().items() if info.partition == self.partition and r != self.region),
                key=lambda r: (r.split("-")[0] != area, r),
            )
            yield Problem(
                ("dr", "region"),
                f"is in partition {regions.partition_of(dr.region)}, but the primary region {self.region} is in "
                f"{self.partition}; replication, global databases and image copies stay inside one partition",
                f"choose a DR region of {self.partition}, e.g. {same[0] if same else 'another region'}",
                dr.region,
            )
        for key in (k for k, spec in self.all_services.items() if spec.route is None):
            yield Problem(
                ("services", key, "route"),
                "is null, and a service without a route has no standby in the DR region (its tasks are found "
                "through the primary VPC's namespace)",
                f"give {key} a route, or remove dr",
            )
        if dr.networking.vpc_cidr.overlaps(self.networking.vpc_cidr):
            yield Problem(
                ("dr", "networking", "vpc_cidr"),
                f"overlaps the primary VPC {self.networking.vpc_cidr}",
                "choose a range that does not overlap (peering and failover runbooks need distinct ranges)",
                str(dr.networking.vpc_cidr),
            )
        if dr.runs_compute and self.load_balancer.https and dr.certificate_arn is None:
            yield Problem(
                ("dr", "certificate_arn"),
                f"is required: the DR ALB serves HTTPS like the primary, with a certificate in {dr.region}",
                f"set dr.certificate_arn to an ACM certificate ARN in {dr.region}",
                None,
            )
        open_to_all = any(n.prefixlen == 0 for n in self.load_balancer.ingress_cidrs)
        if dr.failover is not None and not open_to_all:
            # Route 53 health checkers call the ALB from AWS's own ranges: a narrowed listener
            # drops them, the primary looks unhealthy and DNS fails over to the DR region.
            yield Problem(
                ("dr", "failover"),
                "needs Route 53's health checkers to reach the production listener, which "
                "load_balancer.ingress_cidrs does not admit",
                "add 0.0.0.0/0 to load_balancer.ingress_cidrs (keep the WAF in front), or remove dr.failover",
                [str(n) for n in self.load_balancer.ingress_cidrs],
            )
        if dr.failover is not None and not dr.runs_compute:
            yield Problem(
                ("dr", "failover"),
                "has no DR load balancer to fail over to with backup_restore",
                "remove failover, or use posture pilot_light or warm_standby",
                dr.failover.record_name,
            )
        capacity = self.database.serverless_v2
        if dr.global_database and capacity is not None and capacity.auto_pause:
            yield Problem(
                ("database", "serverless_v2", "min_acu"),
                "0 (auto-pause) is not available to an Aurora global database member",
                f"set min_acu: 0.5 or more, or dr.posture: backup_restore (got posture {dr.posture})",
                capacity.min_acu,
            )

    def _state_rules(self) -> Iterator[Problem]:
        state = self.state
        if state is None:
            return
        region = state.region or self.region
        if state.region is not None and regions.partition_of(state.region) != self.partition:
            yield Problem(
                ("state", "region"),
                f"is in partition {regions.partition_of(state.region)}, not the stack's {self.partition}",
                f"keep the state bucket in a region of {self.partition}, e.g. {self.region}",
                state.region,
            )
        key = state.kms_key_id
        if key is None:
            return
        if key.startswith("arn:"):
            # A state key may belong to another account (its key policy decides), not to another region.
            for what, fix in arns.problems(key, arns.KMS_KEY, partition=self.partition, region=region, account=None):
                yield Problem(("state", "kms_key_id"), what, fix, key)
        elif not re.fullmatch(KMS_KEY_ID, key):
            yield Problem(
                ("state", "kms_key_id"),
                "is not a KMS key id, alias or ARN",
                "write a key id (00000000-0000-4000-8000-000000000000), alias/name, or the key's ARN",
                key,
            )

    def _production_rules(self) -> Iterator[Problem]:
        if self.environment.startswith("prod") and not self.production:
            yield Problem(
                ("production",),
                f"is false for environment {self.environment!r}",
                "set production: true (production safety rules then apply)",
                False,
            )
        if not self.production:
            return
        rules: list[tuple[tuple[str, ...], bool, object, str, str]] = [
            (
                ("database", "deletion_protection"),
                self.database.deletion_protection,
                self.database.deletion_protection,
                "must be true in production",
                "set database.deletion_protection: true",
            ),
            (
                ("database", "skip_final_snapshot"),
                not self.database.skip_final_snapshot,
                self.database.skip_final_snapshot,
                "must be false in production",
                "set database.skip_final_snapshot: false",
            ),
            (
                ("database", "instance_count"),
                self.database.instance_count >= 2,
                self.database.instance_count,
                "must be at least 2 in production (a standby in another AZ)",
                "set database.instance_count: 2 or more",
            ),
            (
                ("database", "backup_retention_days"),
                self.database.backup_retention_days >= 7,
                self.database.backup_retention_days,
                "must be at least 7 in production",
                "set database.backup_retention_days: 7 or more",
            ),
            (
                ("networking", "az_count"),
                self.networking.az_count >= 3,
                self.networking.az_count,
                "must be at least 3 in production",
                "set networking.az_count: 3",
            ),
            (
                ("networking", "nat_mode"),
                self.networking.nat_mode == "per_az",
                self.networking.nat_mode,
                "must be per_az in production (a single NAT is a single point of failure)",
                "set networking.nat_mode: per_az",
            ),
            (
                ("load_balancer", "certificate_arn"),
                self.load_balancer.https,
                self.load_balancer.certificate_arn,
                "is required in production (HTTPS only)",
                "set load_balancer.certificate_arn to an ACM certificate ARN",
            ),
            (
                ("load_balancer", "deletion_protection"),
                self.load_balancer.deletion_protection,
                self.load_balancer.deletion_protection,
                "must be true in production",
                "set load_balancer.deletion_protection: true",
            ),
            (
                ("state",),
                self.state is not None,
                None,
                "is required in production (shared, locked remote state)",
                "add state: {bucket: <your-state-bucket>}",
            ),
            (
                ("load_balancer", "ssl_policy"),
                self.load_balancer.ssl_policy in PRODUCTION_TLS_POLICIES,
                self.load_balancer.ssl_policy,
                "must be a restricted TLS 1.3 policy in production",
                f"use {PRODUCTION_TLS_POLICIES[0]} (or {', '.join(PRODUCTION_TLS_POLICIES[1:])})",
            ),
            (
                ("load_balancer", "managed_waf"),
                self.load_balancer.managed_waf or self.load_balancer.waf_web_acl_arn is not None,
                self.load_balancer.managed_waf,
                "must be true in production unless load_balancer.waf_web_acl_arn names a web ACL (the ALB is public)",
                "set load_balancer.managed_waf: true, or waf_web_acl_arn to your web ACL",
            ),
            (
                ("load_balancer", "test_ingress_cidrs"),
                not any(n.prefixlen == 0 for n in self.load_balancer.test_ingress_cidrs),
                [str(n) for n in self.load_balancer.test_ingress_cidrs],
                "opens the test listener (green, before it is released) to the whole internet in production",
                "list only the ranges that test green, e.g. an office range (the VPC's own NAT is always admitted)",
            ),
            *(
                (
                    path,
                    days >= PRODUCTION_MIN_LOG_RETENTION_DAYS,
                    days,
                    f"keeps logs for fewer than {PRODUCTION_MIN_LOG_RETENTION_DAYS} days in production "
                    "(an audit trail must outlive the review of an incident)",
                    f"set {'.'.join(path)}: {PRODUCTION_MIN_LOG_RETENTION_DAYS} or more",
                )
                for path, days in (
                    (("networking", "flow_log_retention_days"), self.networking.flow_log_retention_days),
                    (("database", "log_retention_days"), self.database.log_retention_days),
                    (("pipeline", "build_log_retention_days"), self.pipeline.build_log_retention_days),
                    (("load_balancer", "waf_log_retention_days"), self.load_balancer.waf_log_retention_days),
                    (("load_balancer", "access_log_retention_days"), self.load_balancer.access_log_retention_days),
                )
            ),
        ]
        for key, spec in self.all_services.items():
            rules += self._production_service_rules(spec, self.paths(key))
        for path, holds, got, message, fix in rules:
            if not holds:
                yield Problem(path, message, fix, got)

    @staticmethod
    def _production_service_rules(
        spec: ServiceSpec, at: ServicePaths
    ) -> list[tuple[tuple[str, ...], bool, object, str, str]]:
        deployment = spec.deployment
        rules: list[tuple[tuple[str, ...], bool, object, str, str]] = [
            (
                (*at.deployment, "auto_rollback"),
                deployment.auto_rollback,
                deployment.auto_rollback,
                "must be true in production",
                "set deployment.auto_rollback: true",
            ),
            (
                (*at.container, "readonly_root_filesystem"),
                spec.readonly_root_filesystem,
                spec.readonly_root_filesystem,
                "must be true in production (a writable root lets a compromised process change the image)",
                "set readonly_root_filesystem: true (the app writes only to /tmp, a volume of its own)",
            ),
            (
                (*at.container, "log_retention_days"),
                spec.log_retention_days >= PRODUCTION_MIN_LOG_RETENTION_DAYS,
                spec.log_retention_days,
                f"keeps logs for fewer than {PRODUCTION_MIN_LOG_RETENTION_DAYS} days in production "
                "(an audit trail must outlive the review of an incident)",
                f"set {'.'.join((*at.container, 'log_retention_days'))}: {PRODUCTION_MIN_LOG_RETENTION_DAYS} or more",
            ),
        ]
        if spec.route is not None:  # a service without a route is rolled, not tested through a listener
            rules.append(
                (
                    (*at.deployment, "test_hook"),
                    deployment.test_hook,
                    deployment.test_hook,
                    "must be true in production (green is tested before production traffic moves to it)",
                    "set deployment.test_hook: true",
                )
            )
        return rules
