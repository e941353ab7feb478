"""Generated artefacts are current, and the JSON Schema editors use agrees with the real validation."""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from config import load_config, shipped_environments
from tests.conftest import ROOT, SynthesizedStack, synthesize_configs
from tests.two_services import with_second_service
from tools import docs
from tools.stack_json import service_resources


def test_schema_and_reference_are_current() -> None:
    assert docs.stale() == [], "run `make docs` and commit the result"


@pytest.mark.parametrize("env", shipped_environments())
def test_shipped_configs_point_editors_at_the_schema_and_satisfy_it(env: str) -> None:
    path = ROOT / "config" / f"{env}.yaml"
    assert path.read_text().splitlines()[0] == docs.EDITOR_HINT
    schema = json.loads(docs.SCHEMA_FILE.read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_editor_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads(docs.SCHEMA_FILE.read_text())
    config = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate({**config, "colour": "blue"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "networking": {"az_count": 9}}, schema)


def test_reference_documents_every_key() -> None:
    reference = docs.REFERENCE_FILE.read_text()
    for key in ("`vpc_cidr`", "`traffic`", "`controller`", "`autoscaling`", "`approval_timeout_minutes`"):
        assert key in reference


#: The drawn environments: prod (one service, with DR), and platform (several services) -> their page.
DIAGRAMS = {"prod": "architecture", "platform": "architecture-platform"}


@pytest.mark.parametrize("env", sorted(DIAGRAMS))
def test_architecture_diagram_is_current(synthesized: dict[str, SynthesizedStack], env: str) -> None:
    from tools import diagram

    drawn = synthesized[env]
    stack, page = drawn.file.parent.name, DIAGRAMS[env]
    committed = (ROOT / "docs" / f"{page}.md").read_text()
    assert committed == diagram.page(drawn.json, stack), "run `make diagram` and commit the result"
    committed_dot = (ROOT / "docs" / f"{page}.dot").read_text()
    assert committed_dot == diagram.dot(drawn.json, stack), f"run `make diagram` and commit docs/{page}.dot"


def test_diagram_follows_the_stack(synthesized: dict[str, SynthesizedStack]) -> None:
    from tools import diagram

    prod, sandbox = diagram.mermaid(synthesized["prod"].json), diagram.mermaid(synthesized["sandbox"].json)
    assert '"NAT gateways x3"' in prod and 'app_st2["Approve"]' in prod and "CodeDeploy deployment group" in prod
    assert "ECS Fargate service (ECS)" in sandbox and "ECS blue/green" in sandbox
    # ECS-native's default service also has a catch-all rule; its route is still the listener's default.
    assert "prodL -->|default| app_blue" in sandbox and "testL -->|default| app_green" in sandbox


def test_mermaid_and_dot_draw_the_same_model(prod: SynthesizedStack) -> None:
    from tools import diagram

    model = diagram.model(prod.json)
    nodes = {node.id: node.label for node in model.nodes()}
    stages = [stage["name"] for stage in next(iter(prod.json["resource"]["aws_codepipeline"].values()))["stage"]]
    # The model itself covers what the page is for: both listeners, both colours, the database, every stage.
    assert {"prodL", "testL", "app_blue", "app_green", "aurora"} <= nodes.keys()
    assert set(stages) <= set(nodes.values()) and nodes["aurora"].startswith("Aurora PostgreSQL")

    mermaid, dot = diagram.mermaid(prod.json), diagram.dot(prod.json, "bluegreen-prod")
    mermaid_nodes = dict(re.findall(r'^ +(\w+)\W{1,2}"([^"]*)"\W{1,2}$', mermaid, re.MULTILINE))
    dot_nodes = dict(re.findall(r'^ +(\w+) \[label="([^"]*)"', dot, re.MULTILINE))
    mermaid_edges = re.findall(r"^ +(\w+) -[-.]+>?(?:\|[^|]*\|)? (\w+)$", mermaid, re.MULTILINE)
    dot_edges = re.findall(r"^ +(\w+) -> (\w+)\b", dot, re.MULTILINE)
    assert mermaid_nodes == dot_nodes == nodes
    assert mermaid_edges == dot_edges == [(edge.source, edge.target) for edge in model.edges]
    for edge in model.edges:
        if edge.label:
            assert f"|{edge.label}|" in mermaid or f'|"{edge.label}"|' in mermaid
            assert f'label="{edge.label}"' in dot


def _walk(group: Any) -> list[Any]:
    """Every node inside a group of the diagram's model, however deep."""
    from tools.diagram import Cluster

    return [n for m in group.members for n in (_walk(m) if isinstance(m, Cluster) else [m])]


def test_each_service_is_its_own_group_and_the_platform_is_drawn_once(prod: SynthesizedStack) -> None:
    from tools import diagram

    document = with_second_service(prod.json, "api", "api.example.com", ("/v1/*", "/v2/*"))
    model = diagram.model(document)
    groups = {member.id: member for member in model.members if isinstance(member, diagram.Cluster)}
    for key in ("api", "app"):
        nodes = {node.id: node.label for node in _walk(groups[f"{key}_service"])}
        assert groups[f"{key}_service"].label == f"service {key}"
        (pipeline,) = service_resources(document, key)["aws_codepipeline"].values()
        stages = [stage["name"] for stage in pipeline["stage"]]
        assert [nodes[f"{key}_st{i}"] for i in range(len(stages))] == stages
        assert {f"{key}_ecs", f"{key}_blue", f"{key}_green", f"{key}_deployer", f"{key}_ecr"} <= nodes.keys()
    everything = [node.id for node in model.nodes()]
    assert len(everything) == len(set(everything)), "a node is drawn twice"
    for shared in ("alb", "prodL", "testL", "aurora", "nat", "waf", "secret"):
        assert everything.count(shared) == 1
    routes = {(e.source, e.target): e.label for e in model.edges if e.source in ("prodL", "testL")}
    # Each service's route, read from its listener rules' conditions; app keeps the listener's default.
    assert routes == {
        ("prodL", "api_blue"): "api.example.com /v1/* /v2/* (priority 10)",
        ("testL", "api_green"): "X-Bluegreen-Service: api (priority 10)",
        ("prodL", "app_blue"): "default",
        ("testL", "app_green"): "default",
    }
    # Each deployer shifts its own service only; nothing of one service links to another's.
    for edge in model.edges:
        keys = {node.split("_", 1)[0] for node in (edge.source, edge.target) if "_" in node}
        assert len(keys) <= 1, edge
    mermaid, dot = diagram.mermaid(document), diagram.dot(document, "two")
    assert '|"api.example.com /v1/* /v2/* (priority 10)"| api_blue' in mermaid
    assert 'prodL -> api_blue [label="api.example.com /v1/* /v2/* (priority 10)"]' in dot
    assert "ALB + 2 services at 0/0 task(s)" in mermaid


def test_a_route_without_its_rule_is_not_drawn_as_the_default(prod: SynthesizedStack) -> None:
    """Control: the label is read from the stack, so a service whose rule is missing says so."""
    from tools import diagram

    document = with_second_service(prod.json)
    del document["resource"]["aws_lb_listener_rule"]["services_api_route_prod_rule"]
    routes = {(e.source, e.target): e.label for e in diagram.model(document).edges if e.source == "prodL"}
    assert routes[("prodL", "api_blue")] == "no rule" and routes[("prodL", "app_blue")] == "default"


#: Three services (config/platform.yaml): web the listener's default, api by host and granted
#: to call worker, worker without a route (found by name in Cloud Map).
SERVICES = ROOT / "config" / "platform.yaml"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedStack]:
    """The three services as shipped, and (the control) the same without api's grant to call worker."""
    folder = tmp_path_factory.mktemp("diagram.out")
    document = yaml.safe_load(SERVICES.read_text())
    ungranted = folder / "ungranted.yaml"
    api = {**document["services"]["api"], "grants": []}
    services = {**document["services"], "api": api}
    ungranted.write_text(yaml.safe_dump({**document, "environment": "ungranted", "services": services}))
    return synthesize_configs({"granted": load_config(SERVICES), "ungranted": load_config(ungranted)}, folder / "out")


