"""What the API accepts from clients, checked before anything reaches the database.

Everything a client sends is refused with a 4xx and a JSON error when it is not what the API
documents (app/README.md), so no input can make the service answer 5xx.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: Deepest nesting of arrays and objects accepted in a JSON body (a note needs 2). Checked before
#: parsing, so a deeply nested body never reaches the recursive parser.
MAX_JSON_DEPTH = 16
#: A note: title 1 to 200 characters (as the table's CHECK), body up to 10,000, at most 20 tags of 1 to 50.
MAX_TITLE = 200
MAX_NOTE_BODY = 10_000
MAX_TAGS = 20
MAX_TAG = 50
#: GET /notes?limit=N: 1 to 100 (default 20).
MAX_LIST = 100
DEFAULT_LIST = 20
#: The notes' ids are PostgreSQL bigint.
MAX_ID = 2**63 - 1

_STRUCTURE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class Invalid(Exception):
    """Client input the API refuses; ``status`` is the 4xx to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class NewNote:
    title: str
    body: str
    tags: list[str]


def check_content_type(header: str | None) -> None:
    """Only JSON in UTF-8 (RFC 8259) is accepted."""
    media, *parameters = (header or "").split(";")
    if media.strip().lower() != "application/json":
        raise Invalid("send the note as JSON with Content-Type: application/json", 415)
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Invalid("JSON must be encoded in UTF-8", 415)


def _depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings, in one linear scan."""
    depth = deepest = 0
    in_string = False
    for match in _STRUCTURE.finditer(text):
        symbol = match.group()
        if symbol == '"':
            in_string = not in_string
        elif in_string or symbol[0] == "\\":
            continue
        elif symbol in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the body is not valid UTF-8") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise Invalid(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Invalid("the body is not valid JSON") from None


def _text(value: Any, field: str, shortest: int, longest: int) -> str:
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise Invalid(f"{field} must be a string of {shortest} to {longest} characters")
    if "\x00" in value:
        raise Invalid(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{field} must be valid Unicode (no unpaired surrogates)") from None
    return value


def new_note(payload: Any) -> NewNote:
    if not isinstance(payload, dict):
        raise Invalid('send a JSON object: {"title": "...", "body": "...", "tags": ["..."]}')
    if "title" not in payload:
        raise Invalid("title is required")
    title = _text(payload["title"], "title", 1, MAX_TITLE)
    body = _text(payload.get("body", ""), "body", 0, MAX_NOTE_BODY)
    tags = payload.get("tags", [])
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise Invalid(f"tags must be a list of at most {MAX_TAGS} strings")
    return NewNote(title, body, [_text(tag, "each tag", 1, MAX_TAG) for tag in tags])


def list_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIST
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIST):
        raise Invalid(f"limit must be a whole number from 1 to {MAX_LIST}")
    return int(raw)


def note_id(raw: str) -> int | None:
    """The id in /notes/{id}, or None when no note can have it (not a positive bigint)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
