"""Architecture diagram generated from a synthesized stack, not drawn by hand.

One model of the diagram is read from the Terraform JSON and rendered twice: Mermaid (the page
GitHub shows) and Graphviz DOT (for a PNG). Both come from the same nodes and edges, so they
cannot drift apart.

python -m tools.diagram cdktf.out/stacks/bluegreen-prod/cdk.tf.json > docs/architecture.md
python -m tools.diagram --format dot cdktf.out/stacks/bluegreen-prod/cdk.tf.json > docs/architecture.dot
make diagram    # synthesizes prod, rewrites both (a test fails if stale), and the PNG if Graphviz is installed
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.stack_json import DR_SCOPE, Resources, at, in_dr_region, primary_region, service_keys, service_resources

Shape = Literal["box", "stadium", "hexagon", "cylinder", "subroutine"]

# Per shape: Mermaid's opening and closing brackets, and the Graphviz attributes closest to it.
_SHAPES: dict[Shape, tuple[str, str, str]] = {
    "box": ("[", "]", "shape=box"),
    "stadium": ("([", "])", 'shape=box, style="rounded"'),
    "hexagon": ("{{", "}}", "shape=hexagon"),
    "cylinder": ("[(", ")]", "shape=cylinder"),
    "subroutine": ("[[", "]]", "shape=box, peripheries=2"),
}


@dataclass(frozen=True)
class Node:
    id: str  # a plain identifier, used unquoted by both languages (so not `end`, `node`, `graph`)
    label: str
    shape: Shape = "box"


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    members: tuple[Node | Cluster, ...]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dotted: bool = False  # an indirect relation (checks, pulls, reads a secret), not traffic
    arrow: bool = True  # False: an undirected link (the ALB owns its listeners)


@dataclass(frozen=True)
class Diagram:
    members: tuple[Node | Cluster, ...]
    edges: tuple[Edge, ...]

    def nodes(self) -> Iterator[Node]:
        def walk(members: tuple[Node | Cluster, ...]) -> Iterator[Node]:
            for member in members:
                yield from walk(member.members) if isinstance(member, Cluster) else (member,)

        return walk(self.members)


def _count(document: dict[str, Any], resource_type: str) -> int:
    return len(document["resource"].get(resource_type, {}))


def _tier_count(document: dict[str, Any], tier: str) -> int:
    return sum(1 for s in document["resource"].get("aws_subnet", {}).values() if s["tags"]["tier"] == tier)


def _one(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    body: dict[str, Any] = next(iter(document["resource"][resource_type].values()))
    return body


def _dr_summary(document: dict[str, Any]) -> str | None:
    """One line on the DR region, read from its provider and what the stack builds there."""
    regions = [p["region"] for p in document.get("provider", {}).get("aws", []) if p.get("alias") == DR_SCOPE]
    if not regions:
        return None
    resources = document["resource"]
    parts = ["images (ECR replication)"]
    if "aws_rds_global_cluster" in resources:
        parts.append("Aurora global secondary")
    if "aws_backup_plan" in resources:
        parts.append("daily backup copies")
    services = [b for b in resources.get("aws_ecs_service", {}).values() if in_dr_region(b)]
    if len(services) == 1:
        parts.append(f"ALB + service at {services[0]['desired_count']} task(s)")
    elif services:
        counts = "/".join(str(b["desired_count"]) for b in services)
        parts.append(f"ALB + {len(services)} services at {counts} task(s)")
    if "aws_route53_record" in resources:
        parts.append("Route 53 failover")
    return f"DR region {regions[0]}: " + ", ".join(parts)


def _reference(resource_type: str, body: dict[str, Any] | None, resources: Resources) -> str | None:
    """The ``${type.id.arn}`` reference Terraform resolves to ``body``'s ARN."""
    ids = [i for i, b in resources.get(resource_type, {}).items() if b is body]
    return f"${{{resource_type}.{ids[0]}.arn}}" if ids else None


