"""The container: the Dockerfile's properties (parsed, not pattern-matched), and the task
definition / build taskdef agreeing with what the app reads and serves."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from service import settings
from service.api import create_app
from starlette.routing import Route

from config import load_config, shipped_environments
from config.schema import ServiceConfig
from modules.stack import APP_DRAIN_SECONDS, APP_EXIT_MARGIN_SECONDS
from tests.app_support import APP
from tests.conftest import ROOT, SynthesizedStack

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


#: The Docker Official Image, from its public ECR gallery mirror (CodeBuild's anonymous Docker Hub
#: pulls hit rate limits), pinned by tag and by the digest of its multi-architecture index.
BASE_IMAGE = re.compile(r"public\.ecr\.aws/docker/library/python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}")


def test_dockerfile_is_multi_stage_on_one_base_pinned_by_digest(dockerfile: DockerfileParser) -> None:
    assert dockerfile.is_multistage
    images = {stage[0]["value"].split()[0] for stage in stages(dockerfile)}
    assert len(images) == 1, f"the stages must share one base: {images}"
    (image,) = images
    assert BASE_IMAGE.fullmatch(image), f"base not pinned by tag and digest: {image}"
    assert not [i for i in dockerfile.structure if i["instruction"] == "ADD"], "ADD fetches unpinned bytes"


def _requirements(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip requirements file."""
    found: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        found[canonicalize_name(name.split("[")[0])] = (version, hashes)
    return found


def test_the_image_installs_a_complete_hashed_lock_and_nothing_else(dockerfile: DockerfileParser) -> None:
    build = stages(dockerfile)[0]
    (install,) = [i["value"] for i in build if i["instruction"] == "RUN" and "pip install" in i["value"]]
    for flag in ("--require-hashes", "--no-deps", "--only-binary=:all:", "-r /tmp/requirements.txt"):
        assert flag in install, f"the image must install with {flag}"
    lock = _requirements(APP / "requirements.txt")
    for name, (version, hashes) in lock.items():
        assert version and hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    # --no-deps: the lock must hold every dependency of every package in it (as installed in the
    # project's venv, which has the same versions), or the image would miss one at run time.
    for name in lock:
        for requirement in metadata.requires(name) or []:
            dependency = Requirement(requirement)
            if dependency.marker and not dependency.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(dependency.name) in lock, f"{name} needs {dependency.name}, not in the lock"
    direct = _requirements(APP / "requirements.in")
    assert {n: v for n, (v, _) in direct.items()} == {n: lock[n][0] for n in direct}


def test_tests_run_the_versions_the_image_runs() -> None:
    """The project's lock (the test venv) and the image's lock agree on every package they share."""
    project = _requirements(ROOT / "requirements" / "dev.txt")
    for name, (version, _) in _requirements(APP / "requirements.txt").items():
        assert project.get(name, ("missing",))[0] == version, f"{name}: image {version}, tests {project.get(name)}"


#: sha256 of app/certs/rds-global-bundle.pem: a change is a reviewed commit, never a silent update.
RDS_CA_BUNDLE_SHA256 = "05c6b4a9bf4daa95c888711481e19cc8e2e11aed4de8db759f51f4a6fce64917"


def test_the_image_carries_the_pinned_rds_ca_bundle_where_the_app_looks(dockerfile: DockerfileParser) -> None:
    bundle = APP / "certs" / "rds-global-bundle.pem"
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == RDS_CA_BUNDLE_SHA256
    final = stages(dockerfile)[-1]
    copied = [i["value"].split() for i in final if i["instruction"] == "COPY"]
    assert ["--chown=root:root", "certs/rds-global-bundle.pem", settings.DEFAULT_SSLROOTCERT] in copied