def _calls(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The diagram's edges from one service's tasks to another's."""
    from tools import diagram

    return [
        (e.source, e.target, e.label)
        for e in diagram.model(document).edges
        if e.source.endswith("_ecs") and e.target.endswith("_ecs")
    ]


def test_the_diagram_shows_every_service_its_route_and_the_calls_between_services(
    services: dict[str, SynthesizedStack],
) -> None:
    from tools import diagram

    document = services["granted"].json
    model = diagram.model(document)
    groups = {member.id for member in model.members if isinstance(member, diagram.Cluster)}
    assert {"web_service", "api_service", "worker_service"} <= groups
    routes = {(e.source, e.target): e.label for e in model.edges if e.source in ("prodL", "testL")}
    # Both routed services on the one listener pair; worker, without a route, is on neither.
    assert routes == {
        ("prodL", "api_blue"): "api.shop.example.com (priority 10)",
        ("testL", "api_green"): "X-Bluegreen-Service: api (priority 10)",
        ("prodL", "web_blue"): "default",
        ("testL", "web_green"): "default",
    }
    nodes = {node.id for node in model.nodes()}
    assert "worker_ecs" in nodes and not {"worker_blue", "worker_green"} & nodes
    # api calls worker by its Cloud Map name on worker's container port, read from the peers
    # groups' rules; nothing else calls another service, and nothing calls web or api.
    assert _calls(document) == [("api_ecs", "worker_ecs", "worker.bluegreen-platform.internal:8080")]
    assert 'api_ecs -->|"worker.bluegreen-platform.internal:8080"| worker_ecs' in diagram.mermaid(document)
    assert 'api_ecs -> worker_ecs [label="worker.bluegreen-platform.internal:8080"];' in diagram.dot(document, "p")


def test_a_call_is_drawn_only_where_both_security_groups_allow_it(
    services: dict[str, SynthesizedStack], prod: SynthesizedStack
) -> None:
    """Controls: the edge comes from the synthesized rules, not from the config's grants."""
    granted = services["granted"].json
    # Without the grant the stack has no peers groups, and the diagram no call.
    assert _calls(services["ungranted"].json) == []
    # Nor does a shipped single-service stack (its tasks' rules name the ALB and database only).
    assert _calls(prod.json) == []

    def without(resource_type: str, path: str) -> dict[str, Any]:
        document = copy.deepcopy(granted)
        bodies = document["resource"][resource_type]
        (key,) = [k for k, b in bodies.items() if b["//"]["metadata"]["path"].endswith(path)]
        del bodies[key]
        return document

    # Each direction is checked on its own side: either rule missing blocks the call.
    assert _calls(without("aws_vpc_security_group_ingress_rule", "/worker/peers/from_api")) == []
    assert _calls(without("aws_vpc_security_group_egress_rule", "/api/peers/to_worker")) == []
    # Rules on different ports let nothing through.
    moved = copy.deepcopy(granted)
    for body in moved["resource"]["aws_vpc_security_group_ingress_rule"].values():
        if body["//"]["metadata"]["path"].endswith("/worker/peers/from_api"):
            body["from_port"] = body["to_port"] = 9090
    assert _calls(moved) == []
    # The name comes from worker's Cloud Map registration: without it, the port alone.
    unregistered = copy.deepcopy(granted)
    for body in unregistered["resource"]["aws_ecs_service"].values():
        body.pop("service_registries", None)
    assert _calls(unregistered) == [("api_ecs", "worker_ecs", "tcp 8080")]


def test_dot_renders_to_a_png(prod: SynthesizedStack, tmp_path: Path) -> None:
    from tools import diagram

    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not installed")
    png = tmp_path / "architecture.png"
    subprocess.run(
        ["dot", "-Tpng", "-o", str(png)], input=diagram.dot(prod.json, "bluegreen-prod"), text=True, check=True
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 200, (width, height)
