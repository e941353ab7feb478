"""The config schema: everything a user may vary, with its default, in one place.

Models here check what people write. They are frozen and reject unknown keys. Cross-field
rules report every problem they find, each with its own key path and fix (see ``problems``).
Nothing in this file imports cdktf or the AWS provider, so a bad config fails in well under
a second.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.naming import ResourceNames
from config.problems import Problem, raise_if_any


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


_SECRET_LOOKING = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY", re.I)
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGION = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"
_ACM_ARN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"
_CONNECTION_ARN = r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
_WAF_ARN = r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+$"
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"

Port = Annotated[int, Field(ge=1, le=65535)]


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        nearest = min(LOG_RETENTION_DAYS, key=lambda allowed: abs(allowed - value))
        raise ValueError(
            f"CloudWatch Logs does not accept this retention; use {nearest} "
            f"(or another of {', '.join(map(str, LOG_RETENTION_DAYS))})"
        )
    return value


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
        description="Interface endpoints for ECR, CloudWatch Logs, Secrets Manager and KMS (no NAT traffic for them).",
    )
    flow_log_retention_days: int = Field(365, description="Retention of VPC flow logs in CloudWatch Logs.")

    _check_retention = field_validator("flow_log_retention_days")(_log_retention)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= value.prefixlen <= 24:
            raise ValueError("AWS allows VPC ranges from /16 to /24; choose a prefix length in that range")
        if not value.is_private:
            raise ValueError("use a private (RFC 1918) range such as 10.0.0.0/16")
        return value

    @cached_property
    def tiers(self) -> dict[str, tuple[ipaddress.IPv4Network, ...]]:
        """Subnets of each tier ('public', 'private', 'database'), one per AZ, explicit or carved."""
        carved = self.vpc_cidr.subnets(new_prefix=self.subnet_prefix_length)
        result: dict[str, tuple[ipaddress.IPv4Network, ...]] = {}
        for tier in ("public", "private", "database"):
            explicit = getattr(self, f"{tier}_subnets")
            result[tier] = explicit if explicit is not None else tuple(next(carved) for _ in range(self.az_count))
        return result

    @model_validator(mode="after")
    def _subnets_fit(self) -> NetworkingConfig:
        problems: list[Problem] = []
        needed = 3 * self.az_count
        available = (
            2 ** (self.subnet_prefix_length - self.vpc_cidr.prefixlen)
            if self.subnet_prefix_length >= self.vpc_cidr.prefixlen
            else 0
        )
        explicit_tiers = sum(getattr(self, f"{t}_subnets") is not None for t in ("public", "private", "database"))
        if available < (3 - explicit_tiers) * self.az_count:
            problems.append(
                Problem(
                    ("subnet_prefix_length",),
                    f"{self.vpc_cidr} holds {available} subnets of /{self.subnet_prefix_length}, but {needed} are needed (3 tiers x {self.az_count} AZs)",  # noqa: E501
                    f"use a longer prefix (e.g. /{self.vpc_cidr.prefixlen + 4}) or a larger vpc_cidr",
                    self.subnet_prefix_length,
                )
            )
            raise_if_any(problems)
        seen: list[tuple[str, int, ipaddress.IPv4Network]] = []
        for tier, subnets in self.tiers.items():
            if len(subnets) != self.az_count:
                problems.append(
                    Problem(
                        (f"{tier}_subnets",),
                        f"needs one subnet per AZ ({self.az_count})",
                        f"list exactly {self.az_count} CIDRs or remove the key to carve them automatically",
                        len(subnets),
                    )
                )
            for index, subnet in enumerate(subnets):
                if not subnet.subnet_of(self.vpc_cidr):
                    problems.append(
                        Problem(
                            (f"{tier}_subnets", index),
                            f"is outside vpc_cidr {self.vpc_cidr}",
                            "choose a range inside vpc_cidr",
                            str(subnet),
                        )
                    )
                for other_tier, other_index, other in seen:
                    if subnet.overlaps(other):
                        problems.append(
                            Problem(
                                (f"{tier}_subnets", index),
                                f"overlaps {other_tier}_subnets[{other_index}] ({other})",
                                "give every subnet its own, non-overlapping range",
                                str(subnet),
                            )
                        )
                seen.append((tier, index, subnet))
        raise_if_any(problems)
        return self


#: First Aurora PostgreSQL minor version of each major that pauses at 0 ACU.
AUTO_PAUSE_SINCE = {13: 15, 14: 12, 15: 7, 16: 3}


class ServerlessV2Capacity(Section):
    min_acu: float = Field(
        0.5,
        ge=0,
        le=256,
        description="Minimum Aurora capacity units; 0 pauses the database when no connection is open "
        "(needs Aurora PostgreSQL 13.15, 14.12, 15.7, 16.3 or later; not in production).",
    )
    max_acu: float = Field(4, ge=1, le=256, description="Maximum Aurora capacity units.")
    seconds_until_auto_pause: int = Field(
        300,
        ge=300,
        le=86_400,
        description="With min_acu 0: idle time before the database pauses; the first connection after "
        "that waits for it to resume (about 15 seconds).",
    )

    @property
    def auto_pause(self) -> bool:
        return self.min_acu == 0

    @model_validator(mode="after")
    def _ordered(self) -> ServerlessV2Capacity:
        if self.max_acu < self.min_acu:
            raise_if_any(
                [Problem(("max_acu",), f"is below min_acu ({self.min_acu})", "set max_acu >= min_acu", self.max_acu)]
            )
        return self


class DatabaseConfig(Section):
    """Aurora PostgreSQL. The master password is created and rotated by Secrets Manager (never in code or state)."""

    engine_version: str = Field(
        "16",
        pattern=r"^\d+(\.\d+)?$",
        description="Aurora PostgreSQL version: the major version (16), so AWS's automatic minor upgrades never "
        "meet a pinned minor that the next apply would try to downgrade to; a pinned minor (16.4) needs "
        "auto_minor_version_upgrade: false, except in a DR global database, whose members all run the "
        "version given here (minor upgrades then go through the global cluster; README).",
    )
    auto_minor_version_upgrade: bool = Field(
        True,
        description="Let AWS apply minor engine upgrades in the maintenance window. A DR global database "
        "is upgraded by raising engine_version (its global cluster upgrades every member; Terraform leaves "
        "the members' versions to it).",
    )
    instance_class: str = Field(
        "db.r6g.large",
        pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$|^db\.serverless$",
        description="Instance class; db.serverless when serverless_v2 is set.",
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
    database_name: str = Field("app", pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Initial database.")
    master_username: str = Field("app_admin", pattern=r"^[a-z][a-z0-9_]{0,15}$", description="Master user name.")
    backup_retention_days: int = Field(7, ge=1, le=35, description="Automated backup retention.")
    preferred_backup_window: str = Field("03:00-04:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    preferred_maintenance_window: str = Field(
        "sun:04:30-sun:05:30", pattern=r"^[a-z]{3}:\d{2}:\d{2}-[a-z]{3}:\d{2}:\d{2}$"
    )
    deletion_protection: bool = Field(True, description="Block deleting the cluster; production requires it.")
    skip_final_snapshot: bool = Field(False, description="Skip the snapshot taken when the cluster is deleted.")
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        60, description="Enhanced Monitoring interval; 0 turns it off."
    )
    performance_insights: bool = Field(True, description="Performance Insights, encrypted with the database key.")
    log_retention_days: int = Field(365, description="Retention of the exported PostgreSQL log.")

    _check_retention = field_validator("log_retention_days")(_log_retention)

    @property
    def effective_instance_class(self) -> str:
        return "db.serverless" if self.serverless_v2 is not None else self.instance_class

    @model_validator(mode="after")
    def _capacity_mode(self) -> DatabaseConfig:
        if (
            self.serverless_v2 is not None
            and "instance_class" in self.model_fields_set
            and self.instance_class != "db.serverless"
        ):
            raise_if_any(
                [
                    Problem(
                        ("instance_class",),
                        "conflicts with serverless_v2",
                        "remove instance_class (Serverless v2 instances are db.serverless) or remove serverless_v2",
                        self.instance_class,
                    )
                ]
            )
        if self.serverless_v2 is None and self.instance_class == "db.serverless":
            raise_if_any(
                [
                    Problem(
                        ("serverless_v2",),
                        "is required when instance_class is db.serverless",
                        "add serverless_v2: {min_acu: 0.5, max_acu: 4}",
                        None,
                    )
                ]
            )
        return self


class ScheduledScaling(Section):
    """Change the task range on a schedule, e.g. non-production down to zero at night."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9-]{1,40}$", description="Name of the scheduled action.")
    schedule: str = Field(
        ...,
        pattern=r"^(cron|rate|at)\(.+\)$",
        description="cron(...), rate(...) or at(...), as Application Auto Scaling reads it.",
    )
    timezone: str = Field("UTC", description="IANA time zone of the schedule.")
    min_tasks: int = Field(..., ge=0, le=1000)
    max_tasks: int = Field(..., ge=0, le=1000)


