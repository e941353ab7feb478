"""A service's grants (issue 15): each kind becomes IAM statements that allow exactly the resource
it names, and nothing next to it (judged by the project's IAM evaluator, aws_rules/iam.py); service
grants open network paths between services that exist; the config refuses what would widen a grant.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aws_rules import grants as calls_of
from aws_rules import iam as evaluator
from aws_rules.network import broad_endpoint_statements, endpoint, needless_internet_egress, outbound, stuck
from aws_rules.permissions import RUNTIME, denied
from aws_rules.stack import Stack
from config import ConfigError, aws_names, load_config, naming
from config.schema import GRANT_TEXT, MAX_GRANTS, EnvironmentConfig, Grant
from modules import grants, iam
from modules.endpoint_policies import ENDPOINT_POLICY_CHARACTERS, VpcCallers
from tests.conftest import SynthesizedStack, policy, synthesize_configs
from tests.test_iam_lint import findings

ROOT = Path(__file__).resolve().parent.parent
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
PARTITION, REGION, ACCOUNT = "aws", "eu-west-1", "111111111111"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000001"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000002"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"


def single(*written: dict[str, Any]) -> dict[str, Any]:
    """dev.yaml with ``written`` as its one service's grants."""
    data = copy.deepcopy(DEV)
    data["service"]["grants"] = list(written)
    return data


def several(**written: list[dict[str, Any]]) -> dict[str, Any]:
    """dev.yaml as three services (a routed web and api, an unrouted worker), each with its grants."""
    data = copy.deepcopy(DEV)
    service = data.pop("service")
    data.pop("deployment")
    for field in ("repository", "branch"):
        data["pipeline"].pop(field)
    routes: dict[str, Any] = {"web": {}, "api": {"host": "api.example.com"}, "worker": None}
    data["services"] = {
        key: {**service, "source": {"repository": f"shop/{key}"}, "route": route, "grants": written.get(key, [])}
        for key, route in routes.items()
    }
    return data


def load(tmp_path: Path, data: dict[str, Any]) -> EnvironmentConfig:
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(data))
    return load_config(file)


def refusal(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, data)
    return caught.value.render().replace(f"{tmp_path / 'env.yaml'}: ", "")


def statements_of(tmp_path: Path, *written: dict[str, Any]) -> list[iam.Statement]:
    config = load(tmp_path, single(*written))
    assert (config.partition, config.region, config.account_id) == (PARTITION, REGION, ACCOUNT)
    return grants.grant_statements(PARTITION, REGION, ACCOUNT, config.all_services["app"].grants)


def allows(statements: list[iam.Statement], action: str, resource: str) -> bool:
    return evaluator.allows({"Statement": statements}, action, resource)


# --- each kind: the granted resource is allowed, its neighbours are not -----------------------


def test_an_s3_read_grant_reads_and_lists_only_its_prefix(tmp_path: Path) -> None:
    found = statements_of(tmp_path, {"type": "s3", "bucket": "shop-uploads", "prefix": "uploads/", "access": "read"})
    assert allows(found, "s3:GetObject", "arn:aws:s3:::shop-uploads/uploads/a/b.png")
    assert allows(found, "s3:ListBucket", "arn:aws:s3:::shop-uploads")
    assert not allows(found, "s3:GetObject", "arn:aws:s3:::shop-uploads/private/b.png")
    assert not allows(found, "s3:GetObject", "arn:aws:s3:::shop-uploads-2/uploads/b.png")
    assert not allows(found, "s3:PutObject", "arn:aws:s3:::shop-uploads/uploads/b.png")
    assert not allows(found, "s3:DeleteObject", "arn:aws:s3:::shop-uploads/uploads/b.png")
    # The evaluator does not read conditions: the listing's prefix and the owner are checked here.
    (listing,) = [s for s in found if "s3:ListBucket" in s["Action"]]
    assert listing["Condition"]["StringLike"] == {"s3:prefix": ["uploads/*"]}
    assert all(s["Condition"]["StringEquals"] == {"s3:ResourceAccount": ACCOUNT} for s in found)


