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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.stack_json import DR_SCOPE, in_dr_region, primary_region

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
    if services:
        parts.append(f"ALB + service at {services[0]['desired_count']} task(s)")
    if "aws_route53_record" in resources:
        parts.append("Route 53 failover")
    return f"DR region {regions[0]}: " + ", ".join(parts)


def model(full_document: dict[str, Any]) -> Diagram:
    """Everything the diagram says about the stack (labels, counts, wiring) is decided here, once.

    It draws the primary region; the DR region, when there is one, is one node summarising it.
    """
    document = primary_region(full_document)
    dr = _dr_summary(full_document)
    listeners = {
        body["//"]["metadata"]["path"].rsplit("/", 1)[-1]: body
        for body in document["resource"]["aws_lb_listener"].values()
    }
    prod, test = listeners["prod_listener"], listeners["test_listener"]
    controller = _one(document, "aws_ecs_service")["deployment_controller"]["type"]
    native = controller == "ECS"
    stages = [s["name"] for s in _one(document, "aws_codepipeline")["stage"]]
    deployer = "ECS blue/green (service deployment configuration)" if native else "CodeDeploy deployment group"
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
                "private",
                f"private subnets x{_tier_count(document, 'private')}",
                (
                    Node("blue", "blue target group / tasks"),
                    Node("green", "green target group / tasks"),
                    Node("ecs", f"ECS Fargate service ({controller})"),
                    Node("hook", "test-traffic hook (Lambda)"),
                ),
            ),
            Cluster(
                "data",
                f"database subnets x{_tier_count(document, 'database')}",
                (Node("aurora", aurora, "cylinder"),),
            ),
        ),
    )
    delivery = Cluster("delivery", "Delivery", tuple(Node(f"st{i}", name) for i, name in enumerate(stages)))
    return Diagram(
        members=(
            Node("users", "Users", "stadium"),
            Node("testers", "Test hook / testers", "stadium"),
            vpc,
            Node("secret", "Secrets Manager: master password", "subroutine"),
            delivery,
            Node("ecr", "ECR repository", "cylinder"),
            Node("deployer", deployer),
            *((Node("dr", dr, "subroutine"),) if dr else ()),
        ),
        edges=(
            Edge("users", "prodL", f"{prod['protocol']} {prod['port']}"),
            Edge("testers", "testL", f"{test['protocol']} {test['port']}"),
            Edge("waf", "alb", arrow=False),
            Edge("alb", "prodL", arrow=False),
            Edge("alb", "testL", arrow=False),
            Edge("prodL", "blue"),
            Edge("testL", "green"),
            Edge("ecs", "blue"),
            Edge("ecs", "green"),
            Edge("blue", "aurora"),
            Edge("green", "aurora"),
            Edge("hook", "testL", "checks green", dotted=True),
            Edge("secret", "ecs", dotted=True),
            *(Edge(f"st{i}", f"st{i + 1}") for i in range(len(stages) - 1)),
            Edge(f"st{stages.index('Build')}", "ecr", "push image"),
            Edge(f"st{len(stages) - 1}", "deployer"),
            Edge("deployer", "prodL", "shift traffic"),
            Edge("ecr", "ecs", dotted=True),
            *((Edge("aurora", "dr", "replicates", dotted=True), Edge("ecr", "dr", dotted=True)) if dr else ()),
        ),
    )


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
        return line + (f"|{_mermaid_text(edge.label)}|" if edge.label else "")

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
