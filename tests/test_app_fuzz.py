"""HTTP fuzz of every API route against the real service process and a real PostgreSQL.

Hostile strings (NUL, lone surrogates, bidi and BOM characters, invalid UTF-8), huge and deeply
nested bodies, chunked bodies, wrong types, wrong Content-Types, random paths, query parameters
and methods: no response is ever 5xx, and each is a well-formed 2xx or 4xx (a 4xx always with
a JSON error). An outsider who can reach the service cannot make it answer 5xx, so cannot push
the rollback alarms (issue 12). The web and worker roles (issue 15) are fuzzed the same way on
their own routes (the web page: every stored title comes back escaped). Bounded: 2,000 requests
on the api (500 per property) and 1,500 on the other roles (250 per property), about 30 s here.
"""

from __future__ import annotations

import html
import json
import re
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
ROLE_FUZZ = settings(FUZZ, max_examples=250)
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
#: Every role's routes, and the others' (which it must answer 404).
ROLE_ROUTES = [*ROUTES, "/", "/internal/notes", "/internal/notes/{id}"]
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


JSON = {"content-type": "application/json"}


def content_type_header(content_type: str | None) -> dict[str, bytes]:
    return {} if content_type is None else {"content-type": content_type.encode("latin-1")}


# --- The service under fuzz, and what every answer must look like ---


def checked_service(
    postgres: Database, tmp_path_factory: pytest.TempPathFactory, **extra: str
) -> Iterator[ServiceProcess]:
    """The service on its own database; afterwards, every request logged with its status, no 5xx."""
    running = start_service(postgres, postgres.create(), tmp_path_factory.mktemp("fuzz"), **extra)
    yield running
    assert running.stop() == 0
    logged = [e for e in running.logs() if e.get("message") in ("request", "request failed")]
    assert logged and all(isinstance(e.get("status"), int) for e in logged), "every request logs its status"
    crashes = [e for e in logged if e["status"] >= 500]
    assert not crashes, crashes[:3]