class AutoscalingConfig(Section):
    """Application Auto Scaling of the service's task count; it follows the service through deployments."""

    min_tasks: int = Field(2, ge=0, le=1000)
    max_tasks: int = Field(10, ge=1, le=1000)
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
    scale_in_cooldown_seconds: int = Field(300, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(60, ge=0, le=3600)
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
        None, ge=0, le=1000, description="Relative share of Fargate Spot; default 0 in production, 3 elsewhere."
    )


class ServiceConfig(Section):
    """The Fargate service the pipeline deploys."""

    container_name: str = Field(
        "app",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$",
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
        "/ready", pattern=r"^/[\x21-\x7e]*$", description="Path the target groups probe (readiness)."
    )
    health_check_grace_period_seconds: int = Field(60, ge=0, le=2147483647)
    environment: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables; secrets belong in Secrets Manager."
    )
    stop_timeout_seconds: int = Field(
        30, ge=10, le=120, description="Grace between SIGTERM and SIGKILL; the app drains and stops inside it."
    )
    readonly_root_filesystem: bool = Field(True, description="Mount the container's root filesystem read-only.")
    initial_image_tag: str = Field(
        "bootstrap",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        description="Image tag of the first task definition, before the pipeline's first deployment replaces it.",
    )
    log_retention_days: int = Field(365, description="Retention of the container logs.")
    autoscaling: AutoscalingConfig | None = Field(
        None, description="Scale the task count automatically; null keeps desired_count fixed."
    )
    capacity: CapacityConfig = Field(default_factory=CapacityConfig, description="Fargate / Fargate Spot split.")

    _check_retention = field_validator("log_retention_days")(_log_retention)

    @field_validator("environment")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_VAR_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name; use letters, digits and _")
            if _SECRET_LOOKING.search(name):
                raise ValueError(f"{name!r} looks like a secret; store it in Secrets Manager, never in config")
        return value

    @model_validator(mode="after")
    def _fargate_pair(self) -> ServiceConfig:
        scaling = self.autoscaling
        if scaling is not None and not scaling.min_tasks <= self.desired_count <= scaling.max_tasks:
            raise_if_any(
                [
                    Problem(
                        ("desired_count",),
                        f"is outside autoscaling's {scaling.min_tasks}..{scaling.max_tasks}",
                        "set desired_count inside the autoscaling range (it is the starting count)",
                        self.desired_count,
                    )
                ]
            )
        if self.cpu not in FARGATE_SIZES:
            raise_if_any(
                [
                    Problem(
                        ("cpu",),
                        "is not a Fargate CPU size",
                        f"use one of {', '.join(map(str, FARGATE_SIZES))}",
                        self.cpu,
                    )
                ]
            )
        allowed = FARGATE_SIZES[self.cpu]
        if self.memory not in allowed:
            raise_if_any(
                [
                    Problem(
                        ("memory",),
                        f"is not valid with cpu {self.cpu} on Fargate",
                        f"use {allowed[0]}..{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]}",
                        self.memory,
                    )
                ]
            )
        return self


