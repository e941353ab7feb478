"""Read a YAML file into a validated ``EnvironmentConfig``, or fail with every problem at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from config.problems import RULE_ERROR_TYPE, ConfigError, Problem
from config.schema import EnvironmentConfig

CONFIG_DIR = Path(__file__).resolve().parent

_FIXES = {
    "missing": "add it (config/dev.yaml shows every section)",
    "literal_error": "use one of the values listed",
    "union_tag_invalid": "use one of the expected types",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it if YAML reads it as something else)",
    "dict_type": "write a mapping of key: value pairs",
    "model_type": "write a mapping of key: value pairs",
    "model_attributes_type": "write a mapping of key: value pairs",
    "tuple_type": "write a list",
    "list_type": "write a list",
    "ip_v4_network": "write a CIDR such as 10.0.0.0/16 (host bits zero)",
    "greater_than_equal": "use a value within the allowed range",
    "less_than_equal": "use a value within the allowed range",
    "greater_than": "use a value within the allowed range",
    "less_than": "use a value within the allowed range",
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}: keep only one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def config_path(environment: str) -> Path:
    return CONFIG_DIR / f"{environment}.yaml"


def shipped_environments() -> list[str]:
    """Names of the environments with a config file in config/, sorted."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def load_config(path: Path | str) -> EnvironmentConfig:
    path = Path(path)
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            source, [Problem((), "file not found", f"create it or pick one of: {', '.join(shipped_environments())}")]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            source, [Problem((), f"cannot be read ({error})", "check the path and that the file is UTF-8 text")]
        ) from None
    data = _parse(text, source)
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, _problems(error)) from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            source, [Problem((), f"is not valid YAML: {where}{problem}", "fix the YAML syntax at that position")]
        ) from None
    if data is None:
        raise ConfigError(source, [Problem((), "the file is empty", "start from a copy of config/dev.yaml")])
    if not isinstance(data, dict):
        raise ConfigError(
            source,
            [
                Problem(
                    (),
                    f"the top level must be a mapping of sections, not a {type(data).__name__}",
                    "start from a copy of config/dev.yaml",
                    data,
                )
            ],
        )
    return data


def _problems(error: ValidationError) -> Iterator[Problem]:
    for detail in error.errors(include_url=False):
        raw = tuple(detail["loc"])
        loc, _ = _walk(raw)
        if detail["type"] == RULE_ERROR_TYPE:
            for problem in detail.get("ctx", {})["problems"]:
                yield problem.under(loc)
        elif detail["type"] == "extra_forbidden":
            yield _unknown_key(raw, detail)
        elif detail["type"] == "missing":
            yield Problem(loc, "is required", _FIXES["missing"])
        else:
            message, fix = _message_and_fix(detail)
            yield Problem(loc, message, fix, detail.get("input"))


def _unknown_key(raw: tuple[str | int, ...], detail: ErrorDetails) -> Problem:
    loc, _ = _walk(raw)
    _, parent = _walk(raw[:-1])
    allowed = list(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return Problem(
        loc, "is not a known key", f"{hint}remove it or use one of: {', '.join(allowed)}", detail.get("input")
    )


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (through Optional, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> object:
    field = model.model_fields.get("type")
    return get_args(field.annotation)[0] if field is not None and get_args(field.annotation) else None


def _walk(loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], type[BaseModel] | None]:
    """The path as the user wrote it (without Pydantic's union tags), and the model it ends in."""
    model: type[BaseModel] | None = EnvironmentConfig
    shown: list[str | int] = []
    index = 0
    while index < len(loc):
        part = loc[index]
        shown.append(part)
        index += 1
        if model is None or str(part) not in model.model_fields:
            model = None
            continue
        members = _models_in(model.model_fields[str(part)].annotation)
        tagged = [m for m in members if index < len(loc) and _tag(m) == loc[index]]
        if len(members) > 1 and tagged:
            model, index = tagged[0], index + 1  # skip the tag Pydantic inserts into the path
        else:
            model = members[0] if len(members) == 1 else None
    return tuple(shown), model


def _message_and_fix(detail: ErrorDetails) -> tuple[str, str]:
    text = detail["msg"]
    if text.startswith("Value error, "):
        # Our own validators write "what is wrong; how to fix".
        what, _, fix = text.removeprefix("Value error, ").partition("; ")
        return what, fix or "see docs for allowed values"
    if detail["type"] == "string_pattern_mismatch":
        pattern = (detail.get("ctx") or {}).get("pattern", "")
        return "has an invalid format", f"use a value matching {pattern}"
    message = re.sub(r"^Input should be", "must be", text)
    message = re.sub(r"^Input", "value", message)
    return message, _FIXES.get(detail["type"], "see README.md for allowed values")
