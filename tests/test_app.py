"""The service against a real PostgreSQL: health, readiness, version, the notes API, refusals of
hostile input (always a 4xx with a JSON error), logs, settings."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from service import logs, middleware, settings, validation
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.app_support import APP, Database, ServiceProcess, start_service


@pytest.fixture(scope="module")
def service(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = start_service(
        postgres, postgres.create(), tmp_path_factory.mktemp("logs"),
        APP_VERSION="1.2.3", GIT_COMMIT="abc123", DEPLOYMENT_COLOUR="green",
    )  # fmt: skip
    yield running
    assert running.stop() == 0


def test_health_has_no_dependencies_and_ready_checks_the_schema(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "schema": 2})


def test_version_comes_from_the_build(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/version").json() == {
        "version": "1.2.3", "commit": "abc123", "colour": "green", "role": "api",
    }  # fmt: skip


def test_notes_can_be_created_listed_and_read(service: ServiceProcess) -> None:
    created = httpx.post(f"{service.url}/notes", json={"title": "deploy", "body": "blue to green", "tags": ["ops"]})
    assert created.status_code == 201
    note = created.json()
    assert (note["title"], note["body"], note["tags"]) == ("deploy", "blue to green", ["ops"])
    assert httpx.get(f"{service.url}/notes/{note['id']}").json() == note
    assert note in httpx.get(f"{service.url}/notes", params={"limit": 5}).json()["notes"]


def test_any_unicode_but_nul_and_lone_surrogates_is_stored_as_sent(service: ServiceProcess) -> None:
    title = "ünïcødé 😀 \u202e\ufeff\U0010fffd"
    created = httpx.post(f"{service.url}/notes", json={"title": title, "tags": ["😀", " "]})
    assert created.status_code == 201
    assert httpx.get(f"{service.url}/notes/{created.json()['id']}").json()["title"] == title


JSON = {"content-type": "application/json"}
HUGE = 10**30

#: Each was a 500 (or a silent mangling) before issue 12; each is now a 4xx with a JSON error.
REFUSED: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
    ("POST", "/notes", JSON, b'{"title": "a\\u0000b"}', 400),  # NUL: psycopg DataError (was 500)
    ("POST", "/notes", JSON, b'{"title": "\\ud800"}', 400),  # lone surrogate: UnicodeEncodeError (was 500)
    ("POST", "/notes", JSON, b'{"title": "ok", "body": "\\udfff"}', 400),
    ("POST", "/notes", JSON, b'{"title": "ok", "tags": ["a\\u0000"]}', 400),
    ("POST", "/notes", JSON, b'{"title": "ok", "tags": [1, {"a": []}]}', 400),  # was stored as "1", "{'a': []}"
    ("POST", "/notes", JSON, b'{"title": "ok", "tags": "ops"}', 400),
    ("POST", "/notes", JSON, b'{"title": "ok", "tags": [""]}', 400),
    ("POST", "/notes", JSON, b'{"title": "ok", "body": null}', 400),
    ("POST", "/notes", JSON, b'["title"]', 400),  # not an object (was 500: list indices)
    ("POST", "/notes", JSON, b'"title"', 400),
    ("POST", "/notes", JSON, b"null", 400),
    ("POST", "/notes", JSON, b"", 400),
    ("POST", "/notes", JSON, b'{"title": NaN}', 400),
    ("POST", "/notes", JSON, b"[" * 100_000 + b"]" * 100_000, 413),  # over the size limit
    ("POST", "/notes", JSON, b'{"title": "x", "a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", 400),  # RecursionError
    ("POST", "/notes", JSON, b'{"title": "x", "a": ' + b"[" * 17 + b"]" * 17 + b"}", 400),  # deeper than 16
    ("POST", "/notes", JSON, b'{"title": "\xff\xfe"}', 400),  # invalid UTF-8
    ("POST", "/notes", JSON, '{"title": "é"}'.encode("utf-16"), 400),
    ("POST", "/notes", JSON, b'{"title": 1' + b"0" * 5000 + b"}", 400),  # int longer than Python parses
    ("POST", "/notes", {"content-type": "text/plain"}, b'{"title": "x"}', 415),
    ("POST", "/notes", {}, b'{"title": "x"}', 415),
    ("POST", "/notes", {"content-type": "application/json; charset=latin-1"}, b'{"title": "x"}', 415),
    ("POST", "/notes", JSON, b'{"title": "' + b"x" * 201 + b'"}', 400),
    ("POST", "/notes", JSON, b'{"title": "x", "body": "' + b"x" * 10_001 + b'"}', 400),
    ("GET", f"/notes/{HUGE}", {}, None, 404),  # bigint overflow
    ("GET", f"/notes/{2**63}", {}, None, 404),
    ("GET", "/notes/-1", {}, None, 404),
    ("GET", "/notes/0", {}, None, 404),
    ("GET", "/notes/1e3", {}, None, 404),
    ("GET", "/notes/%00", {}, None, 404),
    ("GET", "/notes/%F0%9F%98%80", {}, None, 404),
    ("GET", "/notes?limit=0", {}, None, 400),
    ("GET", "/notes?limit=-5", {}, None, 400),
    ("GET", "/notes?limit=101", {}, None, 400),
    ("GET", f"/notes?limit={HUGE}", {}, None, 400),
    ("GET", "/notes?limit=" + "9" * 5000, {}, None, 400),
    ("GET", "/notes?limit=%00", {}, None, 400),
    ("GET", "/notes?limit=%D9%A3", {}, None, 400),  # an Arabic-Indic 3: int() would take it
    ("GET", "/nowhere", {}, None, 404),
    ("GET", "/notes/", {}, None, 404),  # no redirect (Starlette's would be built from the Host header)
    ("DELETE", "/notes", {}, None, 405),
    ("PUT", "/notes/1", JSON, b"{}", 405),
    ("BREW", "/health", {}, None, 405),
]


@pytest.mark.parametrize(("method", "path", "headers", "content", "status"), REFUSED)
def test_hostile_input_is_refused_with_a_json_4xx(
    service: ServiceProcess, method: str, path: str, headers: dict[str, str], content: bytes | None, status: int
) -> None:
    response = httpx.request(method, f"{service.url}{path}", headers=headers, content=content, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error, str) and error
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_a_body_over_the_limit_is_refused_before_it_is_read(service: ServiceProcess) -> None:
    """By its Content-Length alone: the server answers 413 without waiting for the body."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as connection:
        connection.sendall(
            b"POST /notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {10**12}\r\n\r\n".encode()
        )
        status_line = connection.recv(65536).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_body_is_cut_off_at_the_limit(service: ServiceProcess) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"title": "x", "body": "'
        for _ in range(1000):  # 16 MB if it were all read
            sent += 16384
            yield b"x" * 16384

    try:
        response = httpx.post(f"{service.url}/notes", content=chunks(), headers=JSON, timeout=10)
    except httpx.HTTPError:
        pytest.fail("the server must answer, not drop the connection")
    assert response.status_code == 413
    assert sent < 4 * 1024 * 1024, "the server read far more than its limit"


