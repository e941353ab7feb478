"""The container: the Dockerfile's properties (parsed, not pattern-matched), and the task
definition / build taskdef agreeing with what the app reads and serves."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from service import settings
from service.api import create_app
from starlette.routing import Route

from config.schema import ServiceConfig
from modules.stack import APP_DRAIN_SECONDS, APP_EXIT_MARGIN_SECONDS
from tests.app_support import APP
from tests.conftest import SynthesizedStack

BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "git", "curl", "wget")


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(APP / "Dockerfile"))


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    result: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_dockerfile_is_multi_stage_on_a_pinned_slim_base(dockerfile: DockerfileParser) -> None:
    assert dockerfile.is_multistage
    for stage in stages(dockerfile):
        image = stage[0]["value"].split()[0]
        name, _, tag = image.partition(":")
        assert name == "python" and tag.count(".") == 2 and "slim" in tag, f"unpinned base {image}"


def test_final_stage_runs_as_non_root_without_build_tools(dockerfile: DockerfileParser) -> None:
    final = stages(dockerfile)[-1]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert "apt-get install" not in runs and "pip install" not in runs
    assert not any(f" {tool} " in f" {runs} " for tool in BUILD_TOOLS)
    copied = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=build /opt/venv") for c in copied)


def test_image_has_a_healthcheck_clean_stop_and_the_default_port(dockerfile: DockerfileParser) -> None:
    instructions = {i["instruction"]: i["value"] for i in stages(dockerfile)[-1]}
    assert "/health" in instructions["HEALTHCHECK"]
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    assert instructions["EXPOSE"] == str(ServiceConfig().container_port)
    assert json.loads(instructions["CMD"]) == ["python", "-m", "service.server"]
    assert "PYTHONDONTWRITEBYTECODE=1" in instructions["ENV"], "the root filesystem is read-only in ECS"


def test_build_args_reach_the_app_as_its_version(dockerfile: DockerfileParser, prod: SynthesizedStack) -> None:
    final = stages(dockerfile)[-1]
    assert {i["value"].split("=")[0] for i in final if i["instruction"] == "ARG"} == {"APP_VERSION", "GIT_COMMIT"}
    env = next(i["value"] for i in final if i["instruction"] == "ENV")
    assert "APP_VERSION=$APP_VERSION" in env and "GIT_COMMIT=$GIT_COMMIT" in env
    buildspec = prod.one("aws_codebuild_project", "codepipeline/build").body["source"]["buildspec"].replace("$${", "${")
    build = " ".join(yaml.safe_load(buildspec)["phases"]["build"]["commands"])
    assert "--build-arg GIT_COMMIT=" in build and "--build-arg APP_VERSION=" in build


def test_dockerignore_sends_only_the_service(dockerfile: DockerfileParser) -> None:
    lines = [line for line in (APP / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*" and set(lines[1:3]) == {"!requirements.txt", "!service/"}


def container(stack: SynthesizedStack) -> dict[str, Any]:
    (definition,) = json.loads(stack.one("aws_ecs_task_definition").body["container_definitions"])
    return dict(definition)


def test_task_definition_provides_everything_the_app_reads(stack: SynthesizedStack) -> None:
    definition = container(stack)
    provided = {e["name"] for e in definition["environment"]} | {s["name"] for s in definition["secrets"]}
    assert set(settings.REQUIRED_VARIABLES) <= provided
    unknown = provided - set(settings.REQUIRED_VARIABLES) - set(settings.OPTIONAL_VARIABLES)
    assert unknown <= set(stack.config.service.environment), f"the app never reads {unknown}"
    secret = next(s for s in definition["secrets"] if s["name"] == "DB_SECRET")
    assert secret["valueFrom"] == stack.database_secret


def test_port_health_path_and_container_name_agree(stack: SynthesizedStack) -> None:
    definition = container(stack)
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    port = definition["portMappings"][0]["containerPort"]
    assert int(environment["PORT"]) == port == stack.one("aws_lb_target_group", "load_balancer/green").body["port"]
    app_paths = {r.path for r in create_app(settings.load(_fake_env())).routes if isinstance(r, Route)}
    for colour in ("blue", "green"):
        health = stack.one("aws_lb_target_group", f"load_balancer/{colour}").body["health_check"]
        assert health["path"] == "/ready" and health["path"] in app_paths
    assert definition["name"] == stack.one("aws_ecs_service").body["load_balancer"][0]["container_name"]


def test_shutdown_fits_inside_the_ecs_stop_timeout(stack: SynthesizedStack) -> None:
    definition = container(stack)
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    budget = float(environment["DRAIN_SECONDS"]) + float(environment["SHUTDOWN_TIMEOUT_SECONDS"])
    assert budget + APP_EXIT_MARGIN_SECONDS == definition["stopTimeout"]
    assert float(environment["DRAIN_SECONDS"]) == APP_DRAIN_SECONDS
    assert float(environment["SHUTDOWN_TIMEOUT_SECONDS"]) > 0


def test_logs_and_filesystem_match_the_app(stack: SynthesizedStack) -> None:
    definition = container(stack)
    assert definition["logConfiguration"]["logDriver"] == "awslogs"
    assert definition["readonlyRootFilesystem"] is True
    assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in definition["mountPoints"]


def test_target_group_timing_keeps_deployments_short(stack: SynthesizedStack) -> None:
    for colour in ("blue", "green"):
        group = stack.one("aws_lb_target_group", f"load_balancer/{colour}").body
        check = group["health_check"]
        assert check["interval"] * check["healthy_threshold"] <= 60, "a new task needs over a minute to be healthy"
        assert int(group["deregistration_delay"]) <= 60, "draining waits on the 300 s default"


def _fake_env() -> dict[str, str]:
    return {
        "PORT": "8080",
        "DB_HOST": "h",
        "DB_PORT": "5432",
        "DB_NAME": "d",
        "DB_SECRET": '{"username": "u", "password": "p"}',
    }
