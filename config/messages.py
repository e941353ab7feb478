"""Pydantic's validation errors, said as the project says problems: key path, what, value, fix.

Pydantic's own wording ("Input should be a valid dictionary or instance of DatabaseConfig") and
its regular expressions never reach the user. Each error is explained from the field it happened
in (its type, bounds, allowed values and format, all declared once in config/schema.py), with a
concrete fix: the allowed values, the nearest valid one, or a value to copy.
"""

from __future__ import annotations

import difflib
import ipaddress
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from config.formats import FORMATS
from config.problems import RULE_ERROR_TYPE, Problem
from config.schema import EnvironmentConfig

Loc = tuple[str | int, ...]


def problems(error: ValidationError) -> Iterator[Problem]:
    for detail in error.errors(include_url=False):
        raw = tuple(detail["loc"])
        loc, _ = walk(raw)
        if detail["type"] == RULE_ERROR_TYPE:
            for problem in (detail.get("ctx") or {})["problems"]:
                yield problem.under(loc)
        elif detail["type"] == "extra_forbidden":
            yield _unknown_key(raw, detail)
        elif detail["type"] == "missing":
            field, item = field_at(raw)
            yield Problem(loc, *explain(detail, field, item))
        else:
            field, item = field_at(raw)
            yield Problem(loc, *explain(detail, field, item), detail.get("input"))


