"""Read a YAML file into a validated ``EnvironmentConfig``, or fail with every problem at once.

Reading is bounded (config/yaml_safety.py: size, depth, alias expansion, plain tags and keys)
and every failure, down to Python's own (a RecursionError, a MemoryError), becomes a problem in
the project's format; nothing a file contains can end in a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config import messages, yaml_safety
from config.problems import ConfigError, Problem
from config.schema import MISSING_REPOSITORY, EnvironmentConfig

CONFIG_DIR = Path(__file__).resolve().parent


def config_path(environment: str) -> Path:
    return CONFIG_DIR / f"{environment}.yaml"


def shipped_environments() -> list[str]:
    """Names of the environments with a config file in config/, sorted."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def load_config(path: Path | str) -> EnvironmentConfig:
    path = Path(path)
    source = _display(path)
    data = _parse(_read(path, source), source)
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as error:
        found = list(messages.problems(error))
        raise ConfigError(source, [*_unchecked(data, found), *found]) from None
    except (RecursionError, MemoryError):
        raise ConfigError(
            source,
            [Problem((), "is too deeply nested or too large to validate", "keep it to the shape of config/dev.yaml")],
        ) from None


def _unchecked(data: dict[str, Any], found: list[Problem]) -> list[Problem]:
    """What the environment's own rules would also report, had the fields passed: a single service's
    missing repository is reported with the rest, not after they are fixed."""
    pipeline = data.get("pipeline")
    has_repository = isinstance(pipeline, dict) and "repository" in pipeline
    reported = any(tuple(problem.path[:2]) == MISSING_REPOSITORY[0] for problem in found)
    if data.get("services") is not None or has_repository or reported:
        return []
    return [Problem(*MISSING_REPOSITORY)]


def _read(path: Path, source: str) -> str:
    try:
        if path.is_dir():
            raise ConfigError(source, [Problem((), "is a folder, not a file", "name a .yaml file")])
        with path.open("rb") as file:
            # One byte past the limit is enough to know the file is too large.
            data = file.read(yaml_safety.MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            source, [Problem((), "file not found", f"create it or pick one of: {', '.join(shipped_environments())}")]
        ) from None
    except OSError as error:
        raise ConfigError(
            source, [Problem((), f"cannot be read ({error.strerror or error})", "check the path and its permissions")]
        ) from None
    try:
        return yaml_safety.decode(data)
    except yaml_safety.YamlProblem as problem:
        raise ConfigError(source, [Problem((), problem.message, problem.fix)]) from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml_safety.parse(text)
    except yaml_safety.YamlProblem as problem:
        raise ConfigError(source, [Problem((), problem.message, problem.fix)]) from None
    if data is None:
        raise ConfigError(source, [Problem((), "the file is empty", "start from a copy of config/dev.yaml")])
    if not isinstance(data, dict):
        raise ConfigError(
            source,
            [
                Problem(
                    (),
                    f"the top level must be a mapping of sections, not {messages.kind_of(data)}",
                    "start from a copy of config/dev.yaml",
                    data,
                )
            ],
        )
    return data
