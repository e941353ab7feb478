"""HTTP fuzz of every API route against the real service process and a real PostgreSQL.

Hostile strings (NUL, lone surrogates, bidi and BOM characters, invalid UTF-8), huge and deeply
nested bodies, chunked bodies, wrong types, wrong Content-Types, random paths, query parameters
and methods: no response is ever 5xx, and each is a well-formed 2xx or 4xx (a 4xx always with
a JSON error). An outsider who can reach the service cannot make it answer 5xx, so cannot push
the rollback alarms (issue 12). Bounded: 2,000 requests (500 per property), about 15 s here.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service.middleware import MAX_BODY_BYTES
from service.validation import MAX_JSON_DEPTH

from tests.app_support import Database, ServiceProcess, start_service

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
SENT: Counter[str] = Counter()
STARTED = time.monotonic()

# --- What a hostile client sends ---

NASTY = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\ud83d", "\u202e", "\ufeff", "\uffff", "\U0010ffff", "😀", "\\", '"', "%", "\n"]
)
#: Any code point, surrogates included (Hypothesis leaves them out by default), salted with the nasty ones.
HOSTILE_TEXT = st.lists(st.one_of(st.characters(blacklist_categories=()), NASTY), max_size=40).map("".join)
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(), HOSTILE_TEXT
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)
FIELD = st.one_of(HOSTILE_TEXT, JSON_VALUE, st.text(min_size=1, max_size=30))


@st.composite
def note_payloads(draw: st.DrawFn) -> Any:
    payload: dict[str, Any] = {}
    for key, values in (
        ("title", FIELD),
        ("body", FIELD),
        ("tags", st.one_of(st.lists(FIELD, max_size=25), JSON_VALUE)),
    ):
        if draw(st.booleans()):
            payload[key] = draw(values)
    if draw(st.booleans()):
        payload[draw(HOSTILE_TEXT)] = draw(JSON_VALUE)
    return payload


def encode(value: Any, ascii_only: bool) -> bytes:
    # Unescaped lone surrogates come out as invalid UTF-8: hostile too.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["note", "note", "note", "json", "bytes", "nested", "huge", "long-field"]))
    if kind == "note":
        return encode(draw(note_payloads()), draw(st.booleans()))
    if kind == "json":
        return encode(draw(JSON_VALUE), draw(st.booleans()))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.integers(MAX_JSON_DEPTH - 2, 20_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return b'{"title": "deep", "x": ' + opener * depth + b"1" + closer * depth + b"}"
    if kind == "huge":
        return b'{"title": "' + b"x" * draw(st.integers(MAX_BODY_BYTES - 20, MAX_BODY_BYTES + 5000)) + b'"}'
    field = draw(st.sampled_from(["title", "body"]))
    return json.dumps({"title": "t", field: "y" * draw(st.integers(150, 12_000))}).encode()


CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON; Charset=UTF8",
            "application/json; charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.none(),
    # Any value a client can send: HTTP forbids leading and trailing whitespace in a field value
    # (RFC 9110 5.5), so httpx refuses to send one; the ALB would drop it anyway.
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40).filter(
        lambda value: value == value.strip(" \t")
    ),
)
METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW", "M-SEARCH"])
ROUTES = ["/health", "/ready", "/version", "/notes", "/notes/1", "/notes/{id}"]
QUERY = st.dictionaries(
    st.sampled_from(["limit", "id", "title", "x", "limit[]", ""]) | HOSTILE_TEXT,
    HOSTILE_TEXT | st.integers(-(2**70), 2**70).map(str),
    max_size=3,
)
NOTE_IDS = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.sampled_from(["0", "-0", "+1", "1.0", "1e3", "0x1", "9223372036854775807", "9223372036854775808", " 1"]),
    HOSTILE_TEXT.filter(bool),
)


def quoted(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def with_query(path: str, query: dict[str, str]) -> str:
    """Encoded here, so lone surrogates reach the server as the invalid UTF-8 they make."""
    if not query:
        return path
    return path + "?" + "&".join(f"{quoted(k)}={quoted(v)}" for k, v in query.items())


def content_type_header(content_type: str | None) -> dict[str, bytes]:
    return {} if content_type is None else {"content-type": content_type.encode("latin-1")}


# --- The service under fuzz, and what every answer must look like ---


@pytest.fixture(scope="module")
def service(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = start_service(postgres, postgres.create(), tmp_path_factory.mktemp("fuzz"))
    yield running
    assert running.stop() == 0
    logged = [e for e in running.logs() if e.get("message") in ("request", "request failed")]
    assert logged and all(isinstance(e.get("status"), int) for e in logged), "every request logs its status"
    crashes = [e for e in logged if e["status"] >= 500]
    assert not crashes, crashes[:3]
    print(f"\nHTTP fuzz: {sum(SENT.values())} requests in {time.monotonic() - STARTED:.1f} s, by route: {dict(SENT)}")


@pytest.fixture(scope="module")
def client(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield http


def send(client: httpx.Client, route: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    SENT[route] += 1
    try:
        return client.request(method, url, **kwargs)
    except httpx.RemoteProtocolError:
        # The server may close a connection after refusing a body it did not read; the next request reconnects.
        SENT[route] += 1
        return client.request(method, url, **kwargs)


def well_formed(response: httpx.Response, allowed: set[int]) -> Any:
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.status_code in allowed, f"{response.status_code} {response.text[:300]}"
    if response.request.method == "HEAD":
        return None
    assert response.headers.get("content-type") == "application/json", response.headers
    document = response.json()
    if response.status_code >= 400:
        assert isinstance(document, dict) and isinstance(document.get("error"), str) and document["error"]
    return document


# --- One property per route, and one for everything else ---


@FUZZ
@given(body=bodies(), content_type=CONTENT_TYPES, chunked=st.booleans(), query=QUERY)
def test_post_notes(
    client: httpx.Client, body: bytes, content_type: str | None, chunked: bool, query: dict[str, str]
) -> None:
    headers = content_type_header(content_type)
    content: bytes | Iterator[bytes] = body
    if chunked:
        content = iter([body[i : i + 4096] for i in range(0, len(body), 4096)] or [b""])
    response = send(client, "POST /notes", "POST", with_query("/notes", query), content=content, headers=headers)
    note = well_formed(response, {201, 400, 413, 415})
    if response.status_code == 201:
        assert client.get(f"/notes/{note['id']}").json() == note


@FUZZ
@given(note_id=NOTE_IDS, query=QUERY, method=st.sampled_from(["GET", "GET", "HEAD"]))
def test_get_note(client: httpx.Client, note_id: str, query: dict[str, str], method: str) -> None:
    response = send(client, "GET /notes/{id}", method, with_query(f"/notes/{quoted(note_id)}", query))
    well_formed(response, {200, 404})


@FUZZ
@given(limit=st.one_of(HOSTILE_TEXT, st.integers(-(2**70), 2**70).map(str), st.none()), query=QUERY)
def test_list_notes(client: httpx.Client, limit: str | None, query: dict[str, str]) -> None:
    params = {**query, **({} if limit is None else {"limit": limit})}
    document = well_formed(send(client, "GET /notes", "GET", with_query("/notes", params)), {200, 400})
    if isinstance(document, dict) and "notes" in document:
        assert len(document["notes"]) <= 100


@FUZZ
@given(
    method=METHODS,
    route=st.one_of(st.sampled_from(ROUTES), HOSTILE_TEXT.map(lambda t: "/" + quoted(t))),
    suffix=st.sampled_from(["", "/", "//", "/..", "/x", "%2F", "?", "#x"]),
    query=QUERY,
    body=st.one_of(st.none(), bodies()),
    content_type=CONTENT_TYPES,
)
def test_any_method_on_any_path(
    client: httpx.Client, method: str, route: str, suffix: str, query: dict[str, str], body: bytes | None,
    content_type: str | None,
) -> None:  # fmt: skip
    path = route.replace("{id}", "1") + suffix
    response = send(
        client, "any", method, with_query(path, query), content=body, headers=content_type_header(content_type)
    )
    # (/ready is 200 here: the schema is migrated and the service is not draining.)
    well_formed(response, {200, 201, 400, 404, 405, 413, 415})
