"""What the AWS APIs themselves declare about the values this stack sends them.

botocore ships every service's API model as data: each request member's shape carries its
minimum and maximum length, its pattern and its allowed values. The stack's values are checked
against the shapes of the calls that will receive them (``RoleName`` of ``iam:CreateRole``,
``name`` of ``codebuild:CreateProject``, ...), so those rules are read from AWS, not re-typed.
Many members are declared as plain strings (the ELB, RDS, ECS, S3 and SNS names among them):
their rules are written by hand in config/aws_names.py, each citing AWS's documentation.

Loading the twenty-odd models involved takes about 0.4 s, most of ``--check``'s budget, so the
shapes of exactly the members checked are extracted once into config/data/aws_shapes.json
(``python -m tools.harness.aws_shapes``, with the botocore version they come from); a test keeps the
extract equal to what botocore's models say. A member missing from it is read from botocore.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import regex

#: The call and member (dotted, through structures and lists) each checked value is sent as.
Member = tuple[str, str]


@dataclass(frozen=True)
class Shape:
    """The constraints one request member's shape declares (None: not declared)."""

    service: str
    member: str
    name: str
    type: str
    min: int | None
    max: int | None
    pattern: str | None
    enum: tuple[str, ...] | None

    def matches(self, value: str) -> bool:
        compiled = _compile(self.pattern) if self.pattern else None
        # AWS validates a member against its whole pattern (the models' patterns are written
        # unanchored, Java style), so a value must match from its first character to its last.
        return compiled is None or compiled.fullmatch(value) is not None

    def problems(self, value: str) -> list[str]:
        """What is wrong with ``value`` for this member, in words (empty: nothing)."""
        found = []
        if self.min is not None and len(value) < self.min:
            found.append(f"is {len(value)} characters long, under the {self.min} AWS requires")
        if self.max is not None and len(value) > self.max:
            found.append(f"is {len(value)} characters long, over AWS's {self.max}")
        if self.enum is not None and value not in self.enum:
            found.append(f"is not one of {', '.join(self.enum)}")
        if not self.matches(value):
            found.append("has characters or a form AWS does not accept")
        return found


EXTRACT = Path(__file__).resolve().parent / "data" / "aws_shapes.json"


@functools.cache
def _model(service: str) -> dict[str, Any]:
    import botocore.loaders  # a tenth of a second; only when a shape is not in the extract

    model: dict[str, Any] = botocore.loaders.Loader().load_service_model(service, "service-2")
    return model


@functools.cache
def _extract() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(EXTRACT.read_text())["shapes"] if EXTRACT.exists() else {}
    return data


def shape(service: str, member: str) -> Shape:
    """The shape of ``Operation.member.member...`` in ``service``'s model (lists step into their items)."""
    stored = _extract().get(f"{service}:{member}")
    if stored is not None:
        return Shape(service=service, member=member, **{**stored, "enum": _enum(stored.get("enum"))})
    return model_shape(service, member)


def _enum(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def model_shape(service: str, member: str) -> Shape:
    """The shape as botocore's model declares it (what the extract is made from)."""
    model = _model(service)
    operation, *path = member.split(".")
    name = model["operations"][operation]["input"]["shape"]
    spec = model["shapes"][name]
    for part in path:
        name = spec["members"][part]["shape"]
        spec = model["shapes"][name]
        while spec.get("type") == "list":
            name = spec["member"]["shape"]
            spec = model["shapes"][name]
    return Shape(
        service=service,
        member=member,
        name=name,
        type=spec.get("type", "string"),
        min=spec.get("min"),
        max=spec.get("max"),
        pattern=spec.get("pattern"),
        enum=tuple(spec["enum"]) if "enum" in spec else None,
    )


_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def _java_to_python(pattern: str) -> str:
    """The few Java regular-expression forms the models use that Python's ``regex`` spells differently."""

    def code_point(match: re.Match[str]) -> str:
        high, low = int(match[1], 16), int(match[2], 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"

    translated = _SURROGATE_PAIR.sub(code_point, pattern)
    # Java's \w, \d, \s and \p{Print} are ASCII-only (its \p{L} and friends are Unicode, as here).
    ascii_classes = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r", "p{Print}": "\\x20-\\x7E"}
    out: list[str] = []
    inside = False
    index = 0
    while index < len(translated):
        char = translated[index]
        if char == "\\" and index + 1 < len(translated):
            escape = next((k for k in ascii_classes if translated.startswith(k, index + 1)), None)
            if escape is not None:
                body = ascii_classes[escape]
                out.append(body if inside else f"[{body}]")
                index += 1 + len(escape)
                continue
            out.append(translated[index : index + 2])
            index += 2
            continue
        if char == "[" and not inside:
            inside = True
        elif char == "]" and inside:
            inside = False
        out.append(char)
        index += 1
    return "".join(out)


@functools.cache
def _compile(pattern: str) -> regex.Pattern[str]:
    return regex.compile(_java_to_python(pattern), regex.V0)


def check(value: str, member: Member) -> list[str]:
    """Problems of ``value`` as the request member ``member`` = (service, Operation.member)."""
    return shape(*member).problems(value)


def extract(members: list[Member]) -> dict[str, Any]:
    """The stored form of ``members``' shapes, from botocore's models."""
    import botocore

    shapes = {}
    for service, member in sorted(set(members)):
        stored = asdict(model_shape(service, member))
        del stored["service"], stored["member"]
        shapes[f"{service}:{member}"] = stored
    return {
        "source": f"botocore {botocore.__version__} service models (data/<service>/*/service-2.json)",
        "shapes": shapes,
    }
