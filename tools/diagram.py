"""Architecture diagram (Mermaid) generated from a synthesized stack, not drawn by hand.

python -m tools.diagram cdktf.out/stacks/bluegreen-prod/cdk.tf.json > docs/architecture.md
make diagram    # synthesizes prod and rewrites docs/architecture.md (a test fails if stale)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _count(document: dict[str, Any], resource_type: str) -> int:
    return len(document["resource"].get(resource_type, {}))


def _tier_count(document: dict[str, Any], tier: str) -> int:
    return sum(1 for s in document["resource"].get("aws_subnet", {}).values() if s["tags"]["tier"] == tier)


def _one(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    body: dict[str, Any] = next(iter(document["resource"][resource_type].values()))
    return body


def mermaid(document: dict[str, Any]) -> str:
    listeners = {
        body["//"]["metadata"]["path"].rsplit("/", 1)[-1]: body
        for body in document["resource"]["aws_lb_listener"].values()
    }
    prod, test = listeners["prod_listener"], listeners["test_listener"]
    service = _one(document, "aws_ecs_service")
    native = service["deployment_controller"]["type"] == "ECS"
    cluster = _one(document, "aws_rds_cluster")
    stages = [s["name"] for s in _one(document, "aws_codepipeline")["stage"]]
    deployer = "ECS blue/green (service deployment configuration)" if native else "CodeDeploy deployment group"
    lines = [
        "flowchart LR",
        "  users([Users]) -->|" + f"{prod['protocol']} {prod['port']}" + "| prodL",
        "  testers([Test hook / testers]) -->|" + f"{test['protocol']} {test['port']}" + "| testL",
        f'  subgraph vpc["VPC {_one(document, "aws_vpc")["cidr_block"]}"]',
        f'    subgraph public["public subnets x{_tier_count(document, "public")}"]',
        "      waf{{WAF}} --- alb",
        '      alb["Application Load Balancer"]',
        '      prodL["production listener"]',
        '      testL["test listener"]',
        f'      nat["NAT gateways x{_count(document, "aws_nat_gateway")}"]',
        "    end",
        f'    subgraph private["private subnets x{_tier_count(document, "private")}"]',
        '      blue["blue target group / tasks"]',
        '      green["green target group / tasks"]',
        f'      ecs["ECS Fargate service ({service["deployment_controller"]["type"]})"]',
        '      hook["test-traffic hook (Lambda)"]',
        "    end",
        f'    subgraph data["database subnets x{_tier_count(document, "database")}"]',
        f'      aurora[("Aurora PostgreSQL {cluster["engine_version"]}, {_count(document, "aws_rds_cluster_instance")} instance(s)")]',  # noqa: E501
        "    end",
        "  end",
        "  prodL --> blue",
        "  testL --> green",
        "  alb --- prodL & testL",
        "  ecs --> blue & green",
        "  blue & green --> aurora",
        "  hook -.->|checks green| testL",
        '  secret[["Secrets Manager: master password"]] -.-> ecs',
        "  subgraph delivery[Delivery]",
        "    " + " --> ".join(f"st{i}[{name}]" for i, name in enumerate(stages)),
        "  end",
        '  ecr[("ECR repository")]',
        f'  deployer["{deployer}"]',
        f"  st{stages.index('Build')} -->|push image| ecr",
        f"  st{len(stages) - 1} --> deployer",
        "  deployer -->|shift traffic| prodL",
        "  ecr -.-> ecs",
    ]
    return "\n".join(lines) + "\n"


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
    args = parser.parse_args(argv)
    print(page(json.loads(args.stack_json.read_text()), args.stack_json.parent.name), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