def test_an_s3_write_grant_writes_but_neither_reads_nor_lists(tmp_path: Path) -> None:
    found = statements_of(tmp_path, {"type": "s3", "bucket": "arn:aws:s3:::shop-exports", "access": "write"})
    assert allows(found, "s3:PutObject", "arn:aws:s3:::shop-exports/any/key")
    assert allows(found, "s3:DeleteObject", "arn:aws:s3:::shop-exports/any/key")
    assert allows(found, "s3:AbortMultipartUpload", "arn:aws:s3:::shop-exports/any/key")
    assert not allows(found, "s3:GetObject", "arn:aws:s3:::shop-exports/any/key")
    assert not allows(found, "s3:ListBucket", "arn:aws:s3:::shop-exports")
    assert not allows(found, "s3:PutObject", "arn:aws:s3:::shop-exports2/any/key")
    assert not allows(found, "s3:PutBucketPolicy", "arn:aws:s3:::shop-exports")


def test_an_s3_grant_of_the_whole_bucket_lists_it_without_a_prefix_condition(tmp_path: Path) -> None:
    found = statements_of(
        tmp_path, {"type": "s3", "bucket": "shop-data", "access": "read_write", "account": "222222222222"}
    )
    assert allows(found, "s3:GetObject", "arn:aws:s3:::shop-data/x") and allows(
        found, "s3:PutObject", "arn:aws:s3:::shop-data/x"
    )
    (listing,) = [s for s in found if "s3:ListBucket" in s["Action"]]
    assert listing["Condition"] == {"StringEquals": {"s3:ResourceAccount": "222222222222"}}


def test_an_sqs_grant_sends_or_receives_on_its_queue_only(tmp_path: Path) -> None:
    sender = statements_of(tmp_path, {"type": "sqs", "queue": QUEUE, "access": "send"})
    assert allows(sender, "sqs:SendMessage", QUEUE)
    assert not allows(sender, "sqs:SendMessage", f"{QUEUE}-dlq")
    assert not allows(sender, "sqs:ReceiveMessage", QUEUE)
    receiver = statements_of(tmp_path, {"type": "sqs", "queue": QUEUE, "access": "receive"})
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"):
        assert allows(receiver, action, QUEUE), action
        assert not allows(receiver, action, f"{QUEUE}-dlq"), action
    assert not allows(receiver, "sqs:SendMessage", QUEUE)
    assert not allows(receiver, "sqs:PurgeQueue", QUEUE)
    both = statements_of(tmp_path, {"type": "sqs", "queue": QUEUE, "access": "send_receive"})
    assert allows(both, "sqs:SendMessage", QUEUE) and allows(both, "sqs:ReceiveMessage", QUEUE)
    assert len(both[0]["Action"]) == len(set(both[0]["Action"]))


def test_an_sns_grant_publishes_to_its_topic_only(tmp_path: Path) -> None:
    found = statements_of(tmp_path, {"type": "sns", "topic": TOPIC})
    assert allows(found, "sns:Publish", TOPIC)
    assert not allows(found, "sns:Publish", f"{TOPIC}-audit")
    assert not allows(found, "sns:Subscribe", TOPIC)


def test_an_ssm_grant_reads_its_path_and_below_but_not_a_sibling_with_the_same_start(tmp_path: Path) -> None:
    found = statements_of(tmp_path, {"type": "ssm", "path": "/shop/api/"})
    base = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    assert allows(found, "ssm:GetParametersByPath", f"{base}/shop/api")
    assert allows(found, "ssm:GetParameter", f"{base}/shop/api/db/host")
    assert allows(found, "ssm:GetParameters", f"{base}/shop/api/feature")
    assert not allows(found, "ssm:GetParameter", f"{base}/shop/apiary/secret")
    assert not allows(found, "ssm:GetParameter", f"{base}/shop/web/secret")
    assert not allows(found, "ssm:PutParameter", f"{base}/shop/api/db/host")
    assert found == statements_of(tmp_path, {"type": "ssm", "path": "/shop/api"})


def test_a_kms_grant_uses_its_key_only_and_only_through_the_service_named(tmp_path: Path) -> None:
    decrypt = statements_of(tmp_path, {"type": "kms", "key": KEY, "use": "decrypt", "via": "sqs"})
    assert allows(decrypt, "kms:Decrypt", KEY)
    assert not allows(decrypt, "kms:Decrypt", OTHER_KEY)
    assert not allows(decrypt, "kms:GenerateDataKey", KEY)
    assert decrypt[0]["Condition"] == {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}}
    encrypt = statements_of(tmp_path, {"type": "kms", "key": KEY, "use": "encrypt"})
    assert allows(encrypt, "kms:GenerateDataKey", KEY) and allows(encrypt, "kms:Encrypt", KEY)
    assert not allows(encrypt, "kms:Decrypt", KEY)
    assert "Condition" not in encrypt[0]
    both = statements_of(tmp_path, {"type": "kms", "key": KEY, "use": "encrypt_decrypt"})
    assert all(allows(both, a, KEY) for a in ("kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"))
    assert not allows(both, "kms:ScheduleKeyDeletion", KEY) and not allows(both, "kms:CreateGrant", KEY)


