"""Several services per environment (config/platform.yaml: web is the listener's default
route, api takes its host): one ALB and listener, each service its own target groups, rule,
roles, pipeline and hooks, and every AWS rule of aws_rules holds for the whole stack."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from aws_rules import trust
from aws_rules.listeners import plain_routes
from aws_rules.network import broad_endpoint_statements, namespaces_without_vpc_dns, needless_internet_egress, stuck
from aws_rules.ordering import literal_names
from aws_rules.permissions import denied
from aws_rules.prerequisites import missing
from aws_rules.stack import Stack
from config import load_config
from config.schema import RELEASE_STEP_START_MINUTES, ROLLING_RELEASE_MINUTES
from hooks.load_test import ROUTE_HEADER
from modules.load_balancer import TEST_ROUTE_HEADER
from tests.conftest import SynthesizedStack, synthesize_configs
from tests.test_bluegreen import release_step_of

CONFIG = Path(__file__).resolve().parent.parent / "config" / "platform.yaml"


#: The same services with a pilot-light DR region (a standby of each service there).
DR = {
    "region": "eu-central-1",
    "posture": "pilot_light",
    "networking": {"vpc_cidr": "10.150.0.0/16", "az_count": 2, "nat_mode": "single"},
    "certificate_arn": "arn:aws:acm:eu-central-1:555555555555:certificate/00000000-0000-4000-8000-000000000015",
}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedStack]:
    folder = tmp_path_factory.mktemp("services.out")
    document = yaml.safe_load(CONFIG.read_text())
    with_dr = folder / "two_services_dr.yaml"
    # A global database's members all run one exact version; a service without a route has no
    # standby, so the DR variant has the routed two.
    database = {**document["database"], "engine_version": "16.4"}
    routed = {"web": document["services"]["web"], "api": {**document["services"]["api"], "grants": []}}
    with_dr.write_text(
        yaml.safe_dump({**document, "environment": "platformdr", "database": database, "services": routed, "dr": DR})
    )
    configs = {"two_services": load_config(CONFIG), "two_services_dr": load_config(with_dr)}
    return synthesize_configs(configs, folder / "out")


@pytest.fixture(scope="module")
def platform(stacks: dict[str, SynthesizedStack]) -> SynthesizedStack:
    return stacks["two_services"]


@pytest.fixture(scope="module")
def platform_dr(stacks: dict[str, SynthesizedStack]) -> SynthesizedStack:
    return stacks["two_services_dr"]


def test_two_services_share_one_load_balancer_and_listener_yet_each_owns_its_target_groups(
    platform: SynthesizedStack,
) -> None:
    assert len(platform.of_type("aws_lb")) == 1
    listeners = {r.path: r for r in platform.of_type("aws_lb_listener")}
    prod = listeners["load_balancer/prod_listener"]
    web, api = platform.service("web"), platform.service("api")
    # web is the default route: the listener forwards to its blue target group.
    assert prod.body["default_action"][0]["target_group_arn"] == web.one("aws_lb_target_group", "route/blue").ref("arn")
    # api has a rule of its own on the same listener, for its host, to its own target group.
    prod_rule = api.one("aws_lb_listener_rule", "route/prod_rule").body
    assert prod_rule["listener_arn"] == prod.ref("arn")
    assert prod_rule["condition"] == [{"host_header": {"values": ["api.shop.example.com"]}}]
    assert prod_rule["action"][0]["target_group_arn"] == api.one("aws_lb_target_group", "route/blue").ref("arn")
    assert not web.of_type("aws_lb_listener_rule"), "the default route needs no rule under CodeDeploy"
    names = [g.body["name"] for g in platform.of_type("aws_lb_target_group")]
    assert len(names) == len(set(names)) == 4


def test_each_service_tests_only_its_own_green_through_the_shared_test_listener(platform: SynthesizedStack) -> None:
    assert ROUTE_HEADER == TEST_ROUTE_HEADER, "the hooks and the listener rule must agree on the header"
    api = platform.service("api")
    test_rule = api.one("aws_lb_listener_rule", "route/test_rule").body
    assert test_rule["condition"] == [{"http_header": {"http_header_name": TEST_ROUTE_HEADER, "values": ["api"]}}]
    assert test_rule["action"][0]["target_group_arn"] == api.one("aws_lb_target_group", "route/green").ref("arn")
    api_hook = api.one("aws_lambda_function", "deployment_hooks/test_traffic").body["environment"]["variables"]
    assert api_hook["TEST_ROUTE"] == "api" and api_hook["TEST_HOSTNAME"] == "api.shop.example.com"
    web_hook = platform.service("web").one("aws_lambda_function", "deployment_hooks/test_traffic")
    assert "TEST_ROUTE" not in web_hook.body["environment"]["variables"], "the default route needs no header"


def test_each_service_has_its_own_roles_pipeline_and_deployment_group(platform: SynthesizedStack) -> None:
    for kind in ("aws_codepipeline", "aws_ecs_service", "aws_ecr_repository"):
        assert {r.path.split("/")[1] for r in platform.of_type(kind)} == {"web", "api", "worker"}, kind
    groups = platform.of_type("aws_codedeploy_deployment_group")
    assert {r.path.split("/")[1] for r in groups} == {"web", "api"}, "worker is rolled, not released blue/green"
    roles = [r.body["name"] for r in platform.of_type("aws_iam_role")]
    assert len(roles) == len(set(roles))
    api_roles = {r.ref("arn") for r in platform.service("api").of_type("aws_iam_role")}
    web_pipeline = platform.service("web").one("aws_codepipeline")
    assert web_pipeline.body["role_arn"] not in api_roles


def crossings(platform: SynthesizedStack) -> list[str]:
    """Role policies of one service that name another service's target groups, ECS service,
    alarms or listener rules (what a release changes)."""
    found = []
    keys = list(platform.config.all_services)
    for own, other in ((a, b) for a in keys for b in keys if a != b):
        theirs = {
            r.ref(attribute)
            for kind in (
                "aws_lb_target_group",
                "aws_ecs_service",
                "aws_cloudwatch_metric_alarm",
                "aws_lb_listener_rule",
                "aws_service_discovery_service",
            )
            for r in platform.service(other).of_type(kind)
            for attribute in ("arn", "id", "name")
        }
        for policy in platform.service(own).of_type("aws_iam_role_policy"):
            found += [f"{policy.path} names {t}" for t in theirs if t in str(policy.body["policy"])]
    return found


def test_one_services_release_touches_no_resource_of_another(platform: SynthesizedStack) -> None:
    """Whatever a service's deployer and hooks may change (their role policies) names only that
    service's own ECS service, target groups, rules and alarms, or the shared listeners."""
    assert crossings(platform) == []


