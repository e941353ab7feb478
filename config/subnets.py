"""The VPC's address plan: subnets carved or listed, checked as strictly either way.

Amazon VPC User Guide, "Subnet CIDR blocks": a subnet is a /16 to /28 inside its VPC's range,
and subnets of one VPC never overlap. Elastic Load Balancing ("Subnets for your Application
Load Balancer"): each of the load balancer's subnets must be at least a /27. Listed subnets
(``public_subnets`` ...) get exactly the checks carved ones satisfy by construction, and a
problem only ever names a key the user wrote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence

from config.problems import Problem

Network = ipaddress.IPv4Network
TIERS = ("public", "private", "database")
#: RFC 1918, exactly: Python's ``is_private`` also accepts loopback, link-local, documentation
#: and reserved ranges, none of which a VPC can use.
RFC1918 = (Network("10.0.0.0/8"), Network("172.16.0.0/12"), Network("192.168.0.0/16"))
SMALLEST_SUBNET = 28
LARGEST_SUBNET = 16
#: An Application Load Balancer's subnets (the public tier) need at least a /27.
SMALLEST_ALB_SUBNET = 27


def is_rfc1918(network: Network) -> bool:
    return any(network.subnet_of(block) for block in RFC1918)


def carve(
    vpc: Network, prefix: int, explicit: Mapping[str, Sequence[Network] | None], az_count: int
) -> dict[str, tuple[Network, ...]] | None:
    """Each tier's subnets: the listed ones, or ``az_count`` of /``prefix`` carved in order from the
    VPC's range around the listed ones. None when the range has no room for them."""
    if prefix < vpc.prefixlen:
        return None
    taken = [s for subnets in explicit.values() if subnets for s in subnets]
    free = (s for s in vpc.subnets(new_prefix=prefix) if not any(s.overlaps(t) for t in taken))
    result: dict[str, tuple[Network, ...]] = {}
    for tier in TIERS:
        listed = explicit.get(tier)
        if listed is not None:
            result[tier] = tuple(listed)
            continue
        carved = tuple(s for _, s in zip(range(az_count), free, strict=False))
        if len(carved) < az_count:
            return None
        result[tier] = carved
    return result


def problems(
    vpc: Network,
    prefix: int,
    explicit: Mapping[str, Sequence[Network] | None],
    az_count: int,
    written: set[str],
) -> Iterator[Problem]:
    """Every problem of the plan, each under the key (of ``written``, the keys the user set) it comes from."""
    if not is_rfc1918(vpc):
        yield Problem(
            ("vpc_cidr",),
            "is not a private range (RFC 1918: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)",
            f"use a range inside one of them, e.g. 10.{vpc.network_address.packed[1]}.0.0/{vpc.prefixlen}",
            str(vpc),
        )
    listed: list[tuple[str, int, Network]] = []
    for tier in TIERS:
        subnets = explicit.get(tier)
        if subnets is None:
            continue
        key = f"{tier}_subnets"
        if len(subnets) != az_count:
            yield Problem(
                (key,),
                f"lists {len(subnets)} subnet{'s' if len(subnets) != 1 else ''}, but there must be one per AZ "
                f"({az_count}, networking.az_count)",
                f"list exactly {az_count} CIDRs, or remove the key to carve them from vpc_cidr",
                [str(s) for s in subnets],
            )
        for index, subnet in enumerate(subnets):
            yield from _subnet_problems(tier, index, subnet, vpc)
            for other_tier, other_index, other in listed:
                if subnet.overlaps(other):
                    same = "is the same range as" if subnet == other else "overlaps"
                    yield Problem(
                        (key, index),
                        f"{same} {other_tier}_subnets[{other_index}] ({other})",
                        "give every subnet its own, non-overlapping range",
                        str(subnet),
                    )
            listed.append((tier, index, subnet))
    carved_tiers = [t for t in TIERS if explicit.get(t) is None]
    if not carved_tiers:
        return
    plan = carve(vpc, prefix, explicit, az_count)
    if plan is None:
        yield _no_room(vpc, prefix, carved_tiers, az_count, written, bool(listed))
    elif "public" in carved_tiers and prefix > SMALLEST_ALB_SUBNET:
        key = "subnet_prefix_length" if "subnet_prefix_length" in written else "public_subnets"
        yield Problem(
            (key,),
            f"carves public subnets of /{prefix}, but the load balancer's subnets must be /{SMALLEST_ALB_SUBNET} or "
            "larger",
            f"set subnet_prefix_length to {SMALLEST_ALB_SUBNET} or less, or list public_subnets of /27 or larger",
            prefix,
        )


def _subnet_problems(tier: str, index: int, subnet: Network, vpc: Network) -> Iterator[Problem]:
    path = (f"{tier}_subnets", index)
    if not subnet.subnet_of(vpc):
        yield Problem(path, f"is outside vpc_cidr {vpc}", f"choose a range inside {vpc}", str(subnet))
    if not LARGEST_SUBNET <= subnet.prefixlen <= SMALLEST_SUBNET:
        bound = SMALLEST_SUBNET if subnet.prefixlen > SMALLEST_SUBNET else LARGEST_SUBNET
        yield Problem(
            path,
            f"is a /{subnet.prefixlen}, but AWS subnets are /{LARGEST_SUBNET} to /{SMALLEST_SUBNET}",
            f"use a /{bound} such as {next(subnet.supernet(new_prefix=bound).subnets(new_prefix=bound))}"
            if bound < subnet.prefixlen
            else f"use /{LARGEST_SUBNET} to /{SMALLEST_SUBNET}, e.g. {next(subnet.subnets(new_prefix=bound))}",
            str(subnet),
        )
    elif tier == "public" and subnet.prefixlen > SMALLEST_ALB_SUBNET:
        yield Problem(
            path,
            f"is a /{subnet.prefixlen}, but the load balancer's subnets must be /{SMALLEST_ALB_SUBNET} or larger",
            f"use {subnet.supernet(new_prefix=SMALLEST_ALB_SUBNET)} or a larger range",
            str(subnet),
        )


def _no_room(
    vpc: Network, prefix: int, tiers: list[str], az_count: int, written: set[str], beside_listed: bool
) -> Problem:
    needed = len(tiers) * az_count
    room = 2 ** (prefix - vpc.prefixlen) if prefix >= vpc.prefixlen else 0
    beside = " beside the listed subnets" if beside_listed else ""
    what = (
        f"{vpc} has no room{beside} for {needed} subnets of /{prefix} ({len(tiers)} carved tiers x {az_count} AZs; "
        f"it holds {room} of that size in all)"
    )
    # Blame what the user wrote: the prefix, else the range, else the AZ count (the defaults fit).
    for key, value, fix in (
        (
            "subnet_prefix_length",
            prefix,
            f"use a longer prefix (e.g. /{min(vpc.prefixlen + 4, 28)}) or a larger vpc_cidr",
        ),
        ("vpc_cidr", str(vpc), f"use a larger range, or set subnet_prefix_length (e.g. {min(vpc.prefixlen + 4, 28)})"),
        ("az_count", az_count, "use fewer AZs, a larger vpc_cidr or a longer subnet_prefix_length"),
    ):
        if key in written:
            return Problem((key,), what, fix, value)
    listed = next((f"{t}_subnets" for t in TIERS if t not in tiers), "vpc_cidr")
    return Problem((listed,), what, "list all three tiers, or leave room in vpc_cidr for the carved ones", None)