def test_a_service_grant_makes_no_iam_and_lets_the_caller_reach_the_callee(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        several(
            web=[{"type": "service", "service": "worker"}],
            api=[{"type": "service", "service": "worker"}, {"type": "sqs", "queue": QUEUE, "access": "send"}],
            worker=[],
        ),
    )
    # A grant names a service without a route (a routed one is called at its route: refused,
    # tests/test_service_rules.py).
    assert grants.grant_statements(PARTITION, REGION, ACCOUNT, config.all_services["web"].grants) == []
    assert grants.callees(config.all_services["api"].grants) == ("worker",)
    assert grants.service_callers(config) == {"worker": ("api", "web")}
    # The control: without grants nobody may call anybody.
    assert grants.service_callers(load(tmp_path, several())) == {}


def test_several_callers_of_one_service_are_listed_once_each(tmp_path: Path) -> None:
    call_worker = {"type": "service", "service": "worker"}
    config = load(tmp_path, several(web=[call_worker], api=[call_worker]))
    assert grants.service_callers(config) == {"worker": ("api", "web")}


# --- each kind: what would widen a grant is refused, with the key and the fix ----------------

OTHER = "222222222222"
REFUSED = [
    (
        "s3 bucket with a wildcard",
        {"type": "s3", "bucket": "shop-*", "access": "read"},
        "bucket",
        "which IAM reads as a wildcard",
    ),
    (
        "s3 prefix with a wildcard",
        {"type": "s3", "bucket": "shop", "prefix": "up/*", "access": "read"},
        "prefix",
        "write the prefix without it",
    ),
    (
        "s3 object ARN as the bucket",
        {"type": "s3", "bucket": "arn:aws:s3:::shop/uploads", "access": "read"},
        "bucket",
        "keys go in prefix",
    ),
    (
        "s3 bucket of another partition",
        {"type": "s3", "bucket": "arn:aws-cn:s3:::shop", "access": "read"},
        "bucket",
        "is in partition aws-cn",
    ),
    (
        "s3 bucket name AWS refuses",
        {"type": "s3", "bucket": "Shop_Data", "access": "read"},
        "bucket",
        "is not an S3 bucket name AWS accepts",
    ),
    (
        "sqs queue of another account",
        {"type": "sqs", "queue": f"arn:aws:sqs:{REGION}:{OTHER}:orders", "access": "send"},
        "queue",
        "set cross_account: true once that account's queue policy",
    ),
    (
        "sqs queue of another region",
        {"type": "sqs", "queue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders", "access": "send"},
        "queue",
        "use one created in eu-west-1",
    ),
    (
        "sqs queue pattern",
        {"type": "sqs", "queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-*", "access": "send"},
        "queue",
        "name one SQS queue exactly",
    ),
    (
        "sns topic of another partition",
        {"type": "sns", "topic": f"arn:aws-us-gov:sns:{REGION}:{ACCOUNT}:t"},
        "topic",
        "is in partition aws-us-gov",
    ),
    ("sns topic that is a queue", {"type": "sns", "topic": QUEUE}, "topic", "is not an SNS topic ARN"),
    ("ssm root", {"type": "ssm", "path": "/"}, "path", "would grant every parameter"),
    ("ssm path with a wildcard", {"type": "ssm", "path": "/shop/*"}, "path", "write the path without it"),
    ("ssm path of AWS", {"type": "ssm", "path": "/aws/service/"}, "path", "AWS reserves names starting aws or ssm"),
    ("ssm path without a slash", {"type": "ssm", "path": "shop/api"}, "path", "write it like /shop/api/"),
    (
        "kms alias",
        {"type": "kms", "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app", "use": "decrypt"},
        "key",
        "use the key's ARN",
    ),
    (
        "kms key of another account",
        {"type": "kms", "key": KEY.replace(ACCOUNT, OTHER), "use": "decrypt"},
        "key",
        "key policy grants",
    ),
    (
        "kms key of every key",
        {"type": "kms", "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*", "use": "decrypt"},
        "key",
        "wildcard",
    ),
    (
        "service of a single-service environment",
        {"type": "service", "service": "worker"},
        "service",
        "a single-service environment has no other service",
    ),
    ("service that is the service itself", {"type": "service", "service": "app"}, "service", "is this service itself"),
]