def test_a_policy_naming_another_services_target_group_is_reported_control(platform: SynthesizedStack) -> None:
    document = copy.deepcopy(platform.json)
    other = platform.service("api").one("aws_lb_target_group", "route/green").ref("arn")
    policy = next(
        b
        for b in document["resource"]["aws_iam_role_policy"].values()
        if b["//"]["metadata"]["path"].split("/", 1)[1] == "services/web/role_policies/codedeploy"
    )
    policy["policy"] = policy["policy"].replace('"Resource"', f'"NotUsed": "{other}", "Resource"', 1)
    broken = SynthesizedStack(platform.env, platform.config, document, platform.file)
    assert any("services/web/role_policies/codedeploy" in c for c in crossings(broken))


def violations(platform: SynthesizedStack) -> list[str]:
    """Every finding of every aws_rules rule on the stack."""
    stack = Stack(platform.json)
    return [
        *(str(r) for r in plain_routes(stack)),
        *(str(f) for f in literal_names(stack)),
        *(str(m) for m in missing(stack)),
        *(str(d) for d in denied(stack)),
        *(str(s) for s in stuck(stack)),
        *(r.path for r in needless_internet_egress(stack)),
        *(str(b) for b in broad_endpoint_statements(stack)),
        *(str(u) for u in trust.untrusted(stack)),
        *namespaces_without_vpc_dns(stack),
    ]


def test_every_aws_rule_holds_for_a_stack_of_several_services(platform: SynthesizedStack) -> None:
    assert violations(platform) == []


def unreplicated_images(platform: SynthesizedStack) -> list[str]:
    """DR-region task definitions whose image's repository no replication filter copies there."""
    repositories = {r.ref("name"): r.body["name"] for r in platform.of_type("aws_ecr_repository")}
    (replication,) = platform.of_type("aws_ecr_replication_configuration")
    (rule,) = replication.body["replication_configuration"]["rule"]
    prefixes = [repositories.get(f["filter"], f["filter"]) for f in rule["repository_filter"]]
    found = []
    for task in platform.of_type("aws_ecs_task_definition"):
        if not task.path.startswith("dr/"):
            continue
        image = json.loads(task.body["container_definitions"])[0]["image"]
        repository = image.split("/", 1)[1].rsplit(":", 1)[0]
        if not any(repository.startswith(prefix) for prefix in prefixes):
            found.append(f"{task.path} runs {repository}, which is not replicated to the DR region")
    return found