#: A whole-string reference to another resource's attribute, as cdktf writes it.
_REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}")


def _referenced(resources: Resources, reference: object) -> dict[str, Any] | None:
    """The resource a plain ``${type.id.attribute}`` reference names, or None."""
    match = _REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    return resources.get(match[1], {}).get(match[2]) if match else None


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as a list, whether cdktf wrote it as one object or a list of them."""
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _conditions(rule: dict[str, Any]) -> str:
    """What a listener rule matches, as the console lists it: host, paths, header."""
    parts: list[str] = []
    for condition in rule.get("condition", []):
        if "host_header" in condition:
            parts += condition["host_header"]["values"]
        if "path_pattern" in condition:
            parts += condition["path_pattern"]["values"]
        if "http_header" in condition:
            header = condition["http_header"]
            parts.append(f"{header['http_header_name']}: {' '.join(header['values'])}")
    return " ".join(parts)


def _route(listener: dict[str, Any], target: str | None, rule: dict[str, Any] | None) -> str:
    """How a listener reaches a service's target group: its default action, or the service's rule.

    (Under ECS-native blue/green the default service also has a last-evaluated catch-all rule,
    which the controller shifts; the listener's default action names the same target group.)
    """
    if any(action.get("target_group_arn") == target for action in listener.get("default_action", [])):
        return "default"
    if rule is None:
        return "no rule"
    return f"{_conditions(rule)} (priority {rule['priority']})"


@dataclass(frozen=True)
class _Listeners:
    prod: dict[str, Any]
    test: dict[str, Any]


def _service(
    key: str, document: dict[str, Any], listeners: _Listeners, private_subnets: int
) -> tuple[Cluster, list[Edge]]:
    """One service's group (its pipeline, image repository, deployer, tasks and target groups) and
    its edges, node ids prefixed with its key; the platform's nodes it links to keep theirs."""
    resources = service_resources(document, key)
    service = at(resources, "aws_ecs_service", "ecs/service") or {}
    controller = service["deployment_controller"]["type"]
    pipeline = at(resources, "aws_codepipeline", "codepipeline/pipeline") or {}
    stages = [stage["name"] for stage in pipeline["stage"]]
    blue, green = (
        at(resources, "aws_lb_target_group", "route/blue"),
        at(resources, "aws_lb_target_group", "route/green"),
    )
    routed = blue is not None and green is not None
    hook = at(resources, "aws_lambda_function", "deployment_hooks/test_traffic") is not None
    if not routed:
        deployer = "ECS rolling update"
    elif controller == "ECS":
        deployer = "ECS blue/green (service deployment configuration)"
    else:
        deployer = "CodeDeploy deployment group"

    def n(name: str) -> str:
        return f"{key}_{name}"

    tasks = (
        *(
            (Node(n("blue"), "blue target group / tasks"), Node(n("green"), "green target group / tasks"))
            if routed
            else ()
        ),
        Node(n("ecs"), f"ECS Fargate service ({controller})"),
        *((Node(n("hook"), "test-traffic hook (Lambda)"),) if hook else ()),
    )
    group = Cluster(
        n("service"),
        f"service {key}",
        (
            Cluster(n("delivery"), "Delivery", tuple(Node(n(f"st{i}"), name) for i, name in enumerate(stages))),
            Node(n("ecr"), "ECR repository", "cylinder"),
            Node(n("deployer"), deployer),
            Cluster(n("tasks"), f"tasks in the private subnets x{private_subnets}", tasks),
        ),
    )
    # In the order the single-service diagram had them: traffic, then checks and secrets, then delivery.
    edges: list[Edge] = []
    if routed:
        blue_arn = _reference("aws_lb_target_group", blue, resources)
        green_arn = _reference("aws_lb_target_group", green, resources)
        edges += [
            Edge(
                "prodL",
                n("blue"),
                _route(listeners.prod, blue_arn, at(resources, "aws_lb_listener_rule", "route/prod_rule")),
            ),
            Edge(
                "testL",
                n("green"),
                _route(listeners.test, green_arn, at(resources, "aws_lb_listener_rule", "route/test_rule")),
            ),
            Edge(n("ecs"), n("blue")),
            Edge(n("ecs"), n("green")),
            Edge(n("blue"), "aurora"),
            Edge(n("green"), "aurora"),
        ]
    else:
        edges.append(Edge(n("ecs"), "aurora"))
    if hook:
        edges.append(Edge(n("hook"), "testL", "checks green", dotted=True))
    edges += [
        Edge("secret", n("ecs"), dotted=True),
        *(Edge(n(f"st{i}"), n(f"st{i + 1}")) for i in range(len(stages) - 1)),
        Edge(n(f"st{stages.index('Build')}"), n("ecr"), "push image"),
        Edge(n(f"st{len(stages) - 1}"), n("deployer")),
        Edge(n("deployer"), "prodL", "shift traffic") if routed else Edge(n("deployer"), n("ecs"), "replace tasks"),
        Edge(n("ecr"), n("ecs"), dotted=True),
    ]
    return group, edges


_ALL_PORTS = (0, 65535)


def _ports(rule: dict[str, Any]) -> tuple[str, tuple[int, int]]:
    """A security group rule's protocol and port range; protocol "-1" is every protocol and port."""
    protocol = str(rule["ip_protocol"])
    return protocol, _ALL_PORTS if protocol == "-1" else (int(rule["from_port"]), int(rule["to_port"]))


def _allowed(egress: dict[str, Any], ingress: dict[str, Any]) -> str | None:
    """What both the caller's egress rule and the callee's ingress rule let through, or None."""
    (out_protocol, (out_from, out_to)), (in_protocol, (in_from, in_to)) = _ports(egress), _ports(ingress)
    if "-1" not in (out_protocol, in_protocol) and out_protocol != in_protocol:
        return None
    low, high = max(out_from, in_from), min(out_to, in_to)
    if low > high:
        return None
    protocol = in_protocol if out_protocol == "-1" else out_protocol
    if protocol == "-1":
        return "all traffic"
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def _discovery_name(resources: Resources, service: dict[str, Any]) -> str | None:
    """The DNS name a service registers its tasks under in Cloud Map (``<name>.<namespace>``)."""
    for registry in _blocks(service.get("service_registries")):
        discovery = _referenced(resources, registry.get("registry_arn"))
        if discovery is None:
            continue
        for dns in _blocks(discovery.get("dns_config")):
            namespace = _referenced(resources, dns.get("namespace_id"))
            if namespace is not None:
                return f"{discovery['name']}.{namespace['name']}"
    return None


def _calls(document: dict[str, Any]) -> list[Edge]:
    """Service-to-service calls, read from the security groups' rules (modules/service_network.py).

    A caller reaches a callee when one of the caller's tasks' groups lets traffic out to one of the
    callee's groups and that group lets the caller's group in, both by group reference (a rule to a
    CIDR names no service). Both sides are needed: the caller's groups decide what leaves it, the
    callee's what reaches it, the rules of all of a task's groups taken together; and Terraform
    removes the allow-all egress rule AWS gives a new group, so no rule means no traffic.
    https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
    The label is the name the caller resolves in Cloud Map, when the callee registers there, and
    the port, or else what the rules allow.
    """
    resources: Resources = document["resource"]
    services = {
        key: service
        for key in service_keys(document)
        if (service := at(service_resources(document, key), "aws_ecs_service", "ecs/service")) is not None
    }
    members: dict[str, set[str]] = {}
    for key, service in services.items():
        for network in _blocks(service.get("network_configuration")):
            for group in network.get("security_groups", []):
                members.setdefault(group, set()).add(key)
    ingress = list(resources.get("aws_vpc_security_group_ingress_rule", {}).values())
    found: dict[tuple[str, str], set[str]] = {}
    for out in resources.get("aws_vpc_security_group_egress_rule", {}).values():
        source, target = out["security_group_id"], out.get("referenced_security_group_id")
        for rule in ingress:
            if rule["security_group_id"] != target or rule.get("referenced_security_group_id") != source:
                continue
            allowed = _allowed(out, rule)
            if allowed is None:
                continue
            for caller in members.get(source, set()):
                for callee in members.get(target, set()) - {caller}:
                    found.setdefault((caller, callee), set()).add(allowed)
    return [
        Edge(f"{caller}_ecs", f"{callee}_ecs", _call_label(_discovery_name(resources, services[callee]), allowed))
        for (caller, callee), allowed in sorted(found.items())
    ]


def _call_label(name: str | None, allowed: set[str]) -> str:
    """``worker.bluegreen-platform.internal:8080`` for one TCP port; otherwise the name and what is allowed."""
    (only,) = allowed if len(allowed) == 1 else ("",)
    if name and re.fullmatch(r"tcp \d+", only):
        return f"{name}:{only.removeprefix('tcp ')}"
    return " ".join(part for part in (name, ", ".join(sorted(allowed))) if part)


def model(full_document: dict[str, Any]) -> Diagram:
    """Everything the diagram says about the stack (labels, counts, wiring) is decided here, once.

    It draws the primary region: the platform once (network, load balancer and listeners,
    database), then each service as its own group with its pipeline, deployer, tasks, target
    groups and route, and the calls its security groups let one service make to another. The DR
    region, when there is one, is one node summarising it.
    """
    document = primary_region(full_document)
    dr = _dr_summary(full_document)
    by_name = {
        body["//"]["metadata"]["path"].rsplit("/", 1)[-1]: body
        for body in document["resource"]["aws_lb_listener"].values()
    }
    listeners = _Listeners(by_name["prod_listener"], by_name["test_listener"])
    version = _one(document, "aws_rds_cluster")["engine_version"]
    aurora = f"Aurora PostgreSQL {version}, {_count(document, 'aws_rds_cluster_instance')} instance(s)"
    vpc = Cluster(
        "vpc",
        f"VPC {_one(document, 'aws_vpc')['cidr_block']}",
        (
            Cluster(
                "public",
                f"public subnets x{_tier_count(document, 'public')}",
                (
                    Node("waf", "WAF", "hexagon"),
                    Node("alb", "Application Load Balancer"),
                    Node("prodL", "production listener"),
                    Node("testL", "test listener"),
                    Node("nat", f"NAT gateways x{_count(document, 'aws_nat_gateway')}"),
                ),
            ),
            Cluster(
                "data",
                f"database subnets x{_tier_count(document, 'database')}",
                (Node("aurora", aurora, "cylinder"),),
            ),
        ),
    )
    services = [_service(key, document, listeners, _tier_count(document, "private")) for key in service_keys(document)]
    prod, test = listeners.prod, listeners.test
    return Diagram(
        members=(
            Node("users", "Users", "stadium"),
            Node("testers", "Test hook / testers", "stadium"),
            vpc,
            Node("secret", "Secrets Manager: master password", "subroutine"),
            *(group for group, _ in services),
            *((Node("dr", dr, "subroutine"),) if dr else ()),
        ),
        edges=(
            Edge("users", "prodL", f"{prod['protocol']} {prod['port']}"),
            Edge("testers", "testL", f"{test['protocol']} {test['port']}"),
            Edge("waf", "alb", arrow=False),
            Edge("alb", "prodL", arrow=False),
            Edge("alb", "testL", arrow=False),
            *(edge for _, edges in services for edge in edges),
            *_calls(document),
            *((Edge("aurora", "dr", "replicates", dotted=True),) if dr else ()),
            *(Edge(f"{key}_ecr", "dr", dotted=True) for key in service_keys(document) if dr),
        ),
    )


#: An edge label Mermaid reads as text without quotes.
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9 ]+")
# Mermaid's link syntax by (dotted, arrow).
_MERMAID_LINKS = {(False, True): "-->", (False, False): "---", (True, True): "-.->", (True, False): "-.-"}