@pytest.mark.parametrize(("grant", "field", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_grant_that_would_reach_more_than_it_names_is_refused(
    tmp_path: Path, grant: dict[str, Any], field: str, fragment: str
) -> None:
    message = refusal(tmp_path, single(grant))
    lines = [line for line in message.splitlines() if line.startswith(f"service.grants.0.{field}: ")]
    assert lines and any(fragment in line for line in lines), message


def test_another_accounts_resource_is_accepted_where_the_grant_says_so(tmp_path: Path) -> None:
    queue, topic = f"arn:aws:sqs:{REGION}:{OTHER}:orders", f"arn:aws:sns:{REGION}:{OTHER}:events"
    found = statements_of(
        tmp_path,
        {"type": "sqs", "queue": queue, "access": "send", "cross_account": True},
        {"type": "sns", "topic": topic, "cross_account": True},
        {"type": "kms", "key": KEY.replace(ACCOUNT, OTHER), "use": "decrypt", "cross_account": True},
    )
    assert allows(found, "sqs:SendMessage", queue) and allows(found, "sns:Publish", topic)
    assert allows(found, "kms:Decrypt", KEY.replace(ACCOUNT, OTHER))


def test_service_grants_name_another_service_of_the_environment(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        several(web=[{"type": "service", "service": "wroker"}], api=[{"type": "service", "service": "api"}]),
    )
    assert (
        "services.web.grants.0.service: is not a service of this environment (got 'wroker'); did you mean 'worker'?"
        in message
    )
    assert "services.api.grants.0.service: is this service itself" in message


def test_a_grant_given_twice_is_refused(tmp_path: Path) -> None:
    grant = {"type": "sns", "topic": TOPIC}
    assert "service.grants.1: is the same grant as index 0" in refusal(tmp_path, single(grant, grant))
    load(tmp_path, single(grant, {"type": "sns", "topic": f"{TOPIC}-2"}))  # the control


def test_a_misspelt_kind_or_mode_is_explained_in_the_projects_words(tmp_path: Path) -> None:
    message = refusal(
        tmp_path, single({"type": "sqs", "queue": QUEUE, "access": "sned"}, {"type": "sq"}, {"queue": QUEUE})
    )
    assert "service.grants.0.access: is not one of the allowed values (got 'sned'); use 'send'" in message
    assert "service.grants.1: has type 'sq', which is not a kind this key knows" in message
    assert "service.grants.2: has no type" in message and "add type: one of s3, sqs, sns, ssm, kms, service" in message


# --- every grant the config accepts is scoped, and fits the role -------------------------------

NAME = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda n: "--" not in n and not n.startswith("xn")
)
VALID_GRANTS = st.one_of(
    st.builds(
        lambda b, p, a: {"type": "s3", "bucket": b, "access": a, **({"prefix": p} if p else {})},
        NAME,
        st.one_of(
            st.none(), st.from_regex(r"[a-z0-9/_.-]{1,30}", fullmatch=True).filter(lambda p: not p.startswith("/"))
        ),
        st.sampled_from(["read", "write", "read_write"]),
    ),
    st.builds(
        lambda n, a: {"type": "sqs", "queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{n}", "access": a},
        NAME,
        st.sampled_from(["send", "receive", "send_receive"]),
    ),
    st.builds(lambda n: {"type": "sns", "topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{n}"}, NAME),
    st.builds(lambda n: {"type": "ssm", "path": f"/shop/{n}/"}, NAME),
    st.builds(
        lambda u, v: {"type": "kms", "key": KEY, "use": u, **({"via": v} if v else {})},
        st.sampled_from(["encrypt", "decrypt", "encrypt_decrypt"]),
        st.sampled_from([None, "s3", "sqs", "sns", "ssm", "secretsmanager"]),
    ),
)
#: Where a granted resource may end in a wildcard: below an S3 bucket's (prefix of) keys, below a parameter path.
TRAILING = re.compile(r"^arn:aws:(s3:::[a-z0-9.-]+/[^*?]*|ssm:[a-z0-9-]+:\d{12}:parameter/[^*?]+/)\*$")


def unscoped(statements: list[iam.Statement]) -> list[str]:
    """The resources of ``statements`` that hold a wildcard anywhere but at the end of a key prefix or path."""
    return [
        r for s in statements for r in s["Resource"] if ("*" in r or "?" in r or "$" in r) and not TRAILING.fullmatch(r)
    ]


def test_the_scope_check_finds_a_wildcard_resource() -> None:
    wide = [
        iam.statement("Wide", ["sqs:SendMessage"], [f"arn:aws:sqs:{REGION}:{ACCOUNT}:*"]),
        iam.statement("All", ["s3:GetObject"], ["*"]),
    ]
    assert unscoped(wide) == [f"arn:aws:sqs:{REGION}:{ACCOUNT}:*", "*"]


@settings(max_examples=40, deadline=None)
@given(written=st.lists(VALID_GRANTS, min_size=1, max_size=6, unique_by=repr))
def test_every_accepted_grant_is_scoped_to_what_it_names(written: list[dict[str, Any]]) -> None:
    try:
        config = EnvironmentConfig.model_validate(single(*written))
    except Exception as error:  # two generated grants may still be equal after defaults
        assert "is the same grant" in str(error), error
        return
    found = grants.grant_statements(PARTITION, REGION, ACCOUNT, config.all_services["app"].grants)
    assert unscoped(found) == []
    assert all(re.fullmatch(r"[A-Za-z0-9]+", s["Sid"]) for s in found)
    assert len({s["Sid"] for s in found}) == len(found)


GOV = "us-gov-west-1"


def worst_case(kind: str) -> Grant:
    """A grant of ``kind`` as long as the config lets it be, in the partition with the longest ARNs."""
    grant: dict[str, Any] = {
        "s3": {"type": "s3", "bucket": "a" * 63, "prefix": "p" * GRANT_TEXT, "access": "read_write", "account": OTHER},
        "sqs": {
            "type": "sqs",
            "queue": f"arn:aws-us-gov:sqs:{GOV}:{OTHER}:{'q' * 80}",
            "access": "send_receive",
            "cross_account": True,
        },
        "sns": {"type": "sns", "topic": f"arn:aws-us-gov:sns:{GOV}:{OTHER}:{'t' * 256}", "cross_account": True},
        "ssm": {"type": "ssm", "path": "/" + "p" * (GRANT_TEXT - 2) + "/"},
        "kms": {
            "type": "kms",
            "key": f"arn:aws-us-gov:kms:{GOV}:{OTHER}:key/mrk-{'0' * 32}",
            "use": "encrypt_decrypt",
            "via": "secretsmanager",
            "cross_account": True,
        },
    }[kind]
    text = yaml.safe_dump(single(grant)).replace("eu-west-1", GOV).replace("arn:aws:", "arn:aws-us-gov:")
    config = EnvironmentConfig.model_validate(yaml.safe_load(text))
    assert config.partition == "aws-us-gov"
    return config.all_services["app"].grants[0]


@pytest.mark.parametrize("kind", ["s3", "sqs", "sns", "ssm", "kms"])
def test_the_most_grants_the_config_allows_fit_four_managed_policies(kind: str) -> None:
    grant = worst_case(kind)
    statements = grants.grant_statements("aws-us-gov", GOV, ACCOUNT, [grant] * MAX_GRANTS)
    documents = grants.grant_documents(statements)
    assert all(grants.size(d) <= grants.MANAGED_POLICY_CHARACTERS for d in documents)
    assert len(documents) <= 4, [grants.size(d) for d in documents]
    assert [s for d in documents for s in evaluator.statements(d)] == statements  # nothing lost, order kept


def test_packing_starts_a_new_policy_only_when_the_last_is_full() -> None:
    one = iam.statement("S", ["sns:Publish"], [TOPIC])
    assert grants.grant_documents([]) == []
    assert len(grants.grant_documents([one] * 3)) == 1
    many = grants.grant_documents([one] * 100)  # the control: 100 statements cannot fit one policy
    assert len(many) > 1 and all(grants.size(d) <= grants.MANAGED_POLICY_CHARACTERS for d in many)
    assert grants.size(iam.document(*evaluator.statements(many[0]), one)) > grants.MANAGED_POLICY_CHARACTERS


# --- synthesized: each service's grants on its own task role, and a way out of the VPC --------

FIXTURE = ROOT / "tests" / "data" / "grants.yaml"
#: The variants of tests/data/grants.yaml: interface endpoints (as staging and prod), NAT only
#: (as dev), and endpoints with a pilot-light DR region whose tasks run as the same task roles.
VARIANTS = ("endpoints", "nat", "dr")


def variant(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    data["environment"] = {"endpoints": "grants", "nat": "grantsnat", "dr": "grantsdr"}[name]
    if name == "nat":
        data["networking"]["interface_endpoints"] = False
    if name == "dr":
        data["database"]["engine_version"] = "16.4"  # a global database names its minor version
        data["dr"] = {
            "region": "eu-central-1",
            "posture": "pilot_light",
            "networking": {"vpc_cidr": "10.130.0.0/16", "az_count": 2, "nat_mode": "single"},
            "certificate_arn": "arn:aws:acm:eu-central-1:555555555555:certificate/00000000-0000-4000-8000-000000000015",
        }
    return data


@pytest.fixture(scope="module")
def granted_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedStack]:
    folder = tmp_path_factory.mktemp("grants.config")
    configs = {}
    for name in VARIANTS:
        file = folder / f"{name}.yaml"
        file.write_text(yaml.safe_dump(variant(name)))
        configs[name] = load_config(file)
    return synthesize_configs(configs, tmp_path_factory.mktemp("grants.out"))


@pytest.fixture(params=VARIANTS)
def granted_stack(request: pytest.FixtureRequest, granted_stacks: dict[str, SynthesizedStack]) -> SynthesizedStack:
    return granted_stacks[request.param]


def _calls(stack: SynthesizedStack) -> dict[str, tuple[Any, ...]]:
    return calls_of.granted(stack.config)


def _body(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    (body,) = [
        b for b in document["resource"][resource_type].values() if b["//"]["metadata"]["path"].split("/", 1)[1] == path
    ]
    return body


def test_the_fixture_grants_every_iam_kind_to_api_only(granted_stacks: dict[str, SynthesizedStack]) -> None:
    config = granted_stacks["endpoints"].config
    kinds = {g.type for g in config.all_services["api"].grants}
    assert kinds == {"s3", "sqs", "sns", "ssm", "kms"} and config.all_services["web"].grants == ()
    assert config.networking.interface_endpoints and not granted_stacks["nat"].config.networking.interface_endpoints
    assert granted_stacks["dr"].config.dr is not None


def test_a_services_grants_are_its_task_roles_policies_exactly_and_no_other_roles(
    granted_stack: SynthesizedStack,
) -> None:
    stack, config = granted_stack, granted_stack.config
    api_role = stack.service("api").one("aws_iam_role", "roles/task").ref("name")
    attached = [a for a in stack.of_type("aws_iam_role_policy_attachment") if a.path.startswith("services/api/grants/")]
    assert attached and all(a.body["role"] == api_role for a in attached)
    policies = {p.ref("arn"): p for p in stack.of_type("aws_iam_policy")}
    assert sorted(a.body["policy_arn"] for a in attached) == sorted(policies)  # every policy is attached, once
    documents = [policy(policies[a.body["policy_arn"]].body["policy"]) for a in sorted(attached, key=lambda a: a.path)]
    found = [s for d in documents for s in d["Statement"]]
    expected = grants.grant_statements(PARTITION, REGION, "555555555555", config.all_services["api"].grants)
    assert found == expected  # scoped exactly to the ARNs the config names, in order
    assert {p.body["name"] for p in policies.values()} == {config.names.service("api").task_grants_policy(1)}
    # web's task role (and every other role) gets none of them.
    others = [r for r in stack.of_type("aws_iam_role") if r.ref("name") != api_role]
    assert all(a.body["role"] not in {r.ref("name") for r in others} for a in attached)


def test_the_task_role_allows_every_call_of_its_grants(granted_stack: SynthesizedStack) -> None:
    found = [str(d) for d in denied(Stack(granted_stack.json), _calls(granted_stack))]
    assert found == [], "\n".join(found)


def test_another_services_task_role_or_one_without_the_grants_policy_is_reported(
    granted_stacks: dict[str, SynthesizedStack],
) -> None:
    stack = granted_stacks["endpoints"]
    calls = _calls(stack)["api"]
    # web's role is not granted api's calls: every one is refused.
    assert len(list(denied(Stack(stack.json), {"web": calls}))) == len(calls)
    detached = copy.deepcopy(stack.json)
    attachments = detached["resource"]["aws_iam_role_policy_attachment"]
    for name in [n for n, b in attachments.items() if "/grants/" in b["//"]["metadata"]["path"]]:
        del attachments[name]
    reported = list(denied(Stack(detached), {"api": calls}))
    assert {d.call.action for d in reported} == {c.action for c in calls}


def test_every_granted_call_gets_out_of_the_vpc_and_no_egress_is_needless(granted_stack: SynthesizedStack) -> None:
    stack, calls = Stack(granted_stack.json), _calls(granted_stack)
    found = [str(s) for s in stuck(stack, calls)]
    assert found == [], "\n".join(found)
    assert [r.path for r in needless_internet_egress(stack, calls)] == []
    assert list(broad_endpoint_statements(stack)) == []
    made = [o for o in outbound(stack, calls) if o.call.phase == calls_of.PHASE]
    # Every call but the key used via SQS (SQS calls KMS itself) leaves from each site of api's tasks.
    sites = {o.site.runner.path for o in made}
    assert sites == {"services/api/ecs/service"} | (
        {"dr/services/api/ecs/service"} if granted_stack.config.dr else set()
    )
    assert len(made) == len(sites) * (len(calls["api"]) - 1)
    assert not any(o.call.via for o in made)


def test_with_interface_endpoints_each_granted_service_has_its_endpoint(
    granted_stacks: dict[str, SynthesizedStack],
) -> None:
    stack = Stack(granted_stacks["endpoints"].json)
    region = granted_stacks["endpoints"].config.region
    for service in ("sqs", "sns", "ssm", "kms"):
        assert endpoint(stack, region, service) is not None, service
    # The primary region's tasks need no NAT for their grants: each call has an endpoint there.
    made = [o for o in outbound(stack, _calls(granted_stacks["endpoints"])) if o.call.phase == calls_of.PHASE]
    assert made and all(endpoint(stack, region, str(o.call.endpoint)) is not None for o in made)
    nat = Stack(granted_stacks["nat"].json)
    assert [endpoint(nat, region, s) for s in ("sqs", "sns", "ssm", "kms")] == [None] * 4


def test_a_key_used_through_a_service_gets_no_endpoint_statement(granted_stacks: dict[str, SynthesizedStack]) -> None:
    stack = granted_stacks["endpoints"]
    via_sqs = "arn:aws:kms:eu-west-1:555555555555:key/00000000-0000-4000-8000-000000000001"
    kms = policy(_body(stack.json, "aws_vpc_endpoint", "networking/endpoint_kms")["policy"])
    assert [s["Resource"] for s in kms["Statement"]] == [[via_sqs.replace("0001", "0002")]]


@pytest.mark.parametrize("service", ["sqs", "sns", "ssm", "kms"])
def test_a_granted_call_its_endpoint_does_not_admit_or_without_an_endpoint_is_reported(
    service: str, granted_stacks: dict[str, SynthesizedStack]
) -> None:
    stack = granted_stacks["endpoints"]
    calls, path = _calls(stack), f"networking/endpoint_{service}"
    emptied = copy.deepcopy(stack.json)
    _body(emptied, "aws_vpc_endpoint", path)["policy"] = json.dumps({"Version": "2012-10-17", "Statement": []})
    refused = {s.call.action for s in stuck(Stack(emptied), calls) if path in s.why}
    assert refused == {c.action for c in calls["api"] if c.endpoint == service}
    without = _without_resource(stack.json, "aws_vpc_endpoint", path)
    reasons = {s.why for s in stuck(Stack(without), calls) if s.call.action.startswith(f"{service}:")}
    no_way_out = "in the caller's VPC, and its security groups allow no HTTPS to the internet"
    assert reasons == {f"no {service} endpoint for eu-west-1 {no_way_out}"}


def test_another_accounts_granted_bucket_needs_its_own_gateway_statement(
    granted_stacks: dict[str, SynthesizedStack],
) -> None:
    stack = granted_stacks["endpoints"]
    broken = copy.deepcopy(stack.json)
    gateway = _body(broken, "aws_vpc_endpoint", "networking/s3_endpoint")
    document = policy(gateway["policy"])
    document["Statement"] = [s for s in document["Statement"] if "partner-exports" not in json.dumps(s["Resource"])]
    gateway["policy"] = json.dumps(document)
    refused = {(s.call.action, s.resource) for s in stuck(Stack(broken), _calls(stack))}
    # The account's own-bucket statement does not admit a bucket of 666666666666.
    assert refused == {
        (a, f"arn:aws:s3:::partner-exports/{RUNTIME}")
        for a in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
    }


def test_the_dr_regions_tasks_reach_the_granted_resources_through_nat(
    granted_stacks: dict[str, SynthesizedStack],
) -> None:
    stack = granted_stacks["dr"]
    rules = [
        r
        for r in stack.of_type("aws_vpc_security_group_egress_rule")
        if r.path.startswith("dr/security_groups/tasks_out")
    ]
    assert any(r.body.get("cidr_ipv4") == "0.0.0.0/0" for r in rules), [r.path for r in rules]
    (internet,) = [r for r in rules if r.body.get("cidr_ipv4") == "0.0.0.0/0"]
    # EC2 takes only these characters in a rule's description (CreateSecurityGroup, GroupDescription).
    assert re.fullmatch(r"[A-Za-z0-9. _\-:/()#,@\[\]+=&;{}!$*]*", internet.body["description"]), internet.body
    assert "grants" in internet.body["description"]
    without = _without_resource(stack.json, "aws_vpc_security_group_egress_rule", internet.path)
    reported = {s.site.runner.path for s in stuck(Stack(without), _calls(stack)) if s.call.phase == calls_of.PHASE}
    assert reported == {"dr/services/api/ecs/service"}
    # Without the grants, that egress would be needless: the grants are what needs it.
    assert internet.path in [r.path for r in needless_internet_egress(Stack(stack.json))]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(Principal="*"), "admits any principal"),
        (lambda s: s.pop("Condition"), "outside the account's resources"),
        (lambda s: s.update(Resource=["arn:aws:s3:::partner-*"]), "outside the account's resources"),
    ],
    ids=["any principal", "no owner", "bucket pattern"],
)
def test_a_granted_bucket_statement_broader_than_the_grant_is_reported(
    change: Any, problem: str, granted_stacks: dict[str, SynthesizedStack]
) -> None:
    broken = copy.deepcopy(granted_stacks["endpoints"].json)
    gateway = _body(broken, "aws_vpc_endpoint", "networking/s3_endpoint")
    document = policy(gateway["policy"])
    (statement,) = [s for s in document["Statement"] if "partner-exports" in json.dumps(s["Resource"])]
    change(statement)
    gateway["policy"] = json.dumps(document)
    found = list(broad_endpoint_statements(Stack(broken)))
    assert any(problem in f for f in found), found


