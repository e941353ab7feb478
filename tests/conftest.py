"""Shared fixtures: every shipped environment synthesized once per test session, in one process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from config import EnvironmentConfig, load_config, shipped_environments
from config.schema import ServiceSpec

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.app_support"]
REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_]+)\.([a-z_]+)\}")


@dataclass(frozen=True)
class Resource:
    type: str
    id: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        """Construct path below the stack, e.g. 'load_balancer/blue'."""
        return str(self.body["//"]["metadata"]["path"]).split("/", 1)[1]

    def ref(self, attribute: str) -> str:
        return f"${{{self.type}.{self.id}.{attribute}}}"

    @property
    def address(self) -> str:
        """Terraform's address of the resource, as moved blocks and plans name it."""
        return f"{self.type}.{self.id}"


@dataclass(frozen=True)
class Scope:
    """The resources of one part of a stack: a service's (``services/<key>/``), the DR region's
    (``dr/``), or the platform's (everything else), looked up by paths relative to it."""

    stack: SynthesizedStack
    prefix: str

    def _within(self, resource: Resource) -> bool:
        if self.prefix:
            return resource.path.startswith(self.prefix)
        return not resource.path.startswith(("services/", "dr/"))

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.stack.of_type(resource_type) if self._within(r)]

    def one(self, resource_type: str, path: str | None = None) -> Resource:
        """The resource at ``path`` (relative to the scope); without one, the only one of its type here."""
        found = [
            r
            for r in self.of_type(resource_type)
            if (r.path == self.prefix + path if path is not None else not r.path.startswith(f"{self.prefix}dr/"))
        ]
        assert len(found) == 1, (
            f"expected one {resource_type} {self.prefix}{path or ''}, found {[r.path for r in found]}"
        )
        return found[0]

    def local(self, resource: Resource) -> str:
        """``resource``'s path relative to the scope."""
        return resource.path.removeprefix(self.prefix)


@dataclass(frozen=True)
class SynthesizedStack:
    """One environment's cdk.tf.json, with lookups that read like the infrastructure."""

    env: str
    config: EnvironmentConfig
    json: dict[str, Any]
    file: Path
    #: The service a test looks at (``service()`` without a key); None: the environment's only one.
    focus: str | None = None

    def of_type(self, resource_type: str) -> list[Resource]:
        return [Resource(resource_type, k, v) for k, v in self.json.get("resource", {}).get(resource_type, {}).items()]

    def one(self, resource_type: str, path: str | None = None) -> Resource:
        """The resource at ``path``; without one, the only one of its type in the primary region
        (the DR region's copies live under "dr/")."""
        found = [
            r
            for r in self.of_type(resource_type)
            if (r.path == path if path is not None else not r.path.startswith("dr/"))
        ]
        assert len(found) == 1, f"expected one {resource_type} {path or ''}, found {[r.path for r in found]}"
        return found[0]

    @property
    def platform(self) -> Scope:
        """What the environment shares (the primary region's)."""
        return Scope(self, "")

    def service(self, key: str | None = None) -> Scope:
        """One service's resources in the primary region; ``key`` defaults to the focus, or the only service."""
        return Scope(self, f"services/{self.config.pick_service(key or self.focus)}/")

    @property
    def focused(self) -> str:
        """The key of the service ``service()`` looks at."""
        return self.config.pick_service(self.focus)

    @property
    def spec(self) -> ServiceSpec:
        """The config of the service in focus."""
        return self.config.all_services[self.focused]

    @property
    def dr(self) -> Scope:
        return Scope(self, "dr/")

    def dr_service(self, key: str | None = None) -> Scope:
        return Scope(self, f"dr/services/{self.config.pick_service(key or self.focus)}/")

    def in_region(self, resource_type: str, *, dr: bool) -> list[Resource]:
        """Resources of a type in the primary region, or (``dr``) in the DR region."""
        return [r for r in self.of_type(resource_type) if r.path.startswith("dr/") is dr]

    @property
    def database_secret(self) -> str:
        """Reference to the secret holding the database credentials the service reads: RDS's own,
        or (a global database member, whose password RDS cannot manage) the stack's."""
        cluster = self.one("aws_rds_cluster")
        if cluster.body.get("manage_master_user_password"):
            return cluster.ref("master_user_secret[0].secret_arn")
        return self.one("aws_secretsmanager_secret").ref("arn")

    def all_resources(self) -> Iterator[Resource]:
        for resource_type in self.json.get("resource", {}):
            yield from self.of_type(resource_type)

    def resolve(self, reference: str) -> Resource:
        """The resource a '${type.id.attr}' reference points at."""
        match = REFERENCE.fullmatch(reference)
        assert match, f"not a plain reference: {reference!r}"
        return Resource(match[1], match[2], self.json["resource"][match[1]][match[2]])


