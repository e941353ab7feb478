"""Services have their own scope (services/<key>), and an environment applied before that keeps
every resource: each address it had is still in the stack or reaches one through ``moved`` blocks.

tests/data/addresses/<env>.txt lists the resource addresses of each shipped environment as the
last single-service layout synthesized them (commit a307c20); they are the state a user has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config import shipped_environments
from modules.layout import legacy_path, logical_id
from tests.conftest import SynthesizedStack

DATA = Path(__file__).parent / "data" / "addresses"

#: Resources deliberately removed since that layout (not moved: AWS has nothing to keep), with why.
REMOVED = {
    # Nothing in the VPC calls KMS directly (issue 12, egress): the endpoint had no caller.
    "aws_vpc_endpoint.networking_endpoint_kms_DDAB814D": "no caller",
    "aws_vpc_endpoint.dr_networking_endpoint_kms_DEDAA595": "no caller",
    # The DR region reads no secret (migrations run in the primary region only).
    "aws_vpc_endpoint.dr_networking_endpoint_secretsmanager_B4F05D5D": "no caller",
    # HTTPS to the internet became HTTPS to the endpoints and to S3's prefix list.
    "aws_vpc_security_group_egress_rule.security_groups_tasks_out_https_72A9E482": "narrowed",
    "aws_vpc_security_group_egress_rule.dr_security_groups_tasks_out_https_AA4C811E": "narrowed",
}


def moves(stack: SynthesizedStack) -> dict[str, str]:
    """``moved`` blocks as from -> to; a source moved twice would be ambiguous to Terraform."""
    blocks = stack.json.get("moved", [])
    sources = [b["from"] for b in blocks]
    assert len(sources) == len(set(sources)), "an address is moved twice"
    targets = [b["to"] for b in blocks]
    assert len(targets) == len(set(targets)), "two addresses move to one"
    return {b["from"]: b["to"] for b in blocks}


def destination(address: str, moved: dict[str, str]) -> str:
    seen = {address}
    while address in moved:
        address = moved[address]
        assert address not in seen, f"moved blocks loop through {address}"
        seen.add(address)
    return address


def addresses(stack: SynthesizedStack) -> set[str]:
    return {f"{t}.{i}" for t, rs in stack.json.get("resource", {}).items() for i in rs}


def test_cdktf_logical_ids_are_derived_from_construct_paths_as_layout_computes_them(
    synthesized: dict[str, SynthesizedStack],
) -> None:
    checked = 0
    for stack in synthesized.values():
        for resources in stack.json["resource"].values():
            for resource_id, body in resources.items():
                assert logical_id(str(body["//"]["metadata"]["path"]).split("/", 1)[1]) == resource_id
                checked += 1
    assert checked > 700


def test_legacy_paths_are_the_single_service_layout_of_the_service_keyed_app() -> None:
    assert legacy_path("services/app/ecs/service") == "ecs/service"
    assert legacy_path("services/app/route/blue") == "load_balancer/blue"
    assert legacy_path("cluster/cluster") == "ecs/cluster"
    assert legacy_path("dr/services/app/ecs/service") == "dr/ecs/service"
    assert legacy_path("source/connection") == "codepipeline/connection"
    # Another service never existed before; the platform's own pieces did not move.
    assert legacy_path("services/api/ecs/service") is None
    assert legacy_path("load_balancer/alb") is None
    assert legacy_path("networking/vpc") is None


#: The environments shipped before the restructure, with the addresses their state holds
#: (tests/data/addresses/<env>.txt). Environments added since never had the old layout.
ENVIRONMENTS_BEFORE = sorted(p.stem for p in DATA.glob("*.txt"))


def test_every_environment_shipped_before_the_restructure_has_its_old_addresses() -> None:
    assert ENVIRONMENTS_BEFORE == ["dev", "prod", "sandbox", "staging"]
    assert set(ENVIRONMENTS_BEFORE) <= set(shipped_environments())


@pytest.mark.parametrize("env", ENVIRONMENTS_BEFORE)
def test_every_resource_of_a_single_service_environment_is_kept_through_moved_blocks(
    synthesized: dict[str, SynthesizedStack], env: str
) -> None:
    stack = synthesized[env]
    moved = moves(stack)
    now = addresses(stack)
    before = set((DATA / f"{env}.txt").read_text().split())
    lost = sorted(a for a in before if destination(a, moved) not in now and a not in REMOVED)
    assert lost == [], f"{env}: these would be destroyed and created again: {lost}"
    for source, target in moved.items():
        assert source.split(".")[0] == target.split(".")[0], f"{source} moves to another type"
        assert source not in now, f"{source} is moved but still declared"
    assert any(destination(a, moved) != a for a in before), "the layout moved nothing: the data is stale"
    # Only stateless resources may be removed: a network rule or endpoint, never data.
    assert all(a.split(".")[0] in ("aws_vpc_endpoint", "aws_vpc_security_group_egress_rule") for a in REMOVED)


def test_a_resource_without_a_moved_block_control_is_reported_lost(synthesized: dict[str, SynthesizedStack]) -> None:
    stack = synthesized["dev"]
    moved = moves(stack)
    source = next(iter(moved))
    del moved[source]
    now = addresses(stack)
    assert destination(source, moved) not in now