def _mermaid(diagram: Diagram) -> str:
    def members(items: tuple[Node | Cluster, ...], indent: str) -> Iterator[str]:
        for item in items:
            if isinstance(item, Cluster):
                yield f'{indent}subgraph {item.id}["{_mermaid_text(item.label)}"]'
                yield from members(item.members, indent + "  ")
                yield f"{indent}end"
            else:
                opening, closing, _ = _SHAPES[item.shape]
                yield f'{indent}{item.id}{opening}"{_mermaid_text(item.label)}"{closing}'

    def link(edge: Edge) -> str:
        line = _MERMAID_LINKS[edge.dotted, edge.arrow]
        if not edge.label:
            return line
        # A route's label holds characters Mermaid reads as syntax unquoted ( ( / * : ); plain words stay bare.
        text = _mermaid_text(edge.label)
        return line + (f"|{text}|" if _PLAIN_LABEL.fullmatch(edge.label) else f'|"{text}"|')

    # Every node is declared (in its subgraph) before any edge names it, so no edge can pull a node elsewhere.
    lines = ["flowchart LR", *members(diagram.members, "  ")]
    lines += [f"  {e.source} {link(e)} {e.target}" for e in diagram.edges]
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")  # Mermaid's escape inside a quoted label


def _dot(diagram: Diagram, title: str) -> str:
    def members(items: tuple[Node | Cluster, ...], indent: str) -> Iterator[str]:
        for item in items:
            if isinstance(item, Cluster):
                # Graphviz draws a box only around subgraphs whose name starts with "cluster".
                yield f"{indent}subgraph cluster_{item.id} {{"
                yield f"{indent}  label={_dot_text(item.label)};"
                yield from members(item.members, indent + "  ")
                yield f"{indent}}}"
            else:
                yield f"{indent}{item.id} [label={_dot_text(item.label)}, {_SHAPES[item.shape][2]}];"

    def attributes(edge: Edge) -> str:
        pairs = [f"label={_dot_text(edge.label)}"] if edge.label else []
        pairs += ["style=dotted"] if edge.dotted else []
        pairs += [] if edge.arrow else ["dir=none"]
        return f" [{', '.join(pairs)}]" if pairs else ""

    lines = [
        "// Generated from the synthesized Terraform JSON by `make diagram`; do not edit.",
        "digraph architecture {",
        f"  label={_dot_text(title)};",
        "  labelloc=t;",
        "  rankdir=LR;",  # left to right, as the Mermaid flowchart
        *members(diagram.members, "  "),
        *(f"  {e.source} -> {e.target}{attributes(e)};" for e in diagram.edges),
        "}",
    ]
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mermaid(document: dict[str, Any]) -> str:
    return _mermaid(model(document))


def dot(document: dict[str, Any], stack: str) -> str:
    return _dot(model(document), f"Architecture of {stack}")


def page(document: dict[str, Any], stack: str) -> str:
    counts = {t: len(r) for t, r in sorted(document["resource"].items())}
    return (
        f"# Architecture of `{stack}`\n\n"
        "Generated from the synthesized Terraform JSON by `make diagram`; do not edit.\n\n"
        f"```mermaid\n{mermaid(document)}```\n\n"
        f"{sum(counts.values())} resources of {len(counts)} types.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_json", type=Path)
    parser.add_argument(
        "--format",
        choices=("page", "mermaid", "dot"),
        default="page",
        help="page: Markdown with the Mermaid chart (docs/architecture.md, the default); "
        "mermaid: the chart alone; dot: Graphviz DOT (docs/architecture.dot)",
    )
    args = parser.parse_args(argv)
    document, stack = json.loads(args.stack_json.read_text()), args.stack_json.parent.name
    if args.format == "page":
        print(page(document, stack), end="")
    elif args.format == "mermaid":
        print(mermaid(document), end="")
    else:
        print(dot(document, stack), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
