"""Rule 4: changes AWS refuses mid-apply, and replacements that lose data, read from a plan.

``make preflight`` runs ``terraform plan`` and gives its JSON (``terraform show -json``) to
``review``: every change listed here is refused with what AWS would do and what to do instead,
before anything is applied. A plan that only creates, updates freely, or replaces the task
definition (a release's new image) passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: What a CODE_DEPLOY-controlled service refuses to update through UpdateService; only a
#: CodeDeploy deployment changes these (each release's AppSpec carries them).
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
CODEDEPLOY_OWNED = {
    "network_configuration": "its subnets and security groups",
    "platform_version": "its Fargate platform version",
    "capacity_provider_strategy": "its capacity provider strategy",
    "load_balancer": "its load balancers and target groups",
    "task_definition": "its task definition",
}

#: Resources whose replacement or destruction loses what they hold, and what to do instead.
STATEFUL = {
    "aws_rds_cluster": (
        "the database and every row in it",
        "keep the cluster's identifier, name, subnet group and key; to move data, restore a snapshot "
        "into a new cluster beside it and switch the service over",
    ),
    "aws_rds_cluster_instance": (
        "a database instance (a writer replacement fails over)",
        "change the instance in place (class, parameters) or add the new one before removing the old",
    ),
    "aws_rds_global_cluster": ("the global database joining both regions", "keep its identifier and engine"),
    "aws_kms_key": (
        "the key, and with it every secret, log, snapshot and artifact encrypted with it",
        "keep the key; rotate it (it rotates yearly already) instead of replacing it",
    ),
    "aws_s3_bucket": ("the bucket's objects", "keep the bucket's name; copy the objects first if it must move"),
    "aws_ecr_repository": (
        "every image, including the ones blue and the rollback need",
        "keep the repository's name and key",
    ),
    "aws_secretsmanager_secret": (
        "the secret, whose name stays reserved for its recovery window",
        "keep the secret's name; rotate its value instead",
    ),
    "aws_backup_vault": ("the recovery points in the vault", "keep the vault's name and key"),
    "aws_cloudwatch_log_group": ("the log history", "keep the log group's name"),
    "aws_ecs_service": (
        "the running service (an outage until the new one is healthy)",
        "keep the service's name, cluster and controller",
    ),
    "aws_lb": ("the load balancer's DNS name, which clients and DNS records use", "keep its name and scheme"),
}

#: Resources a running blue/green service still uses while Terraform would replace them.
IN_USE = {
    "aws_lb_target_group": (
        "a target group a listener still forwards to (AWS refuses to delete it: ResourceInUse)",
        "add the new target group beside the old one, release onto it, then remove the old one",
    ),
    "aws_db_parameter_group": (
        "a parameter group the database's instances use",
        "give the replacement a new name (a major upgrade needs a new family) and switch to it first",
    ),
    "aws_rds_cluster_parameter_group": (
        "a parameter group the cluster uses",
        "give the replacement a new name and switch the cluster to it first",
    ),
    "aws_db_subnet_group": ("the subnet group the database lives in", "keep its name and subnets' AZs"),
}


@dataclass(frozen=True)
class Refusal:
    address: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.address}: {self.what}; {self.fix}"


def _actions(change: dict[str, Any]) -> list[str]:
    return list(change.get("change", {}).get("actions", []))


def _replaced_or_destroyed(change: dict[str, Any]) -> str | None:
    actions = _actions(change)
    if "delete" not in actions:
        return None
    return "replaces" if "create" in actions else "destroys"


def _code_deploy_controlled(values: dict[str, Any] | None) -> bool:
    controllers = (values or {}).get("deployment_controller") or []
    return any(c.get("type") == "CODE_DEPLOY" for c in controllers)


def review(plan: dict[str, Any]) -> list[Refusal]:
    """Every change of the plan AWS would refuse, or that loses data, with what to do instead."""
    changes = plan.get("resource_changes", [])
    return [*_controller_owned(changes), *_stateful(changes), *_in_use(changes), *_service_network(changes)]


def _controller_owned(changes: list[dict[str, Any]]) -> Iterator[Refusal]:
    for change in changes:
        if change["type"] != "aws_ecs_service" or _actions(change) != ["update"]:
            continue
        before, after = change["change"].get("before") or {}, change["change"].get("after") or {}
        if not _code_deploy_controlled(before):
            continue  # ECS itself applies these through a deployment
        for field, what in CODEDEPLOY_OWNED.items():
            if field in after and before.get(field) != after.get(field):
                yield Refusal(
                    change["address"],
                    f"updates {what} ({field}), which AWS refuses for a CODE_DEPLOY service",
                    "leave the field to CodeDeploy (bluegreen ignores it; each release's AppSpec carries the new "
                    "value to green), then release through the pipeline",
                )


def _stateful(changes: list[dict[str, Any]]) -> Iterator[Refusal]:
    for change in changes:
        verb = _replaced_or_destroyed(change)
        if verb is None or change["type"] not in STATEFUL:
            continue
        loses, fix = STATEFUL[change["type"]]
        yield Refusal(change["address"], f"{verb} {loses}", fix + _because(change))


def _in_use(changes: list[dict[str, Any]]) -> Iterator[Refusal]:
    for change in changes:
        if _replaced_or_destroyed(change) != "replaces" or change["type"] not in IN_USE:
            continue
        what, fix = IN_USE[change["type"]]
        yield Refusal(change["address"], f"replaces {what}", fix + _because(change))


def _service_network(changes: list[dict[str, Any]]) -> Iterator[Refusal]:
    """Subnets and security groups a CODE_DEPLOY service's tasks run in cannot be replaced: the
    tasks' network interfaces keep them in use, and the service's network is CodeDeploy's."""
    used: dict[str, str] = {}
    for change in changes:
        before = change.get("change", {}).get("before") or {}
        if change["type"] == "aws_ecs_service" and _code_deploy_controlled(before):
            for network in before.get("network_configuration") or []:
                for key in ("subnets", "security_groups"):
                    for identifier in network.get(key) or []:
                        used[identifier] = change["address"]
    for change in changes:
        if change["type"] not in ("aws_subnet", "aws_security_group") or _replaced_or_destroyed(change) is None:
            continue
        identifier = (change["change"].get("before") or {}).get("id")
        if identifier in used:
            yield Refusal(
                change["address"],
                f"{_replaced_or_destroyed(change)} a {change['type'].removeprefix('aws_').replace('_', ' ')} the "
                f"tasks of {used[identifier]} run in (AWS refuses: DependencyViolation)",
                "add the new subnet or group beside the old one, release (the AppSpec moves green onto it), then "
                "remove the old one in a later apply" + _because(change),
            )


def _because(change: dict[str, Any]) -> str:
    paths = change.get("change", {}).get("replace_paths") or []
    forced = sorted({str(path[0]) for path in paths if path})
    return f" (forced by: {', '.join(forced)})" if forced else ""
