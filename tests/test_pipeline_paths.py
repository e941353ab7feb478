"""Monorepo path filters (issue 15): a service whose source says ``start_on: app_path_changes``
starts its pipeline only on pushes that change a file under its app_path (a CodePipeline V2 push
trigger on branch and file paths); every other service starts on any push to its branch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config
from tests.conftest import SynthesizedStack, synthesize_configs

ROOT = Path(__file__).resolve().parent.parent
TWO = yaml.safe_load((ROOT / "config" / "platform.yaml").read_text())
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())


def monorepo() -> dict[str, Any]:
    """config/platform.yaml with web and api in one repository, web filtered on its folder."""
    data = copy.deepcopy(TWO)
    data["environment"] = "monorepo"
    for key, folder in (("web", "./services/web/"), ("api", "services/api")):
        data["services"][key]["source"] = {"repository": "shop/mono", "branch": "main", "app_path": folder}
    data["services"]["web"]["source"]["start_on"] = "app_path_changes"
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def refusal(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    return caught.value.render()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    config = load_config(write(tmp_path_factory.mktemp("monorepo.config"), monorepo()))
    return synthesize_configs({"monorepo": config}, tmp_path_factory.mktemp("monorepo.out"))["monorepo"]


def push(stack: SynthesizedStack, key: str) -> dict[str, Any]:
    pipeline = stack.service(key).one("aws_codepipeline", "codepipeline/pipeline").body
    assert pipeline["pipeline_type"] == "V2"  # triggers need V2; it was V2 before, so nothing is replaced
    (trigger,) = pipeline["trigger"]
    assert trigger["provider_type"] == "CodeStarSourceConnection"
    (found,) = trigger["git_configuration"]["push"]
    assert trigger["git_configuration"]["source_action_name"] == "Source"
    return dict(found)


def test_a_monorepo_service_starts_only_on_pushes_under_its_app_path(stack: SynthesizedStack) -> None:
    web = push(stack, "web")
    assert web["branches"] == {"includes": ["main"]}
    assert web["file_paths"] == {"includes": ["services/web/**"]}  # as the repository's paths are written
    # The control: api, in the same repository, starts on any push to its branch.
    api = push(stack, "api")
    assert api == {"branches": {"includes": ["main"]}}
    # Its build still uses its folder, filtered or not.
    builds = [p.body for p in stack.service("web").of_type("aws_codebuild_project") if p.path.endswith("/build")]
    assert builds and "./services/web/" in str(builds[0]["source"])


@pytest.mark.parametrize("folder", [".", "./", "./."])
def test_a_path_filter_on_the_whole_repository_is_refused(tmp_path: Path, folder: str) -> None:
    data = monorepo()
    data["services"]["web"]["source"]["app_path"] = folder
    message = refusal(tmp_path, data)
    assert "services.web.source.start_on: filters on app_path" in message and "is the whole repository" in message
    assert "leave start_on out" in message


def test_an_app_path_too_long_for_a_trigger_is_refused_only_when_it_filters(tmp_path: Path) -> None:
    data = monorepo()
    data["services"]["web"]["source"]["app_path"] = "a" * 253
    message = refusal(tmp_path, data)
    assert "services.web.source.app_path: is 253 characters; a trigger's file path is at most 255" in message
    data["services"]["web"]["source"]["app_path"] = "a" * 252  # the control: 252 + "/**" fits
    assert load_config(write(tmp_path, data)).all_services["web"].source.trigger_paths == (f"{'a' * 252}/**",)
    data["services"]["web"]["source"].update(app_path="a" * 253, start_on="any_push")
    assert load_config(write(tmp_path, data)).all_services["web"].source.trigger_paths == ()


def test_the_single_service_form_filters_from_pipeline(tmp_path: Path) -> None:
    data = copy.deepcopy(DEV)
    data["pipeline"].update(app_path="services/app", start_on="app_path_changes")
    config = load_config(write(tmp_path, data))
    assert config.all_services["app"].source.trigger_paths == ("services/app/**",)
    data["pipeline"]["app_path"] = "."
    assert "pipeline.start_on: filters on app_path" in refusal(tmp_path, data)
    # Unchanged by default: any push starts the pipeline.
    assert load_config(ROOT / "config" / "dev.yaml").all_services["app"].source.trigger_paths == ()