# --- where an error is ---


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (through Optional, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> object:
    field = model.model_fields.get("type")
    return get_args(field.annotation)[0] if field is not None and get_args(field.annotation) else None


def _is_collection(annotation: Any) -> bool:
    """Whether a field holds its models in a list or mapping (the error path then has an index or key first)."""
    return get_origin(_strip_optional(annotation)) in (tuple, list, dict)


def _enter(field: FieldInfo, loc: Loc, index: int) -> tuple[type[BaseModel] | None, int, Loc]:
    """Step into ``field`` at ``loc[index]``: the model the path continues in, where it continues, and the
    parts the user wrote on the way (an item's index or key, never the union tag Pydantic inserts)."""
    members = _models_in(field.annotation)
    written: Loc = ()
    if _is_collection(field.annotation) and index < len(loc):
        written, index = (loc[index],), index + 1  # e.g. schedules.0, grants.0, services.api
    tagged = [m for m in members if index < len(loc) and _tag(m) == loc[index]]
    if len(members) > 1 and tagged:
        return tagged[0], index + 1, written  # skip the tag
    return (members[0] if len(members) == 1 else None), index, written


def walk(loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
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
        model, index, written = _enter(model.model_fields[str(part)], loc, index)
        shown += written
    return tuple(shown), model


def field_at(loc: Loc) -> tuple[FieldInfo | None, bool]:
    """The field an error is in, and whether it is in one item of that field (a list or mapping)."""
    model: type[BaseModel] | None = EnvironmentConfig
    field: FieldInfo | None = None
    item = False
    index = 0
    while index < len(loc):
        part = loc[index]
        index += 1
        if model is not None and isinstance(part, str) and part in model.model_fields:
            field = model.model_fields[part]
            model, index, written = _enter(field, loc, index)
            item = bool(written)
        elif field is not None:
            item = True
    return field, item


def _unknown_key(raw: Loc, detail: ErrorDetails) -> Problem:
    loc, _ = walk(raw)
    _, parent = walk(raw[:-1])
    allowed = list(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return Problem(
        loc, "is not a known key", f"{hint}remove it or use one of: {', '.join(allowed)}", detail.get("input")
    )


# --- what a field accepts, in words ---


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low: Any = None
    high: Any = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low = item.gt
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high = item.lt
    return low, high


def _pattern(metadata: list[Any]) -> str | None:
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if low is not None:
        return f" of {_number(low)} or more"
    if high is not None:
        return f" of at most {_number(high)}"
    return ""


def _number(value: float) -> str:
    return f"{value:,}".replace(",", "_") if isinstance(value, int) and abs(value) >= 100_000 else f"{value:g}"


def describe(annotation: Any, metadata: list[Any] | None = None) -> str:
    """What a value of ``annotation`` looks like, in words ("a whole number from 1 to 65535")."""
    metadata = list(metadata or [])
    annotation = _strip_optional(annotation)
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        for part in extra:
            metadata += list(getattr(part, "metadata", [part]))
        return describe(base, metadata)
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "a whole number" + _range_words(*_bounds(metadata))
    if annotation is float:
        return "a number" + _range_words(*_bounds(metadata))
    if annotation is str:
        pattern = _pattern(metadata)
        if pattern in FORMATS:
            return FORMATS[pattern].rule.removeprefix("must be ")
        return "text"
    if annotation is ipaddress.IPv4Network:
        return "an IPv4 CIDR such as 10.0.0.0/16"
    models = _models_in(annotation)
    if len(models) > 1:
        return "a mapping with type: " + ", ".join(str(_tag(m)) for m in models)
    if len(models) == 1:
        return f"a mapping with keys such as {', '.join(list(models[0].model_fields)[:4])}"
    origin = get_origin(annotation)
    if origin in (tuple, list):
        return f"a list of {_plural(describe(get_args(annotation)[0]))}"
    if origin is dict:
        return f"a mapping of names to {_plural(describe(get_args(annotation)[1]))}"
    return "a value of the documented type (docs/configuration.md)"


def _plural(words: str) -> str:
    for single, many in (("a whole number", "whole numbers"), ("a number", "numbers"), ("an IPv4 CIDR", "IPv4 CIDRs")):
        if words.startswith(single):
            return many + words[len(single) :]
    return words.removeprefix("a ").removeprefix("an ")


def _item_annotation(field: FieldInfo) -> Any:
    annotation = _strip_optional(field.annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and args:
        return args[1]
    return annotation


def _expected(field: FieldInfo | None, item: bool) -> str:
    if field is None:
        return "the documented value (docs/configuration.md)"
    if item:
        return describe(_item_annotation(field))
    return describe(field.annotation, list(field.metadata))


def _example(field: FieldInfo | None) -> str:
    if field is None or field.is_required():
        return ""
    default = field.get_default(call_default_factory=True)
    if default is None or isinstance(default, BaseModel | dict | tuple | list):
        return ""
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    return f" (the default is {shown})"


# --- the explanation of one error ---

_YAML_READS = {
    bool: "YAML reads yes, no, on, off, true and false as true or false",
    int: "YAML reads it as a number",
    float: "YAML reads it as a number",
}


def explain(detail: ErrorDetails, field: FieldInfo | None, item: bool = False) -> tuple[str, str]:
    """(what is wrong, the fix) for one Pydantic error in ``field``."""
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    value = detail.get("input")
    expected = _expected(field, item)
    if kind == "missing":
        description = f" ({field.description.rstrip('.')})" if field is not None and field.description else ""
        return "is required", f"add it{description}: {expected}"
    if kind.startswith("value_error") or kind == "assertion_error":
        text = str(ctx.get("error", "")) or detail["msg"].removeprefix("Value error, ")
        what, _, fix = text.partition("; ")
        return what, fix or f"write {expected}"
    if kind == "literal_error":
        choices = list(get_args(_strip_optional(field.annotation))) if field is not None else []
        allowed = [str(v) for v in choices] or [str(ctx.get("expected", ""))]
        numbers = [v for v in choices if isinstance(v, int) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(choices) and isinstance(value, int | float) and not isinstance(value, bool):
            hint = f"use {min(numbers, key=lambda v: abs(v - value))}"
        else:
            close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.4)
            hint = f"use {close[0]!r}" if close else f"use {allowed[0]!r}"
        return "is not one of the allowed values", f"{hint} (allowed: {', '.join(allowed)})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        if not tags and field is not None:  # Pydantic names the tags only when one was given
            tags = [str(_tag(m)) for m in _models_in(field.annotation)]
        key = str(ctx.get("discriminator", "'type'")).strip("'")
        if kind == "union_tag_not_found":
            return f"has no {key}", f"add {key}: one of {', '.join(tags)}"
        tag = str(ctx.get("tag", ""))
        close = difflib.get_close_matches(tag, tags, n=1, cutoff=0.4)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"has {key} {tag!r}, which is not a kind this key knows", f"{hint}set {key} to one of: {', '.join(tags)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        low, high = _bounds(list(field.metadata)) if field is not None and not item else (None, None)
        bound = next(iter(ctx.values()), None)
        if kind.startswith("greater"):
            low = bound if low is None else low
            what = f"is below the minimum of {bound}" if kind == "greater_than_equal" else f"must be more than {bound}"
        else:
            high = bound if high is None else high
            what = f"is above the maximum of {bound}" if kind == "less_than_equal" else f"must be less than {bound}"
        return what, f"use a value{_range_words(low, high)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        known = FORMATS.get(pattern)
        if known is not None:
            return known.rule, known.fix(value)
        return "does not have the expected form", f"write {expected}{_example(field)}"
    if kind in ("string_too_long", "string_too_short", "too_long", "too_short"):
        limit = ctx.get("max_length", ctx.get("min_length"))
        longer = kind.endswith("too_short")
        unit = "characters" if kind.startswith("string") else "entries"
        what = f"has fewer than {limit} {unit}" if longer else f"has more than {limit} {unit}"
        return what, f"use {'at least' if longer else 'at most'} {limit} {unit}"
    if kind in ("int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "finite_number"):
        number = (
            "a whole number" if kind.startswith("int") else "a finite number" if kind == "finite_number" else "a number"
        )
        if kind == "int_from_float" and isinstance(value, float):
            lower, upper = int(value // 1), int(value // 1) + 1
            return f"is not {number}", f"use {lower} or {upper} ({expected})"
        return f"is not {number}", f"write {expected}{_example(field)}, without quotes"
    if kind in ("bool_parsing", "bool_type"):
        return "is not true or false", f"write true or false, without quotes{_example(field)}"
    if kind == "string_type":
        reads = next((why for kind_, why in _YAML_READS.items() if isinstance(value, kind_)), None)
        if hasattr(value, "isoformat"):
            reads = "YAML reads it as a date"
        if expected == "text" and field is not None and field.description and not item:
            expected = f"text ({field.description.rstrip('.')})"
        if reads is not None:
            fix = f"quote it: '{_yaml_text(value)}'" if expected.startswith("text") else f"write {expected}"
            return f"is not text ({reads})", fix
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            return "is a list, not text", f"write the one value without brackets: {value[0]}"
        return f"is {kind_of(value)}, not text", f"write {expected}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"is {kind_of(value)}, not a mapping", f"write it as `key: value` lines under it: {expected}"
    if kind in ("tuple_type", "list_type", "set_type", "iterable_type"):
        if isinstance(value, str):
            return "is text, not a list", f"put it in a list: [{value}]"
        return f"is {kind_of(value)}, not a list", f"write {expected}, e.g. [a, b] or one '- item' per line"
    if kind.startswith("ip_v4_network") or kind.startswith("ip_"):
        return "is not an IPv4 CIDR", _cidr_fix(value)
    return f"is not {expected}", f"write {expected}{_example(field)}"


def _yaml_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def kind_of(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _cidr_fix(value: object) -> str:
    """The nearest CIDR: host bits cleared, or the default prefix added."""
    text = str(value).strip()
    for candidate in (text, f"{text}/32" if "/" not in text else text):
        try:
            network = ipaddress.IPv4Network(candidate, strict=False)
        except ValueError:
            continue
        if str(network) != text:
            return f"use {str(network)!r} (a network address: the bits after the prefix are zero)"
    return "write an IPv4 CIDR such as '10.0.0.0/16' (address/prefix length)"