class LoadBalancerConfig(Section):
    """Public ALB with a production listener, a test listener and blue/green target groups."""

    certificate_arn: str | None = Field(
        None, pattern=_ACM_ARN, description="ACM certificate; when set, both listeners are HTTPS and port 80 redirects."
    )
    prod_listener_port: Port | None = Field(
        None, description="Production listener port; default 443 with a certificate, else 80."
    )
    test_listener_port: Port = Field(
        8443, description="Test listener port; green is reachable here before traffic shifts."
    )
    ssl_policy: str = Field("ELBSecurityPolicy-TLS13-1-2-2021-06", description="TLS policy of HTTPS listeners.")
    ingress_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(
        (ipaddress.IPv4Network("0.0.0.0/0"),), description="Who may reach the production listener."
    )
    test_ingress_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(
        (),
        description="Who besides the VPC (through its NAT gateways) may reach the test listener, e.g. an office range.",
    )
    health_check_interval_seconds: int = Field(10, ge=5, le=300)
    health_check_timeout_seconds: int = Field(5, ge=2, le=120)
    healthy_threshold: int = Field(2, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)
    deregistration_delay_seconds: int = Field(30, ge=0, le=3600, description="Connection draining on deregistration.")
    idle_timeout_seconds: int = Field(60, ge=1, le=4000)
    deletion_protection: bool = Field(True, description="Block deleting the ALB; production requires it.")
    waf_web_acl_arn: str | None = Field(
        None, pattern=_WAF_ARN, description="Existing regional WAFv2 web ACL to associate instead of the managed one."
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
    access_log_retention_days: int = Field(90, ge=1, le=3650, description="Days ALB and S3 access logs are kept in S3.")

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


class PipelineConfig(Section):
    """Source (CodeConnections) -> CodeBuild -> CodeDeploy blue/green."""

    source_provider: Literal["GitHub", "GitLab", "Bitbucket", "GitHubEnterpriseServer", "GitLabSelfManaged"] = Field(
        "GitLab", description="Where the application repository lives."
    )
    repository: str = Field(
        ..., pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", description="Full repository id, e.g. group/app."
    )
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$", description="Branch that triggers the pipeline.")
    connection_arn: str | None = Field(
        None,
        pattern=_CONNECTION_ARN,
        description="Existing CodeConnections connection; default: one is created (someone must approve it once in the console).",  # noqa: E501
    )
    app_path: str = Field(
        "app", pattern=r"^[A-Za-z0-9_./-]+$", description="Folder of the Dockerfile in the repository."
    )
    build_compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = (
        "BUILD_GENERAL1_SMALL"
    )
    build_timeout_minutes: int = Field(20, ge=5, le=480)
    artifact_retention_days: int = Field(30, ge=1, le=3650, description="Days pipeline artifacts are kept.")
    build_log_retention_days: int = Field(365, description="Retention of CodeBuild logs.")

    _check_retention = field_validator("build_log_retention_days")(_log_retention)


class RollbackAlarms(Section):
    """Alarms on each colour's target group and on the app's own errors; any of them rolls back."""

    target_5xx_per_minute: int = Field(10, ge=1, description="5xx responses from the targets, per minute.")
    p99_latency_ms: int = Field(2000, ge=10, le=120_000, description="p99 target response time over a minute.")
    unhealthy_hosts: int = Field(1, ge=1, description="Unhealthy targets, for two consecutive minutes.")
    app_5xx_per_minute: int = Field(5, ge=1, description="5xx responses the app itself logged, per minute.")


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
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = Field(
        "BUILD_GENERAL1_SMALL", description="CodeBuild compute size of the load generator."
    )


class NotificationsConfig(Section):
    """Pipeline and deployment events (failed, rolled back, succeeded, approval needed) to an SNS topic."""

    email_subscribers: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = Field(
        (), description="E-mail addresses subscribed to the topic (each confirms once by e-mail)."
    )


class AllAtOnce(Section):
    """Shift all production traffic to green in one step."""

    type: Literal["all_at_once"] = "all_at_once"


class Canary(Section):
    """Shift ``percent`` first, then the rest after ``minutes``."""

    type: Literal["canary"]
    percent: int = Field(10, ge=1, le=99, description="Share of traffic in the first step.")
    minutes: int = Field(5, ge=1, le=2880, description="Wait before shifting the rest.")


class Linear(Section):
    """Shift ``percent`` more every ``every_minutes`` until all traffic is on green."""

    type: Literal["linear"]
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


class FailoverConfig(Section):
    """DNS failover: Route 53 answers with the primary ALB while its health check passes, else the DR ALB."""

    hosted_zone_id: str = Field(..., pattern=r"^Z[A-Z0-9]{1,31}$", description="Existing public hosted zone.")
    record_name: str = Field(
        ...,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$",
        description="Name users call, e.g. app.example.com; both ALBs' certificates must cover it.",
    )
    health_check_path: str = Field("/ready", pattern=r"^/", description="Path Route 53 checks on each ALB.")


def _dr_networking() -> NetworkingConfig:
    return NetworkingConfig(vpc_cidr=ipaddress.IPv4Network("10.100.0.0/16"), nat_mode="single")


class DisasterRecoveryConfig(Section):
    """A second region to recover in. Postures, cheapest and slowest first:

    backup_restore: database backups and images copied to the DR region; nothing runs there.
    pilot_light: the database replicates continuously (Aurora Global Database, no instance in the
    DR region), VPC, ALB, cluster and service exist there at zero tasks.
    warm_standby: as pilot light, with a reader instance and ``standby_tasks`` tasks running.
    """

    region: str = Field(..., pattern=_REGION, description="The DR region; not the primary region.")
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
        pattern=_ACM_ARN,
        description="ACM certificate in the DR region for its ALB; required when the primary listeners are HTTPS "
        "and the posture runs an ALB (pilot_light, warm_standby).",
    )
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

    bucket: str = Field(..., pattern=_BUCKET, description="Existing S3 bucket for state.")
    key: str | None = Field(None, description="Object key; default <project>/<environment>/terraform.tfstate.")
    region: str | None = Field(None, pattern=_REGION, description="Bucket region; default: the stack's region.")
    use_lockfile: bool = Field(True, description="S3 native state locking (Terraform >= 1.10).")
    kms_key_id: str | None = Field(None, description="KMS key for state objects; default: the bucket's encryption.")