@pytest.fixture(scope="module")
def service(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    yield from checked_service(postgres, tmp_path_factory)
    print(f"\nHTTP fuzz: {sum(SENT.values())} requests in {time.monotonic() - STARTED:.1f} s, by route: {dict(SENT)}")


@pytest.fixture(scope="module")
def client(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def web(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    for running in checked_service(postgres, tmp_path_factory, APP_ROLE="web"):
        with httpx.Client(base_url=running.url, timeout=30) as http:
            yield http


@pytest.fixture(scope="module")
def worker(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    for running in checked_service(postgres, tmp_path_factory, APP_ROLE="worker"):
        with httpx.Client(base_url=running.url, timeout=30) as http:
            yield http


def send(client: httpx.Client, route: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    SENT[route] += 1
    try:
        return client.request(method, url, **kwargs)
    except httpx.RemoteProtocolError:
        # The server may close a connection after refusing a body it did not read; the next request reconnects.
        SENT[route] += 1
        return client.request(method, url, **kwargs)


#: The web page's own markup; anything else between < and > in it would come from a note.
PAGE_MARKUP = re.compile(
    r"<!doctype html>|<html lang=\"en\">|<meta charset=\"utf-8\">|</?(head|title|body|h1|ul|li|p|html)>"
)


def sent_path(response: httpx.Response) -> str:
    """The path the server routed on: as sent (httpx merges // and dot segments and keeps the
    fragment), percent-decoded as Starlette matches it."""
    return response.request.url.path


def well_formed(response: httpx.Response, allowed: set[int], page: bool = False) -> Any:
    """A 2xx or 4xx, JSON (errors with a message); with ``page``, a 200 for / is the HTML page."""
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.status_code in allowed, f"{response.status_code} {response.text[:300]}"
    if response.request.method == "HEAD":
        return None
    if page and response.status_code == 200 and sent_path(response) == "/":
        assert response.headers.get("content-type") == "text/html; charset=utf-8", response.headers
        assert "<" not in PAGE_MARKUP.sub("", response.text), "unescaped markup in the page"
        return response.text
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


def any_request(
    client: httpx.Client, label: str, method: str, route: str, suffix: str, query: dict[str, str], body: bytes | None,
    content_type: str | None,
) -> httpx.Response:  # fmt: skip
    path = route.replace("{id}", "1") + suffix
    return send(client, label, method, with_query(path, query), content=body, headers=content_type_header(content_type))


ANY_REQUEST = {
    "method": METHODS,
    "suffix": st.sampled_from(["", "/", "//", "/..", "/x", "%2F", "?", "#x"]),
    "query": QUERY,
    "body": st.one_of(st.none(), bodies()),
    "content_type": CONTENT_TYPES,
}


@FUZZ
@given(route=st.one_of(st.sampled_from(ROUTES), HOSTILE_TEXT.map(lambda t: "/" + quoted(t))), **ANY_REQUEST)
def test_any_method_on_any_path(
    client: httpx.Client, method: str, route: str, suffix: str, query: dict[str, str], body: bytes | None,
    content_type: str | None,
) -> None:  # fmt: skip
    response = any_request(client, "any", method, route, suffix, query, body, content_type)
    # (/ready is 200 here: the schema is migrated and the service is not draining.)
    well_formed(response, {200, 201, 400, 404, 405, 413, 415})


# --- The other roles: the web page and its notes, the worker's internal resource ---


@ROLE_FUZZ
@given(title=FIELD, query=QUERY, method=st.sampled_from(["GET", "GET", "HEAD"]))
def test_web_page_shows_every_stored_title_escaped(
    web: httpx.Client, title: Any, query: dict[str, str], method: str
) -> None:
    created = send(web, "web POST /notes", "POST", "/notes", content=encode({"title": title}, False), headers=JSON)
    well_formed(created, {201, 400})
    page = well_formed(send(web, "web GET /", method, with_query("/", query)), {200}, page=True)
    if created.status_code == 201 and method == "GET":
        assert f"<li>{html.escape(title)}</li>" in page


@ROLE_FUZZ
@given(body=bodies(), content_type=CONTENT_TYPES, query=QUERY)
def test_worker_post_internal_notes(
    worker: httpx.Client, body: bytes, content_type: str | None, query: dict[str, str]
) -> None:
    path = with_query("/internal/notes", query)
    response = send(
        worker, "worker POST /internal/notes", "POST", path, content=body, headers=content_type_header(content_type)
    )
    note = well_formed(response, {201, 400, 413, 415})
    if response.status_code == 201:
        assert worker.get(f"/internal/notes/{note['id']}").json() == note


@ROLE_FUZZ
@given(note_id=NOTE_IDS, query=QUERY)
def test_worker_get_internal_note(worker: httpx.Client, note_id: str, query: dict[str, str]) -> None:
    response = send(
        worker, "worker GET /internal/notes/{id}", "GET", with_query(f"/internal/notes/{quoted(note_id)}", query)
    )
    well_formed(response, {200, 404})


@ROLE_FUZZ
@given(route=st.one_of(st.sampled_from(ROLE_ROUTES), HOSTILE_TEXT.map(lambda t: "/" + quoted(t))), **ANY_REQUEST)
def test_any_method_on_any_path_of_the_web_role(
    web: httpx.Client, method: str, route: str, suffix: str, query: dict[str, str], body: bytes | None,
    content_type: str | None,
) -> None:  # fmt: skip
    response = any_request(web, "web any", method, route, suffix, query, body, content_type)
    well_formed(response, {200, 201, 400, 404, 405, 413, 415}, page=True)


@ROLE_FUZZ
@given(route=st.one_of(st.sampled_from(ROLE_ROUTES), HOSTILE_TEXT.map(lambda t: "/" + quoted(t))), **ANY_REQUEST)
def test_any_method_on_any_path_of_the_worker_role(
    worker: httpx.Client, method: str, route: str, suffix: str, query: dict[str, str], body: bytes | None,
    content_type: str | None,
) -> None:  # fmt: skip
    response = any_request(worker, "worker any", method, route, suffix, query, body, content_type)
    # The public notes and the page are not the worker's: 404 there, whatever the method (a body
    # over the limit is refused first, on every path).
    if sent_path(response) in ("/", "/notes", "/notes/1"):
        too_large = body is not None and len(body) > MAX_BODY_BYTES
        assert response.status_code == (413 if too_large else 404), response.text[:300]
    well_formed(response, {200, 201, 400, 404, 405, 413, 415})
