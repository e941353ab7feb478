"""Generated artefacts are current, and the JSON Schema editors use agrees with the real validation."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from config import shipped_environments
from tests.conftest import ROOT, SynthesizedStack
from tools import docs


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


def test_architecture_diagram_is_current(prod: SynthesizedStack) -> None:
    from tools import diagram

    committed = (ROOT / "docs" / "architecture.md").read_text()
    assert committed == diagram.page(prod.json, prod.file.parent.name), "run `make diagram` and commit the result"


def test_diagram_follows_the_stack(synthesized: dict[str, SynthesizedStack]) -> None:
    from tools import diagram

    prod, sandbox = diagram.mermaid(synthesized["prod"].json), diagram.mermaid(synthesized["sandbox"].json)
    assert "NAT gateways x3" in prod and "st2[Approve]" in prod and "CodeDeploy deployment group" in prod
    assert "ECS Fargate service (ECS)" in sandbox and "ECS blue/green" in sandbox