def test_the_grants_policies_pass_the_iam_audit(granted_stacks: dict[str, SynthesizedStack]) -> None:
    audited = {
        p.path: findings(policy(p.body["policy"])) for p in granted_stacks["endpoints"].of_type("aws_iam_policy")
    }
    assert audited and {path: found for path, found in audited.items() if found} == {}


def _without_resource(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    result = copy.deepcopy(document)
    bodies = result["resource"][resource_type]
    (name,) = [n for n, b in bodies.items() if b["//"]["metadata"]["path"].split("/", 1)[1] == path]
    del bodies[name]
    return result


def test_the_grants_policies_names_are_derived_and_checked_in_config_naming(
    granted_stacks: dict[str, SynthesizedStack],
) -> None:
    stack = granted_stacks["endpoints"]
    derived = {n.value: n for n in naming.physical_names(stack.config) if n.kind == "iam_policy"}
    assert {p.body["name"] for p in stack.of_type("aws_iam_policy")} == set(derived)
    assert all(aws_names.check("iam_policy", name) == [] for name in derived)
    # The control: a service with only service grants (or none) has no grants policy to name.
    assert not [n for n in naming.physical_names(load_config(ROOT / "config" / "dev.yaml")) if n.kind == "iam_policy"]


def test_an_endpoint_policy_the_grants_would_overfill_is_refused() -> None:
    """An endpoint policy holds 20,480 characters (not adjustable); each granted statement adds one."""
    role = "${aws_iam_role.services_api_roles_task_5345AE45.arn}"

    def callers(count: int) -> VpcCallers:
        written = [
            {"type": "s3", "bucket": f"shop-data-{n}", "prefix": "p" * 100 + "/", "access": "read_write"}
            for n in range(count)
        ]
        config = EnvironmentConfig.model_validate(single(*written))
        found = grants.grant_statements(PARTITION, REGION, ACCOUNT, config.all_services["app"].grants)
        return VpcCallers(PARTITION, REGION, ACCOUNT, task_execution_role_arns=[role], granted={role: found})

    fits = callers(5).gateway_policy()
    assert len(fits) < ENDPOINT_POLICY_CHARACTERS
    with pytest.raises(ValueError, match=r"s3 VPC endpoint's policy would hold up to \d+ characters, over the 20480"):
        callers(MAX_GRANTS).gateway_policy()