def test_every_services_images_are_replicated_to_its_dr_standby(platform_dr: SynthesizedStack) -> None:
    standbys = {t.path for t in platform_dr.of_type("aws_ecs_task_definition") if t.path.startswith("dr/")}
    assert standbys == {"dr/services/web/ecs/task_definition", "dr/services/api/ecs/task_definition"}
    assert unreplicated_images(platform_dr) == []


def test_a_standby_whose_image_is_not_replicated_is_reported_control(platform_dr: SynthesizedStack) -> None:
    document = copy.deepcopy(platform_dr.json)
    (replication,) = document["resource"]["aws_ecr_replication_configuration"].values()
    rule = replication["replication_configuration"]["rule"][0]
    rule["repository_filter"] = [f for f in rule["repository_filter"] if "services_api_" not in f["filter"]]
    broken = SynthesizedStack(platform_dr.env, platform_dr.config, document, platform_dr.file)
    assert unreplicated_images(broken) == [
        "dr/services/api/ecs/task_definition runs bluegreen/platformdr/api, which is not replicated to the DR region"
    ]


def test_every_aws_rule_holds_for_several_services_with_a_dr_region(platform_dr: SynthesizedStack) -> None:
    assert violations(platform_dr) == []


def admitted(platform: SynthesizedStack) -> dict[str, set[str]]:
    """For each service, who its tasks' groups admit besides the load balancer: the paths of the
    groups its inbound rules name (the shared tasks' group only admits the load balancer's)."""
    found: dict[str, set[str]] = {}
    for service in platform.of_type("aws_ecs_service"):
        key = service.path.split("/")[1]
        groups = service.body["network_configuration"]["security_groups"]
        for rule in platform.of_type("aws_vpc_security_group_ingress_rule"):
            if rule.body["security_group_id"] in groups:
                peer = rule.body.get("referenced_security_group_id")
                if peer:
                    source = platform.resolve(peer).path
                    if source != "security_groups/alb_sg":
                        found.setdefault(key, set()).add(source)
    return found


def test_a_service_without_a_route_is_rolled_by_ecs_and_found_by_name(platform: SynthesizedStack) -> None:
    worker = platform.service("worker")
    service = worker.one("aws_ecs_service", "ecs/service").body
    assert service["deployment_controller"] == {"type": "ECS"}
    assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert service["load_balancer"] == [] and "health_check_grace_period_seconds" not in service
    registry = worker.one("aws_service_discovery_service", "discovery")
    assert service["service_registries"] == {"registry_arn": registry.ref("arn")}
    namespace = platform.one("aws_service_discovery_private_dns_namespace")
    assert registry.body["dns_config"]["namespace_id"] == namespace.ref("id")
    assert namespace.body["name"] == "bluegreen-platform.internal" and registry.body["name"] == "worker"
    assert namespace.body["vpc"] == platform.one("aws_vpc").ref("id")
    for kind in ("aws_lb_target_group", "aws_lb_listener_rule", "aws_lambda_function"):
        assert not worker.of_type(kind), f"worker has no {kind}: nothing of blue/green"
    # No release alarms: only its app's own errors alarm (from its logs), as every service has.
    assert [worker.local(a) for a in worker.of_type("aws_cloudwatch_metric_alarm")] == ["app_errors/app_5xx"]
    roles = {worker.local(r) for r in worker.of_type("aws_iam_role")}
    assert roles == {
        f"roles/{p}" for p in ("task_execution", "task", "codebuild", "codepipeline", "migrate", "ecs_release")
    }
    # Nothing probes it but its own health check, which a rolling release's circuit breaker reads too.
    (container,) = json.loads(
        worker.one("aws_ecs_task_definition", "ecs/task_definition").body["container_definitions"]
    )
    assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "service.healthcheck"]
    web = json.loads(platform.service("web").one("aws_ecs_task_definition").body["container_definitions"])
    assert "healthCheck" not in web[0], "a routed service is probed by its target groups"
    # Each release registers the stack's task definition and rolls the service to it.
    step = release_step_of(platform, "worker")
    assert step["deploy"]["configuration"] == {"ProjectName": step["project"].ref("name")}
    assert step["variables"]["SERVICE"] == worker.one("aws_ecs_service").ref("name")
    assert step["project"].body["build_timeout"] == ROLLING_RELEASE_MINUTES + RELEASE_STEP_START_MINUTES