def test_malformed_http_never_gets_a_5xx_from_the_server(service: ServiceProcess) -> None:
    for request in (
        b"GET /notes/\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as connection:
            connection.sendall(request)
            answer = connection.recv(65536)
        status = int(answer.split(b" ", 2)[1]) if answer else None
        assert status is None or status < 500, (request[:40], answer[:80])


def test_errors_reveal_nothing(service: ServiceProcess) -> None:
    garbage = httpx.post(f"{service.url}/notes", content=b"{not json", headers=JSON)
    assert garbage.status_code == 400
    assert garbage.json() == {"error": "the body is not valid JSON"}


def test_every_request_is_logged_with_method_path_status_and_duration(service: ServiceProcess) -> None:
    httpx.get(f"{service.url}/health")
    httpx.post(f"{service.url}/notes", headers=JSON, content=b'{"title": "\\u0000"}')
    httpx.get(f"{service.url}/nowhere")
    httpx.post(f"{service.url}/notes", headers=JSON, content=b"x" * (middleware.MAX_BODY_BYTES + 1))
    requests = [e for e in service.logs() if e["message"] == "request"]
    for path, status in (("/health", 200), ("/notes", 400), ("/nowhere", 404), ("/notes", 413)):
        assert any(e["path"] == path and e["status"] == status for e in requests), (path, status)
    assert all({"method", "path", "status", "duration_ms"} <= set(e) for e in requests)
    assert not [e for e in service.logs() if e["level"] == "error"]


def test_logs_are_json_lines_without_secrets(service: ServiceProcess, postgres: Database) -> None:
    httpx.get(f"{service.url}/health")
    entries = service.logs()
    assert all({"time", "level", "message"} <= set(e) for e in entries)
    raw = service.log_file.read_text()
    assert "runtime-password" not in raw and '"password"' not in raw


# --- The access log and the body limit, in process: a crash is logged with its status ---


async def _crashing(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] == "/late":
        await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("a bug")


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await JSONResponse({"bytes": len(body)})(scope, receive, send)


def _requests(app: ASGIApp, *calls: tuple[str, str, bytes]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return [await client.request(m, p, content=c) for m, p, c in calls]

    return asyncio.run(go())


def test_a_crash_is_answered_500_and_logged_with_status_500(caplog: pytest.LogCaptureFixture) -> None:
    """Under BaseHTTPMiddleware a crash was logged without a status: the 5xx metric filter
    ({ $.status >= 500 }) never counted it."""
    with caplog.at_level(logging.INFO, logger="service.api"):
        (response,) = _requests(middleware.RequestGuard(_crashing), ("POST", "/notes", b"{}"))
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    (record,) = [r for r in caplog.records if r.getMessage() == "request failed"]
    entry = json.loads(logs.JsonFormatter().format(record))
    assert (entry["status"], entry["method"], entry["path"]) == (500, "POST", "/notes")
    assert "duration_ms" in entry and "RuntimeError: a bug" in entry["exception"]


def test_a_crash_after_the_response_started_is_still_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.api"):
        # The response is cut short: the exception goes on to the server, which drops the connection.
        _requests(middleware.RequestGuard(_crashing), ("GET", "/late", b""))
    (record,) = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert (record.__dict__["status"], record.__dict__["status_sent"]) == (500, 200)


def test_a_path_with_a_control_character_is_not_found_even_where_a_route_would_match_before_it() -> None:
    """Starlette's route patterns end in "$", which matches before a final newline: without the
    guard "/%0A" is served as "/" (the control: the echo app answers any path)."""
    guard = middleware.RequestGuard(_echo)
    newline, nul, delete, plain = _requests(
        guard, ("GET", "/%0A", b""), ("GET", "/notes%00", b""), ("GET", "/a%7Fb", b""), ("GET", "/", b"")
    )
    assert [r.status_code for r in (newline, nul, delete)] == [404, 404, 404]
    assert newline.json() == {"error": "not found"}
    assert plain.status_code == 200


def test_the_body_limit_holds_with_and_without_content_length(caplog: pytest.LogCaptureFixture) -> None:
    guard = middleware.RequestGuard(_echo, max_body_bytes=10)
    small, large = _requests(guard, ("POST", "/", b"x" * 10), ("POST", "/", b"x" * 11))
    assert small.json() == {"bytes": 10}
    assert (large.status_code, large.json()) == (413, {"error": "request body larger than 10 bytes"})

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 4

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post("/", content=chunked())  # no Content-Length

    assert asyncio.run(go()).status_code == 413


# --- Validation rules, directly ---


def test_json_depth_is_measured_outside_strings() -> None:
    brackets = "[" * 48 + "{" * 48
    assert validation.parse_json(json.dumps({"a": brackets}).encode()) == {"a": brackets}
    assert validation.parse_json(b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": '"' + "[" * 24}
    nested = b"[" * validation.MAX_JSON_DEPTH + b"]" * validation.MAX_JSON_DEPTH
    assert validation.parse_json(nested)
    with pytest.raises(validation.Invalid, match="nested deeper"):
        validation.parse_json(b"[" + nested + b"]")


def test_tags_accept_only_short_strings() -> None:
    assert validation.new_note({"title": "t", "tags": ["a", "b c"]}).tags == ["a", "b c"]
    for tags in ([1], [None], [["a"]], [{"a": 1}], ["x" * 51], [""], ["a"] * 21, "a", {"a": 1}, None):
        with pytest.raises(validation.Invalid):
            validation.new_note({"title": "t", "tags": tags})


# --- Readiness follows the schema: green is never ready before its migration ran ---


def test_ready_is_503_until_the_migration_ran(postgres: Database, database: str, tmp_path: Path) -> None:
    with psycopg.connect(postgres.as_master(database), autocommit=True) as master:
        master.execute(f'CREATE ROLE "{postgres.runtime_role(database)}" LOGIN')  # so it can log in early
    service = start_service(postgres, database, tmp_path, migrated=False, ready=False)
    try:
        before = httpx.get(f"{service.url}/ready")
        assert (before.status_code, before.json()["status"]) == (503, "schema not migrated")
        postgres.migrate(database)
        after = httpx.get(f"{service.url}/ready")
        assert (after.status_code, after.json()) == (200, {"status": "ready", "schema": 2})
    finally:
        assert service.stop() == 0


def test_ready_is_503_while_the_schema_is_older_than_this_version_needs(
    postgres: Database, database: str, tmp_path: Path
) -> None:
    service = start_service(postgres, database, tmp_path)
    try:
        with psycopg.connect(postgres.conninfo(database), autocommit=True) as admin:
            admin.execute("DELETE FROM schema_migrations WHERE version = 2")
        response = httpx.get(f"{service.url}/ready")
        assert (response.status_code, response.json()) == (
            503,
            {"status": "schema outdated", "schema": 1, "required": 2},
        )
    finally:
        assert service.stop() == 0


def test_the_service_starts_without_its_database_and_is_not_ready(postgres: Database, tmp_path: Path) -> None:
    """It never migrates, and does not wait for the database: /ready says why it is not ready."""
    service = start_service(postgres, "no_such_database", tmp_path, migrated=False, ready=False)
    try:
        response = httpx.get(f"{service.url}/ready", timeout=10)
        assert (response.status_code, response.json()) == (503, {"status": "database unavailable"})
        assert httpx.get(f"{service.url}/health").status_code == 200
    finally:
        assert service.stop() == 0


def test_a_read_only_replica_serves_reads(postgres: Database, tmp_path: Path) -> None:
    """The DR region's warm standby: its database replicates the primary and refuses writes until
    promoted; the service must still start, be ready and read (tests/test_dr.py: its wiring)."""
    name = postgres.create()
    primary = start_service(postgres, name, tmp_path)
    created = httpx.post(f"{primary.url}/notes", json={"title": "written before the failover"}).json()
    assert primary.stop() == 0
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    replica = start_service(postgres, name, tmp_path)  # its migration task finds a replica: skipped
    try:
        assert httpx.get(f"{replica.url}/ready").status_code == 200
        assert httpx.get(f"{replica.url}/notes/{created['id']}").json() == created
        refused = httpx.post(f"{replica.url}/notes", json={"title": "no writes yet"})
        assert refused.status_code == 503 and "read-only" in refused.json()["error"]
    finally:
        assert replica.stop() == 0


# --- Settings ---

BASE = {"PORT": "8080", "DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app", "DB_USER": "app_user",
        "DB_AUTH": "password", "DB_PASSWORD": "hunter2", "DB_SSLMODE": "require"}  # fmt: skip


def test_settings_refuse_missing_or_malformed_values_without_echoing_secrets() -> None:
    assert settings.load(BASE).auth == settings.PasswordAuth("hunter2")
    with pytest.raises(settings.SettingsError, match="DB_HOST is not set"):
        settings.load({k: v for k, v in BASE.items() if k != "DB_HOST"})
    with pytest.raises(settings.SettingsError, match="DB_PASSWORD is not set"):
        settings.load({k: v for k, v in BASE.items() if k != "DB_PASSWORD"})
    with pytest.raises(settings.SettingsError, match="PORT must be a number"):
        settings.load({**BASE, "PORT": "eighty"})
    with pytest.raises(settings.SettingsError, match="DB_USER must be"):
        settings.load({**BASE, "DB_USER": 'x"; DROP TABLE notes'})
    secret = {"DB_SECRET": '{"password": "hunter2"}', **{k: BASE[k] for k in ("DB_HOST", "DB_PORT", "DB_NAME")}}
    with pytest.raises(settings.SettingsError) as caught:
        settings.load_migration(secret)
    assert "hunter2" not in str(caught.value)


def test_tls_verifies_the_database_certificate_by_default() -> None:
    env = {k: v for k, v in BASE.items() if k != "DB_SSLMODE"}
    with pytest.raises(settings.SettingsError, match="verify-full needs the CA bundle"):
        settings.load(env)  # the image's bundle is not on this machine
    bundle = APP / "certs" / "rds-global-bundle.pem"
    database = settings.load({**env, "DB_SSLROOTCERT": str(bundle)}).database
    assert (database.sslmode, database.sslrootcert) == ("verify-full", str(bundle))
    conninfo = psycopg.conninfo.conninfo_to_dict(database.conninfo("app_user"))
    assert conninfo["sslmode"] == "verify-full" and conninfo["sslrootcert"] == str(bundle)
    assert settings.DEFAULT_SSLROOTCERT == "/srv/certs/rds-global-bundle.pem"


def test_iam_authentication_needs_a_region_and_tls() -> None:
    iam = {**BASE, "DB_AUTH": "iam", "AWS_REGION": "eu-west-1"}
    del iam["DB_PASSWORD"]
    assert settings.load(iam).auth == settings.IamAuth("eu-west-1")
    assert settings.load({**BASE, "DB_AUTH": "iam", "AWS_DEFAULT_REGION": "eu-central-1"}).auth == settings.IamAuth(
        "eu-central-1"
    )
    with pytest.raises(settings.SettingsError, match="AWS_REGION"):
        settings.load({**BASE, "DB_AUTH": "iam"})
    with pytest.raises(settings.SettingsError, match="needs TLS"):
        settings.load({**iam, "DB_SSLMODE": "prefer"})
    with pytest.raises(settings.SettingsError, match="DB_AUTH must be"):
        settings.load({**BASE, "DB_AUTH": "trust"})
    assert settings.load({k: v for k, v in iam.items() if k != "DB_AUTH"}).auth == settings.IamAuth("eu-west-1")


def test_service_refuses_to_start_without_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.server"], env={"PYTHONPATH": str(APP), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "configuration error:" in result.stderr and "is not set" in result.stderr
