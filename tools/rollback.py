"""Instant rollback of an environment's service: ``make rollback ENV=prod`` (add ``ARGS=--yes``).

- A deployment in flight is stopped with automatic rollback: CodeDeploy moves production
  traffic back to blue at once (blue is still running until the termination wait ends).
- With none in flight, the previous successful revision is deployed again through CodeDeploy
  (a normal blue/green deployment of the older task definition), and the tool says so.

Needs AWS credentials for the environment's account (the usual AWS_PROFILE / AWS_* variables),
allowed codedeploy:ListDeployments, BatchGetDeployments and CreateDeployment on the deployment
group, and StopDeployment (which has no resource type: "*").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config import ConfigError, config_path, load_config

IN_FLIGHT = ["Created", "Queued", "InProgress", "Baking", "Ready"]
#: BatchGetDeployments takes at most this many ids per call.
#: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeployments.html
BATCH_LIMIT = 25


@dataclass(frozen=True)
class Target:
    application: str
    group: str
    region: str


class RollbackError(Exception):
    pass


def deployment_ids(client: Any, target: Target, statuses: list[str]) -> list[str]:
    """Every deployment of the group in these statuses, across all pages (hundreds after a while)."""
    ids: list[str] = []
    token: str | None = None
    while True:
        page = client.list_deployments(
            applicationName=target.application,
            deploymentGroupName=target.group,
            includeOnlyStatuses=statuses,
            **({"nextToken": token} if token else {}),
        )
        ids.extend(page.get("deployments", []))
        token = page.get("nextToken")
        if not token:
            return ids


def in_flight_deployment(client: Any, target: Target) -> str | None:
    ids = deployment_ids(client, target, IN_FLIGHT)
    return ids[0] if ids else None


def previous_successful_revision(client: Any, target: Target) -> tuple[str, dict[str, Any]]:
    """(deployment id, revision) of the last success before the current one."""
    ids = deployment_ids(client, target, ["Succeeded"])
    if len(ids) < 2:
        raise RollbackError("no earlier successful deployment to return to; nothing was changed")
    # The list is in no documented order: read them all, BATCH_LIMIT at a time, and sort.
    infos = [
        info
        for start in range(0, len(ids), BATCH_LIMIT)
        for info in client.batch_get_deployments(deploymentIds=ids[start : start + BATCH_LIMIT])["deploymentsInfo"]
    ]
    newest_first = sorted(infos, key=lambda info: info["createTime"], reverse=True)
    previous = newest_first[1]
    return previous["deploymentId"], previous["revision"]


def rollback(client: Any, target: Target, confirm: Callable[[str], bool], say: Callable[[str], None]) -> str:
    """Roll back; return the id of the deployment acted on or started."""
    current = in_flight_deployment(client, target)
    if current is not None:
        if not confirm(f"Stop deployment {current} of {target.group} and return production traffic to blue?"):
            raise RollbackError("cancelled; nothing was changed")
        client.stop_deployment(deploymentId=current, autoRollbackEnabled=True)
        say(f"stopped deployment {current} with automatic rollback: production traffic returns to blue now")
        return current
    previous_id, revision = previous_successful_revision(client, target)
    if not confirm(f"No deployment in flight. Redeploy the revision of {previous_id} to {target.group}?"):
        raise RollbackError("cancelled; nothing was changed")
    started = client.create_deployment(
        applicationName=target.application,
        deploymentGroupName=target.group,
        revision=revision,
        description=f"rollback: redeploy the revision of {previous_id}",
    )["deploymentId"]
    say(f"no deployment was in flight; redeploying the revision of {previous_id} as deployment {started}")
    return str(started)


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="environment name (config/<env>.yaml)")
    parser.add_argument("--service", help="the service to roll back (default: the environment's only one)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    try:
        config = load_config(config_path(args.env))
        key = config.pick_service(args.service)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 2
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    names = config.names.service(key)
    if config.all_services[key].released_by == "rolling":
        print(
            f"{key} has no route: it is released by rolling update, which ECS rolls back by itself (circuit "
            f"breaker); to go back by hand, redeploy its previous task definition with `aws ecs update-service "
            f"--cluster {config.names.cluster} --service {names.service} --task-definition <family:revision>`",
            file=sys.stderr,
        )
        return 2
    if config.all_services[key].released_by == "ecs_native":
        # ECS-native blue/green rolls back on its alarms by itself; by hand, ECS's own API does it.
        print(
            f"{args.env} uses ECS-native blue/green: roll back the deployment in flight with "
            f"`aws ecs stop-service-deployment --stop-type ROLLBACK --service-deployment-arn <arn>` "
            f"(`aws ecs list-service-deployments --cluster {config.names.cluster} --service {names.service} "
            f"--status IN_PROGRESS` names it); `make rollback` drives CodeDeploy only",
            file=sys.stderr,
        )
        return 2
    target = Target(names.codedeploy_app, names.deployment_group, config.region)
    if client is None:
        import boto3

        client = boto3.client("codedeploy", region_name=target.region)

    def confirm(question: str) -> bool:
        return args.yes or input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}

    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        rollback(client, target, confirm, print)
    except NoCredentialsError:
        print(f"no AWS credentials: set AWS_PROFILE or AWS_* for account {config.account_id}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"CodeDeploy refused: {error}", file=sys.stderr)
        return 1
    except RollbackError as error:
        print(str(error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
