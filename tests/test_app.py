"""The service against a real PostgreSQL: health, readiness, version, the notes API, migrations, logs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from service import db, settings

from tests.app_support import Database, ServiceProcess, start_service


@pytest.fixture(scope="module")
def service(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = start_service(
        postgres, postgres.create(), tmp_path_factory.mktemp("logs"),
        APP_VERSION="1.2.3", GIT_COMMIT="abc123", DEPLOYMENT_COLOUR="green",
    )  # fmt: skip
    yield running
    assert running.stop() == 0


def test_health_has_no_dependencies_and_ready_checks_the_database(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_version_comes_from_the_build(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/version").json() == {"version": "1.2.3", "commit": "abc123", "colour": "green"}


def test_notes_can_be_created_listed_and_read(service: ServiceProcess) -> None:
    created = httpx.post(f"{service.url}/notes", json={"title": "deploy", "body": "blue to green", "tags": ["ops"]})
    assert created.status_code == 201
    note = created.json()
    assert (note["title"], note["body"], note["tags"]) == ("deploy", "blue to green", ["ops"])
    assert httpx.get(f"{service.url}/notes/{note['id']}").json() == note
    assert note in httpx.get(f"{service.url}/notes", params={"limit": 5}).json()["notes"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [({"body": "no title"}, 400), ({"title": ""}, 400), ({"title": "x" * 201}, 400), ({"title": 5}, 400)],
)
def test_bad_notes_are_refused(service: ServiceProcess, payload: dict[str, object], status: int) -> None:
    response = httpx.post(f"{service.url}/notes", json=payload)
    assert response.status_code == status
    assert "error" in response.json()


def test_unknown_note_is_404_and_errors_reveal_nothing(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/notes/999999999").status_code == 404
    garbage = httpx.post(f"{service.url}/notes", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400
    assert "Traceback" not in garbage.text and "psycopg" not in garbage.text


def test_logs_are_json_lines_without_secrets(service: ServiceProcess, postgres: Database) -> None:
    httpx.get(f"{service.url}/health")
    entries = service.logs()
    assert any(e["message"] == "request" and e["path"] == "/health" and e["status"] == 200 for e in entries)
    assert all({"time", "level", "message"} <= set(e) for e in entries)
    raw = service.log_file.read_text()
    assert "DB_SECRET" not in raw and '"password"' not in raw


async def _migrate(conninfo: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
        return await db.migrate(connection)


def test_migrations_are_idempotent_and_safe_to_run_concurrently(postgres: Database, database: str) -> None:
    conninfo = postgres.conninfo(database)

    async def twice_at_once() -> list[list[str]]:
        return list(await asyncio.gather(_migrate(conninfo), _migrate(conninfo)))

    first, second = asyncio.run(twice_at_once())
    shipped = [name for _, name, _ in db.migrations()]
    assert sorted(first + second) == shipped, "each migration must be applied exactly once"
    assert asyncio.run(_migrate(conninfo)) == []


#: What the previous release (schema version 1) runs. Expand/contract: it must keep working
#: against the migrated schema while blue and green share the database during a deployment.
PREVIOUS_RELEASE_QUERIES = [
    ("INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING id, title, body, created_at", ("old", "v1")),
    ("SELECT id, title, body, created_at FROM notes ORDER BY created_at DESC LIMIT %s", (10,)),
    ("SELECT id, title, body, created_at FROM notes WHERE id = %s", (1,)),
]


def test_previous_release_queries_work_on_the_migrated_schema(postgres: Database, database: str) -> None:
    asyncio.run(_migrate(postgres.conninfo(database)))
    with psycopg.connect(postgres.conninfo(database), autocommit=True) as connection:
        for query, parameters in PREVIOUS_RELEASE_QUERIES:
            connection.execute(query, parameters)
        (tags,) = connection.execute("SELECT tags FROM notes WHERE title = 'old'").fetchone() or (None,)
    assert tags == []


def test_every_migration_only_expands_the_schema() -> None:
    for _, name, sql in db.migrations():
        statements = sql.upper()
        for destructive in ("DROP ", "RENAME ", "ALTER COLUMN", "TRUNCATE"):
            assert destructive not in statements, f"{name} contracts the schema ({destructive.strip()})"


def test_settings_refuse_missing_or_malformed_values_without_echoing_secrets() -> None:
    base = {"PORT": "8080", "DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app",
            "DB_SECRET": json.dumps({"username": "u", "password": "hunter2"})}  # fmt: skip
    assert settings.load(base).db_password == "hunter2"
    with pytest.raises(settings.SettingsError, match="DB_HOST is not set"):
        settings.load({k: v for k, v in base.items() if k != "DB_HOST"})
    with pytest.raises(settings.SettingsError) as caught:
        settings.load({**base, "DB_SECRET": '{"password": "hunter2"}'})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(settings.SettingsError, match="PORT must be a number"):
        settings.load({**base, "PORT": "eighty"})


def test_service_refuses_to_start_without_configuration(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.app_support import APP

    result = subprocess.run(
        [sys.executable, "-m", "service.server"], env={"PYTHONPATH": str(APP), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "configuration error: DB_SECRET" in result.stderr or "is not set" in result.stderr


def test_a_read_only_replica_serves_reads_and_skips_migrations(postgres: Database, tmp_path: Path) -> None:
    """The DR region's warm standby: its database replicates the primary and refuses writes until
    promoted; the service must still start, be ready and read (tests/test_dr.py: its wiring)."""
    name = postgres.create()
    primary = start_service(postgres, name, tmp_path)  # migrates, as the primary would
    created = httpx.post(f"{primary.url}/notes", json={"title": "written before the failover"}).json()
    assert primary.stop() == 0
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    replica = start_service(postgres, name, tmp_path)
    try:
        assert httpx.get(f"{replica.url}/ready").status_code == 200
        assert httpx.get(f"{replica.url}/notes/{created['id']}").json() == created
        assert httpx.post(f"{replica.url}/notes", json={"title": "no writes yet"}).status_code >= 500
        assert any(e.get("message") == "database is read-only (a replica): migrations skipped" for e in replica.logs())
    finally:
        assert replica.stop() == 0
