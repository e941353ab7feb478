"""make bootstrap: each account's Terraform state bucket, the way the stacks' S3 backend expects it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config import load_config, shipped_environments
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def state_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    import main

    out = tmp_path_factory.mktemp("bootstrap")
    configs = [load_config(ROOT / "config" / f"{env}.yaml") for env in shipped_environments()]
    names = main.synthesize(configs, str(out), bootstrap=True)
    return {name: json.loads((Path(out) / "stacks" / name / "cdk.tf.json").read_text()) for name in names}


def only(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    (body,) = document["resource"][resource_type].values()
    return dict(body)


def test_one_state_stack_per_account_with_its_configured_bucket(state_stacks: dict[str, dict[str, Any]]) -> None:
    configs = [load_config(ROOT / "config" / f"{env}.yaml") for env in shipped_environments()]
    assert sorted(state_stacks) == sorted({f"{c.project}-state-{c.account_id}" for c in configs})
    for config in configs:
        assert config.state is not None
        document = state_stacks[f"{config.project}-state-{config.account_id}"]
        assert only(document, "aws_s3_bucket")["bucket"] == config.state.bucket
        assert document["provider"]["aws"][0]["allowed_account_ids"] == [config.account_id]
        assert "local" in document["terraform"]["backend"], "the state bucket cannot keep its own state"


def test_state_bucket_is_versioned_encrypted_private_tls_only_and_kept(state_stacks: dict[str, dict[str, Any]]) -> None:
    for document in state_stacks.values():
        bucket = only(document, "aws_s3_bucket")
        assert bucket["lifecycle"] == {"prevent_destroy": True} and bucket["force_destroy"] is False
        assert only(document, "aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"
        rule = only(document, "aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
        key_ref = "${aws_kms_key." + next(iter(document["resource"]["aws_kms_key"])) + ".arn}"
        assert rule["apply_server_side_encryption_by_default"] == {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": key_ref,
        }
        assert only(document, "aws_kms_key")["enable_key_rotation"] is True
        block = only(document, "aws_s3_bucket_public_access_block")
        assert all(
            block[k] is True
            for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        )
        deny = json.loads(only(document, "aws_s3_bucket_policy")["policy"])["Statement"][0]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (lifecycle,) = only(document, "aws_s3_bucket_lifecycle_configuration")["rule"]
        assert "expiration" not in lifecycle, "current state must never expire"
        assert lifecycle["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]


@pytest.mark.slow
def test_state_stacks_pass_the_checkov_gate(state_stacks: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    import subprocess
    import sys

    files = []
    for name, document in state_stacks.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "cdk.tf.json").write_text(json.dumps(document))
        files += ["-f", str(tmp_path / name / "cdk.tf.json")]
    checkov = Path(sys.executable).parent / "checkov"
    result = subprocess.run(
        [str(checkov), "--config-file", str(ROOT / ".checkov.yaml"), "-o", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [c["check_id"] for r in reports for c in r["results"]["failed_checks"]] == []
    assert sum(r["summary"]["passed"] for r in reports) > 50
