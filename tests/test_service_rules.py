"""The rules between services are refused at --check with the key and the fix: one default route,
routes that differ, rules within the ALB's condition limit, distinct priorities, no more services
than one load balancer has target groups for, and nothing of blue/green on a service without a
route. Each has a control."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config
from config.schema import ALB_TARGET_GROUPS, RULE_CONDITION_VALUES

BASE = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "platform.yaml").read_text())


def services(**routes: Any) -> dict[str, Any]:
    """The two-service config, with each named service's route replaced (or added, for a new key)."""
    data = copy.deepcopy(BASE)
    for key, route in routes.items():
        spec = data["services"].get(key) or {**data["services"]["api"], "source": {"repository": f"shop/{key}"}}
        data["services"][key] = {**spec, "route": route}
    return data


def check(tmp_path: Path, data: dict[str, Any]) -> str:
    """The refusal's text ('' when the config loads)."""
    file = tmp_path / "platform.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))  # services keep their order (it derives priorities)
    try:
        load_config(file)
    except ConfigError as error:
        return error.render()
    return ""


def test_the_shipped_two_service_fixture_passes_control(tmp_path: Path) -> None:
    assert check(tmp_path, services()) == ""


def test_only_one_service_can_be_the_listeners_default(tmp_path: Path) -> None:
    message = check(tmp_path, services(api={}))
    assert "services.api.route: has neither host nor paths, like service web's" in message


@pytest.mark.parametrize(
    ("route", "refused"),
    [
        pytest.param({"host": "api.shop.example.com"}, True, id="same host"),
        pytest.param({"host": "api.shop.example.com", "paths": ["/v2/*"]}, False, id="same host, own paths"),
        pytest.param({"host": "cart.shop.example.com"}, False, id="another host"),
    ],
)
def test_two_routes_that_match_the_same_requests_are_refused(
    tmp_path: Path, route: dict[str, Any], refused: bool
) -> None:
    message = check(tmp_path, services(cart=route))
    expected = "services.cart.route: matches exactly what service api's route matches, so one of them is never reached"
    assert (expected in message) is refused, message
    assert ("give one of them another host or other paths" in message) is refused


def test_a_rule_over_the_albs_condition_values_is_refused(tmp_path: Path) -> None:
    paths = [f"/p{i}/*" for i in range(RULE_CONDITION_VALUES)]
    message = check(tmp_path, services(api={"host": "api.shop.example.com", "paths": paths}))
    assert f"services.api.route.paths: makes a rule of {RULE_CONDITION_VALUES + 1} condition values" in message
    assert f"use at most {RULE_CONDITION_VALUES - 1} paths" in message
    assert check(tmp_path, services(api={"host": "api.shop.example.com", "paths": paths[:-1]})) == ""  # control


def test_two_rules_of_one_priority_are_refused_whether_given_or_derived(tmp_path: Path) -> None:
    explicit = check(
        tmp_path,
        services(
            api={"host": "api.shop.example.com", "priority": 7}, cart={"host": "cart.shop.example.com", "priority": 7}
        ),
    )
    assert "services.cart.route.priority: 7 is also service api's rule priority (got 7)" in explicit
    # api's derived priority is 10 (first routed service); cart asks for it explicitly.
    derived = check(tmp_path, services(cart={"host": "cart.shop.example.com", "priority": 10}))
    assert "services.cart.route.priority: 10 is also service api's rule priority" in derived
    assert "give one of them another priority" in derived
    assert check(tmp_path, services(cart={"host": "cart.shop.example.com", "priority": 11})) == ""  # control


def unrouted(**fields: Any) -> dict[str, Any]:
    """The fixture with worker (no route) carrying ``fields`` (deployment.<f> or autoscaling)."""
    data = services()
    worker = data["services"]["worker"]
    for path, value in fields.items():
        section, _, leaf = path.partition("__")
        worker[section] = {**worker.get(section, {}), leaf: value} if leaf else value
    return data


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("controller", "ecs"),
        ("traffic", {"type": "canary", "percent": 10, "minutes": 5}),
        ("test_hook", True),
        ("load_test", {"duration_seconds": 60}),
        ("approval_timeout_minutes", 30),
        ("alarms", {"target_5xx_percent": 5}),
    ],
)
def test_a_service_without_a_route_refuses_what_only_blue_green_uses(tmp_path: Path, field: str, value: Any) -> None:
    message = check(tmp_path, unrouted(**{f"deployment__{field}": value}))
    assert f"services.worker.deployment.{field}: applies to blue/green releases behind the load balancer" in message
    assert f"remove {field}, or give worker a route" in message


def test_a_service_without_a_route_keeps_what_a_rolling_release_uses_control(tmp_path: Path) -> None:
    assert check(tmp_path, unrouted(deployment__auto_rollback=False, deployment__approval_stage=True)) == ""


def test_a_service_without_a_route_cannot_scale_on_load_balancer_requests(tmp_path: Path) -> None:
    scaling = {"min_tasks": 1, "max_tasks": 4, "requests_per_task_per_minute": 600}
    message = check(tmp_path, unrouted(autoscaling=scaling))
    assert "services.worker.autoscaling.requests_per_task_per_minute: counts the load balancer's requests" in message
    cpu = {"min_tasks": 1, "max_tasks": 4, "cpu_target_percent": 60}
    assert check(tmp_path, unrouted(autoscaling=cpu)) == ""  # control


def test_a_grant_to_call_a_routed_service_is_refused(tmp_path: Path) -> None:
    data = services()
    data["services"]["worker"]["grants"] = [{"type": "service", "service": "api"}]
    message = check(tmp_path, data)
    assert "services.worker.grants.0.service: is routed on the load balancer" in message
    assert "call api at its route" in message


def test_dr_refuses_a_service_without_a_route(tmp_path: Path) -> None:
    dr = {"region": "eu-central-1", "posture": "backup_restore", "networking": {"vpc_cidr": "10.150.0.0/16"}}
    message = check(tmp_path, {**services(), "dr": dr})
    assert "services.worker.route: is null, and a service without a route has no standby in the DR region" in message
    routed = services(worker={"host": "worker.shop.example.com"})
    routed["services"]["api"]["grants"] = []
    assert check(tmp_path, {**routed, "dr": dr}) == ""  # control


def many(count: int) -> dict[str, Any]:
    """``count`` services: web the default route, s1... each by its host."""
    data = services()
    template = {**data["services"]["api"], "grants": []}
    data["services"] = {"web": data["services"]["web"]} | {
        f"s{i}": {**template, "source": {"repository": f"shop/s{i}"}, "route": {"host": f"s{i}.shop.example.com"}}
        for i in range(1, count)
    }
    return data


def test_more_services_than_one_load_balancer_has_target_groups_for_are_refused(tmp_path: Path) -> None:
    most = ALB_TARGET_GROUPS // 2
    message = check(tmp_path, many(most + 1))
    assert (
        f"services: needs {2 * (most + 1)} target groups on the shared load balancer (blue and green for each of "
        f"{most + 1} services), over AWS's {ALB_TARGET_GROUPS}"
    ) in message
    assert f"keep at most {most} services in one environment" in message
    assert check(tmp_path, many(most)) == ""  # control