def test_the_rds_ca_bundle_holds_valid_roots_for_every_region_the_stacks_use() -> None:
    certificates = x509.load_pem_x509_certificates((APP / "certs" / "rds-global-bundle.pem").read_bytes())
    now = datetime.now(UTC)
    regions: set[str] = set()
    for certificate in certificates:
        name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert certificate.subject == certificate.issuer, f"{name} is not a root"
        certificate.verify_directly_issued_by(certificate)
        assert certificate.not_valid_before_utc < now < certificate.not_valid_after_utc, f"{name} is not valid now"
        if match := re.fullmatch(
            r"Amazon RDS ([a-z]{2}(?:-[a-z]+)+-\d) Root CA (RSA2048|RSA4096|ECC384) G1", str(name)
        ):
            regions.add(match[1])
    used = set()
    for env in shipped_environments():
        config = load_config(ROOT / "config" / f"{env}.yaml")
        used.add(config.region)
        if config.dr is not None:
            used.add(config.dr.region)
    assert used <= regions, f"no RDS root CA for {used - regions}: refresh app/certs (app/README.md)"


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
    buildspec = (
        prod.service()
        .one("aws_codebuild_project", "codepipeline/build")
        .body["source"]["buildspec"]
        .replace("$${", "${")
    )
    build = " ".join(yaml.safe_load(buildspec)["phases"]["build"]["commands"])
    assert "--build-arg GIT_COMMIT=" in build and "--build-arg APP_VERSION=" in build


def test_dockerignore_sends_only_the_service(dockerfile: DockerfileParser) -> None:
    lines = [line for line in (APP / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*" and set(lines[1:4]) == {"!requirements.txt", "!certs/rds-global-bundle.pem", "!service/"}


def container(stack: SynthesizedStack) -> dict[str, Any]:
    (definition,) = json.loads(stack.service().one("aws_ecs_task_definition").body["container_definitions"])
    return dict(definition)


def test_task_definition_provides_everything_the_app_reads(stack: SynthesizedStack) -> None:
    definition = container(stack)
    provided = {e["name"] for e in definition["environment"]} | {s["name"] for s in definition.get("secrets", [])}
    assert set(settings.REQUIRED_VARIABLES) <= provided
    unknown = provided - set(settings.REQUIRED_VARIABLES) - set(settings.OPTIONAL_VARIABLES)
    # Besides the config's own: the URL of each service it is granted to call (modules/service_network.py).
    callees = {f"{g.service.upper()}_URL" for g in stack.spec.grants if g.type == "service"}
    assert unknown <= set(stack.spec.environment) | callees, f"the app never reads {unknown}"
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    assert environment.get("DB_AUTH") == "iam", "the service authenticates with IAM tokens"
    assert environment.get("DB_SSLMODE", "verify-full") == "verify-full"
    assert "DB_SECRET" not in provided, "the service must never hold the master user's secret"


def test_port_health_path_and_container_name_agree(stack: SynthesizedStack) -> None:
    definition = container(stack)
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    port = definition["portMappings"][0]["containerPort"]
    assert int(environment["PORT"]) == port == stack.service().one("aws_lb_target_group", "route/green").body["port"]
    app_paths = {r.path for r in create_app(settings.load(_fake_env())).routes if isinstance(r, Route)}
    for colour in ("blue", "green"):
        health = stack.service().one("aws_lb_target_group", f"route/{colour}").body["health_check"]
        assert health["path"] == "/ready" and health["path"] in app_paths
    assert definition["name"] == stack.service().one("aws_ecs_service").body["load_balancer"][0]["container_name"]


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
        group = stack.service().one("aws_lb_target_group", f"route/{colour}").body
        check = group["health_check"]
        assert check["interval"] * check["healthy_threshold"] <= 60, "a new task needs over a minute to be healthy"
        assert int(group["deregistration_delay"]) <= 60, "draining waits on the 300 s default"


def _fake_env() -> dict[str, str]:
    return {
        "PORT": "8080",
        "DB_HOST": "h",
        "DB_PORT": "5432",
        "DB_NAME": "d",
        "DB_USER": "app_user",
        "DB_AUTH": "password",
        "DB_PASSWORD": "p",
        "DB_SSLMODE": "require",
    }