def synthesize_configs(configs: dict[str, EnvironmentConfig], outdir: Path) -> dict[str, SynthesizedStack]:
    """Synthesize in this process (the provider bindings load once per session)."""
    import main

    main.synthesize(list(configs.values()), str(outdir))
    stacks = {}
    for env, config in configs.items():
        file = outdir / "stacks" / config.names.prefix / "cdk.tf.json"
        stacks[env] = SynthesizedStack(env, config, json.loads(file.read_text()), file)
    return stacks


def _synthesize(outdir: Path) -> dict[str, SynthesizedStack]:
    configs = {env: load_config(ROOT / "config" / f"{env}.yaml") for env in shipped_environments()}
    return synthesize_configs(configs, outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedStack]:
    return _synthesize(tmp_path_factory.mktemp("cdktf.out"))


def _shipped() -> dict[str, EnvironmentConfig]:
    return {env: load_config(ROOT / "config" / f"{env}.yaml") for env in shipped_environments()}


def service_params(*released_by: str) -> list[Any]:
    """(environment, service) pairs of the shipped environments, for services released so (any,
    when none is named). An environment of one service keeps its own name as the test id."""
    params = []
    for env, config in _shipped().items():
        keys = [k for k, spec in config.all_services.items() if not released_by or spec.released_by in released_by]
        for key in keys:
            params.append(pytest.param((env, key), id=env if len(config.all_services) == 1 else f"{env}-{key}"))
    return params


def every_service(synthesized: dict[str, SynthesizedStack]) -> Iterator[tuple[str, SynthesizedStack]]:
    """(environment, the stack focused on one of its services), for each service of each environment."""
    for env, stack in synthesized.items():
        for key in stack.config.all_services:
            yield env, replace(stack, focus=key)


def _focused(request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    env, key = request.param
    return replace(synthesized[env], focus=key)


@pytest.fixture(params=service_params("codedeploy", "ecs_native"))
def stack(request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    """Each blue/green service of each environment (``stack.service()`` is that service)."""
    return _focused(request, synthesized)


@pytest.fixture(params=service_params())
def any_service(request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    """Each service of each environment, with or without a route."""
    return _focused(request, synthesized)


@pytest.fixture(params=service_params("codedeploy"))
def codedeploy_stack(request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    """Each service whose deployments CodeDeploy controls."""
    return _focused(request, synthesized)


@pytest.fixture(params=service_params("ecs_native"))
def ecs_stack(request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    """Each service deployed by ECS's own blue/green."""
    return _focused(request, synthesized)


@pytest.fixture
def prod(synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    return synthesized["prod"]


@pytest.fixture
def dev(synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    return synthesized["dev"]


@pytest.fixture
def staging(synthesized: dict[str, SynthesizedStack]) -> SynthesizedStack:
    """A backup/restore DR posture, with a load test."""
    return synthesized["staging"]


def policy(text: str) -> dict[str, Any]:
    """A policy document as data, whatever its statements' shape."""
    document: dict[str, Any] = json.loads(text)
    statements = document["Statement"]
    document["Statement"] = statements if isinstance(statements, list) else [statements]
    return document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
