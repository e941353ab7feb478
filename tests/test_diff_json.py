"""make diff-json: resource-by-resource review against committed snapshots (golden files)."""

from __future__ import annotations

import copy
import json

from tests.conftest import SynthesizedStack
from tools import diff_json


def test_synthesized_stacks_match_their_reviewed_snapshots(stack: SynthesizedStack) -> None:
    """Golden files: a change to the infrastructure is reviewed with `make diff-json`, then recorded
    with `make snapshot`; never regenerated blindly."""
    path = diff_json.snapshot_path(stack.file.parent.name)
    changes = diff_json.diff(json.loads(path.read_text()), stack.json)
    assert changes == [], (
        f"review with make diff-json ENV={stack.env}, then make snapshot ENV={stack.env}:\n" + "\n".join(changes)
    )


def test_diff_names_added_removed_and_changed_resources(prod: SynthesizedStack) -> None:
    after = copy.deepcopy(prod.json)
    service_name = prod.one("aws_ecs_service").id
    after["resource"]["aws_ecs_service"][service_name]["desired_count"] = 9
    after["resource"]["aws_ecs_service"][service_name]["network_configuration"]["assign_public_ip"] = True
    after["resource"]["aws_sqs_queue"] = {"extra": {"name": "q"}}
    cluster_name = prod.one("aws_ecs_cluster").id
    del after["resource"]["aws_ecs_cluster"][cluster_name]
    after["provider"]["aws"][0]["region"] = "us-east-1"
    assert diff_json.diff(prod.json, after) == [
        "+ aws_sqs_queue.extra",
        f"- aws_ecs_cluster.{cluster_name}",
        f"~ aws_ecs_service.{service_name}: desired_count, network_configuration.assign_public_ip",
        "~ provider",
    ]


def test_cdktf_bookkeeping_is_not_a_change(prod: SynthesizedStack) -> None:
    after = copy.deepcopy(prod.json)
    for bodies in after["resource"].values():
        for body in bodies.values():
            body["//"] = {"metadata": {"path": "moved/elsewhere"}}
    assert diff_json.diff(prod.json, after) == []


def test_a_moved_resource_is_shown_as_moved_with_what_else_changed(prod: SynthesizedStack) -> None:
    alarm = prod.service().one("aws_cloudwatch_metric_alarm", "app_errors/app_5xx")
    before = copy.deepcopy(prod.json)
    bodies = before["resource"]["aws_cloudwatch_metric_alarm"]
    bodies["old_app_5xx"] = dict(bodies.pop(alarm.id), threshold=99)
    before.pop("moved", None)
    after = copy.deepcopy(prod.json)
    after["moved"] = [{"from": "aws_cloudwatch_metric_alarm.old_app_5xx", "to": alarm.address}]
    changes = [line for line in diff_json.diff(before, after) if not line.startswith("~ moved")]
    assert changes == [f"> aws_cloudwatch_metric_alarm.old_app_5xx -> {alarm.address}: threshold"]


def test_one_aws_name_removed_and_added_without_a_moved_block_is_flagged(prod: SynthesizedStack) -> None:
    """Control: the same rename without its moved block is a create and a destroy of one name."""
    alarm = prod.service().one("aws_cloudwatch_metric_alarm", "app_errors/app_5xx")
    before = copy.deepcopy(prod.json)
    bodies = before["resource"]["aws_cloudwatch_metric_alarm"]
    bodies["old_app_5xx"] = bodies.pop(alarm.id)
    after = copy.deepcopy(prod.json)
    after.pop("moved", None)
    assert diff_json.replaced_by_name(before, after) == [("aws_cloudwatch_metric_alarm.old_app_5xx", alarm.address)]
    assert f"! aws_cloudwatch_metric_alarm.old_app_5xx -> {alarm.address}" in "\n".join(diff_json.diff(before, after))