class EnvironmentConfig(Section):
    """One deployment environment: one config file, one Terraform stack."""

    project: str = Field(
        ..., pattern=r"^[a-z][a-z0-9-]{1,19}$", description="Short project name; prefixes every resource name."
    )
    environment: str = Field(
        ..., pattern=r"^[a-z][a-z0-9]{1,9}$", description="Environment name, e.g. dev, staging, prod."
    )
    production: bool = Field(False, description="Enforce production safety rules.")
    account_id: str = Field(
        ..., pattern=r"^\d{12}$", description="AWS account the stack may deploy into (provider allowed_account_ids)."
    )
    region: str = Field("eu-west-1", pattern=_REGION, description="AWS region.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every resource.")
    networking: NetworkingConfig = Field(default_factory=NetworkingConfig, description="The VPC and its subnets.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Aurora PostgreSQL.")
    service: ServiceConfig = Field(default_factory=ServiceConfig, description="The Fargate service.")
    load_balancer: LoadBalancerConfig = Field(
        default_factory=LoadBalancerConfig, description="The ALB, its listeners and the WAF."
    )
    pipeline: PipelineConfig = Field(..., description="Source, build and deploy pipeline.")
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig, description="How CodeDeploy shifts traffic and rolls back."
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
        return tuple(f"{self.region}{letter}" for letter in "abcdef"[: self.networking.az_count])

    @property
    def dr_availability_zones(self) -> tuple[str, ...]:
        assert self.dr is not None
        if self.dr.networking.availability_zones is not None:
            return self.dr.networking.availability_zones
        return tuple(f"{self.dr.region}{letter}" for letter in "abcdef"[: self.dr.networking.az_count])

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if "-gov-" in self.region:
            return "aws-us-gov"
        return "aws"

    @property
    def spot_weight(self) -> int:
        explicit = self.service.capacity.spot_weight
        return (0 if self.production else 3) if explicit is None else explicit

    @property
    def approval_stage(self) -> bool:
        explicit = self.deployment.approval_stage
        return self.production if explicit is None else explicit

    @property
    def state_key(self) -> str:
        if self.state is not None and self.state.key:
            return self.state.key
        return f"{self.project}/{self.environment}/terraform.tfstate"

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} uses the reserved aws: prefix; rename it")
            if not 1 <= len(key) <= 128 or len(tag_value) > 256:
                raise ValueError(f"tag {key!r} is too long (keys <= 128, values <= 256 characters); shorten it")
        return value

    @model_validator(mode="after")
    def _rules(self) -> EnvironmentConfig:
        raise_if_any(
            [
                *self._name_limits(),
                *self._zone_rules(),
                *self._controller_rules(),
                *self._database_rules(),
                *self._dr_rules(),
                *self._production_rules(),
            ]
        )
        return self

    def _controller_rules(self) -> Iterator[Problem]:
        load_test, alarms = self.deployment.load_test, self.deployment.alarms
        if load_test is not None and load_test.max_p99_ms > alarms.p99_latency_ms:
            # The rollback alarm watches green's p99 while the load test runs: a budget above it
            # can never be reached, the alarm rolls the deployment back first.
            yield Problem(
                ("deployment", "load_test", "max_p99_ms"),
                f"is above the rollback alarm's p99 of {alarms.p99_latency_ms} ms (deployment.alarms.p99_latency_ms)",
                f"set max_p99_ms to {alarms.p99_latency_ms} or less, or raise deployment.alarms.p99_latency_ms",
                load_test.max_p99_ms,
            )
        if self.deployment.load_test is not None and not self.deployment.test_hook:
            yield Problem(
                ("deployment", "load_test"),
                "is started by the test-traffic hook, which is switched off",
                "set deployment.test_hook: true, or remove load_test",
                self.deployment.load_test.model_dump(),
            )
        if self.deployment.controller == "ecs" and self.deployment.approval_timeout_minutes is not None:
            yield Problem(
                ("deployment", "approval_timeout_minutes"),
                "holds green for an operator, which only CodeDeploy can do",
                "remove it, or use deployment.controller: codedeploy (an approval stage works with both)",
                self.deployment.approval_timeout_minutes,
            )

    def _zone_rules(self) -> Iterator[Problem]:
        zones = self.networking.availability_zones
        if zones is None:
            return
        if len(zones) != self.networking.az_count or len(set(zones)) != len(zones):
            yield Problem(
                ("networking", "availability_zones"),
                f"must list {self.networking.az_count} distinct zones (networking.az_count)",
                "list one zone per AZ, or remove the key",
                list(zones),
            )
        for index, zone in enumerate(zones):
            if not re.fullmatch(re.escape(self.region) + r"[a-z]", zone):
                yield Problem(
                    ("networking", "availability_zones", index),
                    f"is not a zone of region {self.region}",
                    f"use a name like {self.region}a",
                    zone,
                )

    def _name_limits(self) -> Iterator[Problem]:
        for what, name, limit in self.names.limits():
            if len(name) > limit:
                yield Problem(
                    ("project",),
                    f"makes the {what} {name!r} {len(name)} characters long, over AWS's {limit}",
                    f"shorten project or environment by {len(name) - limit} characters",
                    self.project,
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
        major, _, minor_text = db.engine_version.partition(".")
        since = AUTO_PAUSE_SINCE.get(int(major), 0 if int(major) > max(AUTO_PAUSE_SINCE) else None)
        # A major version alone gets AWS's current default minor, which pauses for every major here.
        if since is None or (minor_text and int(minor_text) < since):
            yield Problem(
                ("database", "serverless_v2", "min_acu"),
                f"0 (auto-pause) needs a newer engine than {self.database.engine_version}",
                "set database.engine_version to 13.15, 14.12, 15.7, 16.3 or later, or min_acu: 0.5",
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
        if dr.certificate_arn is not None and f":acm:{dr.region}:" not in dr.certificate_arn:
            yield Problem(
                ("dr", "certificate_arn"),
                f"is not in the DR region {dr.region} (an ALB only uses certificates of its own region)",
                f"request or import the certificate in {dr.region}",
                dr.certificate_arn,
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
                ("deployment", "auto_rollback"),
                self.deployment.auto_rollback,
                self.deployment.auto_rollback,
                "must be true in production",
                "set deployment.auto_rollback: true",
            ),
            (
                ("state",),
                self.state is not None,
                None,
                "is required in production (shared, locked remote state)",
                "add state: {bucket: <your-state-bucket>}",
            ),
        ]
        for path, holds, got, message, fix in rules:
            if not holds:
                yield Problem(path, message, fix, got)
