"""Every physical resource name, derived from the config in one place, and checked against AWS.

Names are part of the contract with AWS (most cannot change without replacing the resource),
and each kind of resource has its own rules (length, characters, reserved prefixes). They are
computed here; ``physical_names`` lists every name the stack gives AWS for one config, with the
resource kind whose rules apply (config/aws_names.py) and the config keys the name is made of,
so a name AWS would refuse is reported against what the user wrote, before synthesis.
tests/test_aws_rules.py checks that every name in the synthesized stacks is one listed here, and back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.schema import EnvironmentConfig

Path = tuple[str | int, ...]

#: Role purposes (modules/security/roles.py), by when the stack creates them.
ROLE_PURPOSES = (
    "task_execution",
    "task",
    "codebuild",
    "codepipeline",
    "codedeploy",
    "flow_logs",
    "rds_monitoring",
    "test_hook",
    "migrate",
    "release_alarms",
)
#: The environment's roles (one each); every other purpose is a role of each service.
PLATFORM_ROLE_PURPOSES = ("flow_logs", "rds_monitoring")
#: Every service's roles; a routed one's release adds the hooks' and its controller's.
SERVICE_ROLE_PURPOSES = ("task_execution", "task", "codebuild", "codepipeline", "migrate")
ECS_NATIVE_ROLE_PURPOSES = ("ecs_infrastructure", "ecs_hook_invoker")
#: Security group purposes (modules/security/security_groups.py, modules/networking.py).
SECURITY_GROUP_PURPOSES = ("alb", "tasks", "database")
#: KMS key purposes (modules/security/keys.py).
KEY_PURPOSES = ("logs", "data", "notifications", "artifacts")
#: Rollback alarms, each judging green (modules/alarms.py RELEASE_ALARMS), and the app's own.
ALARM_SUFFIXES = ("release-5xx-rate", "release-p99-latency", "release-unhealthy-hosts")
#: Target-tracking policies of the service's autoscaling (modules/ecs.py), by the key that enables each.
SCALING_POLICIES = {
    "cpu": "cpu_target_percent",
    "memory": "memory_target_percent",
    "requests": "requests_per_task_per_minute",
}


#: CodeDeploy's predefined ECS configs (modules/traffic.py PREDEFINED): with these no config is created.
PREDEFINED_DEPLOYMENT_CONFIGS = {("canary", 10, 5), ("canary", 10, 15), ("linear", 10, 1), ("linear", 10, 3)}


@dataclass(frozen=True)
class PhysicalName:
    """A name the stack gives AWS: what it names, the rules that apply, and what it is made of."""

    #: The resource kind whose rules apply (a key of config.aws_names.RULES).
    kind: str
    value: str
    #: The config keys the name is made of, the one to blame first.
    made_of: tuple[Path, ...] = (("project",), ("environment",))
    #: Where in the stack, when the same kind is named in several places ("in the DR region").
    where: str = ""
    #: What to call it when the rule's own name is too general ("green target group name").
    label: str = ""


@dataclass(frozen=True)
class ResourceNames:
    project: str
    environment: str
    account_id: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    # --- load balancer (AWS limit: 32 characters each) ---
    @property
    def service_namespace(self) -> str:
        """The private DNS namespace services without a route are found in: ``<key>.<namespace>``."""
        return f"{self.prefix}.internal"

    @property
    def ecr_namespace(self) -> str:
        """Every service's repository is under it (and so is each replica, in a DR region)."""
        return f"{self.project}/{self.environment}"

    @property
    def alb(self) -> str:
        return f"{self.prefix}-alb"

    @property
    def web_acl(self) -> str:
        return self.prefix

    @property
    def waf_own_egress(self) -> str:
        """The IP set of the VPC's NAT addresses, which the rate limit leaves to the product's checks."""
        return f"{self.web_acl}-own-egress"

    @property
    def waf_log_group(self) -> str:
        # WAF only delivers to log groups whose name starts with aws-waf-logs-.
        return f"aws-waf-logs-{self.web_acl}"

    # --- the environment's cluster ---
    @property
    def cluster(self) -> str:
        return self.prefix

    # --- database ---
    @property
    def db_cluster(self) -> str:
        return f"{self.prefix}-db"

    @property
    def db_subnet_group(self) -> str:
        return self.db_cluster

    @property
    def db_cluster_parameter_group(self) -> str:
        return f"{self.db_cluster}-cluster"

    @property
    def db_instance_parameter_group(self) -> str:
        return f"{self.db_cluster}-instance"

    def db_instance(self, index: int) -> str:
        return f"{self.db_cluster}-{index + 1}"

    @property
    def db_final_snapshot(self) -> str:
        return f"{self.db_cluster}-final"

    @property
    def db_global_cluster(self) -> str:
        return f"{self.db_cluster}-global"

    @property
    def db_secret(self) -> str:
        return f"{self.db_cluster}/master"

    @property
    def db_log_group(self) -> str:
        return f"/aws/rds/cluster/{self.db_cluster}/postgresql"

    # --- access logs, the source connection ---
    @property
    def access_log_bucket(self) -> str:
        return f"{self.prefix}-alb-logs-{self.account_id}"

    def dr_access_log_bucket(self, dr_region: str) -> str:
        # S3 bucket names are global; every other name may repeat in the DR region.
        return f"{self.access_log_bucket}-{dr_region}"

    @property
    def connection(self) -> str:
        # CodeConnections connection names are limited to 32 characters.
        return f"{self.prefix}-source"[:32]

    def service(self, key: str) -> ServiceNames:
        """The names of one service of the environment."""
        return ServiceNames(self, key)

    # --- notifications ---
    @property
    def topic(self) -> str:
        return f"{self.prefix}-releases"

    # --- networking, keys, roles ---
    @property
    def flow_log_group(self) -> str:
        return f"/vpc/{self.prefix}/flow-logs"

    def security_group(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def key_alias(self, purpose: str) -> str:
        return f"alias/{self.prefix}/{purpose}"

    def role(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose.replace('_', '-')}"

    # --- disaster recovery ---
    @property
    def backup_vault(self) -> str:
        return f"{self.prefix}-backups"

    @property
    def dr_backup_vault(self) -> str:
        return f"{self.prefix}-dr-copies"

    @property
    def backup_plan(self) -> str:
        return f"{self.prefix}-dr"

    @property
    def backup_selection(self) -> str:
        return f"{self.backup_plan}-database"

    def failover_set_identifier(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    # --- the account's state bucket (make bootstrap) ---
    @property
    def state_key_alias(self) -> str:
        return f"alias/{self.project}/terraform-state"


#: The key a single-service environment's service is read as (config's ``service:`` section).
#: Its names are those every environment had before services: no key in them where there was none.
LEGACY_SERVICE = "app"


@dataclass(frozen=True)
class ServiceNames:
    """The names of one service: the environment's prefix and the service's key.

    The service keyed ``app`` keeps the names of a single-service environment, so an environment
    that adds services renames nothing; any other key is part of its service's names.
    """

    env: ResourceNames
    key: str

    @property
    def prefix(self) -> str:
        """What the service's own names start with."""
        return self.env.prefix if self.key == LEGACY_SERVICE else f"{self.env.prefix}-{self.key}"

    # --- containers ---
    @property
    def ecr_repository(self) -> str:
        return f"{self.env.ecr_namespace}/{self.key}"

    @property
    def service(self) -> str:
        return f"{self.env.prefix}-{self.key}"

    @property
    def task_family(self) -> str:
        return f"{self.env.prefix}-{self.key}"

    @property
    def app_log_group(self) -> str:
        return f"/ecs/{self.env.prefix}/{self.key}"

    def scaling_policy(self, metric: str) -> str:
        return f"{self.service}-{metric}"

    def scheduled_action(self, schedule: str) -> str:
        return f"{self.service}-{schedule}"

    # --- load balancer (AWS limit: 32 characters each) ---
    @property
    def target_group_blue(self) -> str:
        return f"{self.prefix}-blue"

    @property
    def target_group_green(self) -> str:
        return f"{self.prefix}-green"

    # --- pipeline ---
    @property
    def artifact_bucket(self) -> str:
        # Bucket names are global: the account id keeps them unique across accounts.
        return f"{self.prefix}-artifacts-{self.env.account_id}"

    @property
    def build_project(self) -> str:
        return f"{self.prefix}-build"

    @property
    def build_log_group(self) -> str:
        return f"/aws/codebuild/{self.build_project}"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def codedeploy_app(self) -> str:
        return f"{self.env.prefix}-{self.key}"

    @property
    def deployment_group(self) -> str:
        return f"{self.env.prefix}-{self.key}"

    def deployment_config(self, kind: str, percent: int, minutes: int) -> str:
        return f"{self.prefix}-{kind}-{percent}pct-{minutes}min"

    @property
    def migrate_project(self) -> str:
        """The pipeline's migration step (a CodeBuild project that runs the one-off task)."""
        return f"{self.prefix}-migrate"

    @property
    def migrate_log_group(self) -> str:
        return f"/aws/codebuild/{self.migrate_project}"

    @property
    def release_project(self) -> str:
        """The pipeline's release step under the ECS controller (registers the task definition, rolls the service)."""
        return f"{self.prefix}-release"

    @property
    def release_log_group(self) -> str:
        return f"/aws/codebuild/{self.release_project}"

    @property
    def migration_task_family(self) -> str:
        return f"{self.prefix}-migrate"

    # --- the task's grants (managed policies: names are the account's, not the role's) ---
    def task_grants_policy(self, number: int) -> str:
        """The ``number``-th (from 1) customer managed policy holding the service's config grants."""
        return f"{self.prefix}-task-grants-{number}"

    # --- release ---
    @property
    def release_alarms_hook(self) -> str:
        """The Lambda that points the rollback alarms at green before each deployment starts it."""
        return f"{self.prefix}-release-alarms"

    @property
    def release_alarms_hook_log_group(self) -> str:
        return f"/aws/lambda/{self.release_alarms_hook}"

    @property
    def test_hook(self) -> str:
        return f"{self.prefix}-test-traffic-hook"

    @property
    def test_hook_log_group(self) -> str:
        return f"/aws/lambda/{self.test_hook}"

    @property
    def load_test(self) -> str:
        return f"{self.prefix}-load-test"

    @property
    def load_test_log_group(self) -> str:
        return f"/aws/codebuild/{self.load_test}"

    @property
    def load_test_ended_rule(self) -> str:
        return f"{self.load_test}-ended"

    def alarm(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    @property
    def app_5xx_filter(self) -> str:
        return f"{self.prefix}-app-5xx"

    @property
    def metric_namespace(self) -> str:
        return f"bluegreen/{self.prefix}"

    def notification_rule(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    # --- identity and network ---
    def role(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose.replace('_', '-')}"

    def security_group(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"


def physical_names(config: EnvironmentConfig) -> Iterator[PhysicalName]:
    """Every name the stack gives AWS for ``config`` (the DR region's too)."""
    yield from _platform_names(config)
    for key in config.all_services:
        yield from _service_names(config, key)


def _name(kind: str, value: str, *made_of: Path, where: str = "", label: str = "") -> PhysicalName:
    return PhysicalName(kind, value, made_of or (("project",), ("environment",)), where, label)


def _regions(c: EnvironmentConfig) -> list[str]:
    """Where the platform runs: "" for the primary region, and the DR region when it runs compute."""
    return [""] + (["in the DR region"] if c.dr is not None and c.dr.runs_compute else [])


def _platform_names(c: EnvironmentConfig) -> Iterator[PhysicalName]:
    n, name = c.names, _name
    for where in _regions(c):
        yield name("alb", n.alb, where=where)
        yield name("ecs_cluster", n.cluster, where=where)
        yield name("log_group", n.flow_log_group, where=where)
        yield name("rds_cluster", n.db_cluster, where=where)
        yield name("rds_subnet_group", n.db_subnet_group, where=where)
        yield name("rds_parameter_group", n.db_cluster_parameter_group, where=where)
        yield name("rds_parameter_group", n.db_instance_parameter_group, where=where)
        yield name("log_group", n.db_log_group, where=where)
        for purpose in SECURITY_GROUP_PURPOSES:
            yield name("security_group", n.security_group(purpose), where=where)
        networking = c.networking if not where else c.dr.networking  # type: ignore[union-attr]
        if networking.interface_endpoints:
            yield name("security_group", n.security_group("endpoints"), where=where)
        for purpose in KEY_PURPOSES:
            yield name("kms_alias", n.key_alias(purpose), where=where)
        if c.load_balancer.managed_waf and (where or c.load_balancer.waf_web_acl_arn is None):
            yield name("waf_acl", n.web_acl, where=where)
            yield name("waf_metric", n.web_acl, where=where)
            yield name("waf_log_group", n.waf_log_group, where=where)
            yield name("waf_ip_set", n.waf_own_egress, where=where)
    if c.dr is not None and not c.dr.runs_compute:
        for purpose in KEY_PURPOSES:
            yield name("kms_alias", n.key_alias(purpose), where="in the DR region")

    for index in range(c.database.instance_count):
        yield name("rds_instance", n.db_instance(index))
    if not c.database.skip_final_snapshot:
        yield name("rds_snapshot", n.db_final_snapshot)

    yield name("s3_bucket", n.access_log_bucket, ("project",), ("environment",), ("account_id",))
    if c.pipeline.connection_arn is None:
        yield name("connection", n.connection)
    yield name("sns_topic", n.topic)
    if any(s.route is not None and s.deployment.test_hook for s in c.all_services.values()):
        yield name("security_group", n.security_group("test_hook"))
    purposes = list(PLATFORM_ROLE_PURPOSES)
    if c.dr is not None:
        purposes.append("ecr_replica_creator")
        if c.dr.posture == "backup_restore":
            purposes.append("backup")
    for purpose in purposes:
        yield name("iam_role", n.role(purpose))
    if c.state is not None:
        yield name("s3_bucket", c.state.bucket, ("state", "bucket"), where="the state bucket")
        yield name("kms_alias", n.state_key_alias, ("project",), where="the state key")
    yield from _recovery_names(c)


def _recovery_names(c: EnvironmentConfig) -> Iterator[PhysicalName]:
    n, name, dr = c.names, _name, c.dr
    if dr is None:
        return
    if dr.runs_compute:
        yield name(
            "s3_bucket",
            n.dr_access_log_bucket(dr.region),
            ("project",),
            ("environment",),
            ("account_id",),
            ("dr", "region"),
            where="in the DR region",
        )
    if dr.global_database:
        yield name("rds_global_cluster", n.db_global_cluster)
        yield name("secret", n.db_secret)
        if dr.posture == "warm_standby":
            yield name("rds_instance", n.db_instance(0), where="in the DR region")
    if dr.posture == "backup_restore":
        yield name("backup_vault", n.backup_vault)
        yield name("backup_vault", n.dr_backup_vault, where="in the DR region")
        yield name("backup_plan", n.backup_plan)
        yield name("backup_selection", n.backup_selection)
    if dr.failover is not None:
        for role in ("primary", "secondary"):
            yield name("route53_set_identifier", n.failover_set_identifier(role))


def _service_names(c: EnvironmentConfig, key: str) -> Iterator[PhysicalName]:
    spec, at, n = c.all_services[key], c.paths(key), c.names.service(key)
    keyed = () if c.services is None else (("services", key),)

    def name(kind: str, value: str, *made_of: Path, where: str = "", label: str = "") -> PhysicalName:
        return _name(kind, value, *(made_of or (("project",), ("environment",), *keyed)), where=where, label=label)

    for where in _regions(c):
        if spec.route is not None:
            yield name("target_group", n.target_group_blue, where=where, label="blue target group name")
            yield name("target_group", n.target_group_green, where=where, label="green target group name")
        yield name("ecs_service", n.service, where=where)
        yield name("ecs_family", n.task_family, where=where)
        yield name("log_group", n.app_log_group, where=where)
    account = (("project",), ("environment",), *keyed, ("account_id",))
    yield name("s3_bucket", n.artifact_bucket, *account)
    yield name("ecr_repository", n.ecr_repository)
    yield name("codebuild", n.build_project)
    yield name("log_group", n.build_log_group)
    yield name("codebuild", n.migrate_project)
    yield name("log_group", n.migrate_log_group)
    yield name("ecs_family", n.migration_task_family)
    yield name("pipeline", n.pipeline)
    yield name("notification_rule", n.notification_rule("pipeline"))
    yield name("metric_filter", n.app_5xx_filter)
    yield name("metric_namespace", n.metric_namespace)
    yield name("alarm", n.alarm("app-5xx"))
    if key in _peers(c):
        yield name("security_group", n.security_group("peers"))
    purposes = list(SERVICE_ROLE_PURPOSES)
    if spec.route is not None:
        yield from _release_names(c, key, name)
        purposes += ["codedeploy", "test_hook", "release_alarms"]
        if spec.released_by == "ecs_native":
            purposes += ECS_NATIVE_ROLE_PURPOSES
        if spec.deployment.load_test is not None:
            purposes.append("load_test")
    if spec.released_by != "codedeploy":
        # The ECS controller's release step (modules/ecs_release.py).
        yield name("codebuild", n.release_project)
        yield name("log_group", n.release_log_group)
        purposes.append("ecs_release")
    for purpose in purposes:
        yield name("iam_role", n.role(purpose))
    if any(grant.type != "service" for grant in spec.grants):
        # The first of the (at most 4) grants policies: the others differ only in their last digit.
        yield name("iam_policy", n.task_grants_policy(1))
    scaling = spec.autoscaling
    if scaling is not None:
        for metric, field in SCALING_POLICIES.items():
            if getattr(scaling, field) is not None:
                yield name("scaling_policy", n.scaling_policy(metric))
        for index, schedule in enumerate(scaling.schedules):
            yield name(
                "scheduled_action",
                n.scheduled_action(schedule.name),
                (*at.container, "autoscaling", "schedules", index, "name"),
                ("project",),
                ("environment",),
            )


def _peers(c: EnvironmentConfig) -> set[str]:
    """The services that call another or are called (modules/service_network.py gives each a group)."""
    from config.schema import ServiceGrant  # schema imports this module: import when called

    called = {(k, g.service) for k, s in c.all_services.items() for g in s.grants if isinstance(g, ServiceGrant)}
    return {key for pair in called for key in pair}


def _release_names(c: EnvironmentConfig, key: str, name: Callable[..., PhysicalName]) -> Iterator[PhysicalName]:
    """The names of a routed service's blue/green release: its alarms, hooks and controller's resources."""
    spec, at, n = c.all_services[key], c.paths(key), c.names.service(key)
    deployment = spec.deployment
    for suffix in ALARM_SUFFIXES:
        yield name("alarm", n.alarm(suffix))
    yield name("lambda", n.release_alarms_hook)
    yield name("log_group", n.release_alarms_hook_log_group)
    if deployment.test_hook:
        yield name("lambda", n.test_hook)
        yield name("log_group", n.test_hook_log_group)
    if deployment.load_test is not None:
        yield name("codebuild", n.load_test)
        yield name("log_group", n.load_test_log_group)
        if spec.released_by == "codedeploy":
            yield name("event_rule", n.load_test_ended_rule)
    if spec.released_by != "codedeploy":
        return
    yield name("codedeploy_app", n.codedeploy_app)
    yield name("deployment_group", n.deployment_group)
    yield name("notification_rule", n.notification_rule("deployment"))
    traffic = deployment.traffic
    minutes = traffic.minutes if traffic.type == "canary" else getattr(traffic, "every_minutes", 0)
    shifting = (traffic.type, getattr(traffic, "percent", 100), minutes)
    if traffic.type != "all_at_once" and shifting not in PREDEFINED_DEPLOYMENT_CONFIGS:
        yield name(
            "deployment_config",
            n.deployment_config(traffic.type, traffic.percent, minutes),
            ("project",),
            ("environment",),
            (*at.deployment, "traffic"),
        )