def test_only_the_granted_caller_reaches_a_service_without_a_route(platform: SynthesizedStack) -> None:
    """api's grant lets it call worker: worker's group admits api's on worker's port, api's lets
    it out to worker's, and web (no grant) has no group of its own at all."""
    assert admitted(platform) == {"worker": {"services/api/peers"}}
    worker_group = platform.service("worker").one("aws_security_group", "peers")
    (inbound,) = [
        r for r in platform.of_type("aws_vpc_security_group_ingress_rule") if r.path.startswith("services/worker/")
    ]
    assert inbound.body["from_port"] == inbound.body["to_port"] == platform.config.all_services["worker"].container_port
    (outbound,) = [r for r in platform.of_type("aws_vpc_security_group_egress_rule") if r.path.startswith("services/")]
    assert outbound.path == "services/api/peers/to_worker"
    assert outbound.body["referenced_security_group_id"] == worker_group.ref("id")
    assert not platform.service("web").of_type("aws_security_group")
    # ... and api is told where worker answers (by its name in the namespace).
    (api_container,) = json.loads(platform.service("api").one("aws_ecs_task_definition").body["container_definitions"])
    variables = {v["name"]: v["value"] for v in api_container["environment"]}
    assert variables["WORKER_URL"] == "http://worker.bluegreen-platform.internal:8080"
    (web_container,) = json.loads(platform.service("web").one("aws_ecs_task_definition").body["container_definitions"])
    assert "WORKER_URL" not in {v["name"] for v in web_container["environment"]}
    api = platform.service("api").one("aws_ecs_service").body["network_configuration"]["security_groups"]
    assert api[1] == platform.service("api").one("aws_security_group", "peers").ref("id")
    # CodeDeploy takes green's network from the appspec: each release carries api's own group too.
    build = platform.service("api").one("aws_codebuild_project", "codepipeline/build").body
    appspec = next(v["value"] for v in build["environment"]["environment_variable"] if v["name"] == "APPSPEC_YAML")
    assert platform.service("api").one("aws_security_group", "peers").ref("id") in appspec


def test_a_group_that_admits_an_ungranted_caller_is_reported_control(platform: SynthesizedStack) -> None:
    document = copy.deepcopy(platform.json)
    worker_group = platform.service("worker").one("aws_security_group", "peers")
    tasks = platform.one("aws_security_group", "security_groups/tasks_sg")
    document["resource"]["aws_vpc_security_group_ingress_rule"]["extra"] = {
        "//": {"metadata": {"path": f"{document['//']['metadata']['stackName']}/services/worker/peers/extra"}},
        "security_group_id": worker_group.ref("id"),
        "referenced_security_group_id": tasks.ref("id"),
        "ip_protocol": "tcp",
        "from_port": 8080,
        "to_port": 8080,
    }
    broken = SynthesizedStack(platform.env, platform.config, document, platform.file)
    assert admitted(broken)["worker"] == {"services/api/peers", "security_groups/tasks_sg"}


def test_a_rule_that_forwards_from_a_plain_listener_is_reported_control(platform: SynthesizedStack) -> None:
    """api is reached through rules only: moved to port 80's listener, its rule would carry HTTP."""
    document = copy.deepcopy(platform.json)
    redirect = platform.one("aws_lb_listener", "load_balancer/http_redirect")
    api_rule = platform.service("api").one("aws_lb_listener_rule", "route/prod_rule")
    document["resource"]["aws_lb_listener_rule"][api_rule.id]["listener_arn"] = redirect.ref("arn")
    found = [str(r) for r in plain_routes(Stack(document))]
    assert found == [f"services/api/route/blue: {redirect.path} forwards to it over HTTP"]


def test_the_namespace_is_in_a_vpc_that_resolves_private_dns_names(platform: SynthesizedStack) -> None:
    """The rule holds on the stack (violations() above runs it); a VPC without DNS hostnames breaks it."""
    stack = Stack(platform.json)
    assert list(namespaces_without_vpc_dns(stack)) == []
    document = copy.deepcopy(platform.json)
    (vpc,) = [
        v for v in document["resource"]["aws_vpc"].values() if v["//"]["metadata"]["path"].endswith("/networking/vpc")
    ]
    vpc["enable_dns_hostnames"] = False
    (found,) = namespaces_without_vpc_dns(Stack(document))
    assert "does not set enable_dns_hostnames" in found
