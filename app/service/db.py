"""Connection pool, idempotent start-up migrations, and the queries the API runs."""

from __future__ import annotations

import logging
from importlib import resources

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("service.db")

#: Any fixed number: every instance (blue and green) migrating at once takes turns on it.
MIGRATION_LOCK = 7_254_019

INSERT_NOTE = "INSERT INTO notes (title, body, tags) VALUES (%s, %s, %s) RETURNING id, title, body, tags, created_at"
LIST_NOTES = "SELECT id, title, body, tags, created_at FROM notes ORDER BY created_at DESC, id DESC LIMIT %s"
GET_NOTE = "SELECT id, title, body, tags, created_at FROM notes WHERE id = %s"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the service, in order."""
    folder = resources.files("service") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(connection: AsyncConnection) -> list[str]:
    """Apply pending migrations, each in its own transaction, under an advisory lock. Idempotent.

    A read-only database (the DR region's replica of an Aurora global database, until it is
    promoted) already has the primary's schema: nothing is migrated, and the service still starts
    and reads, so a warm standby is ready the moment its database is promoted.
    """
    cursor = await connection.execute("SHOW transaction_read_only")
    row = await cursor.fetchone()
    if row is not None and row[0] == "on":
        log.info("database is read-only (a replica): migrations skipped")
        return []
    applied: list[str] = []
    async with connection.transaction():
        # Blue and green may start together: even CREATE TABLE IF NOT EXISTS races without the lock.
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    for version, name, sql in migrations():
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cursor = await connection.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,))
            if await cursor.fetchone():
                continue
            await connection.execute(sql.encode())
            await connection.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied.append(name)
            log.info("migration applied", extra={"migration": name})
    return applied


def create_pool(conninfo: str, min_size: int, max_size: int) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        conninfo, min_size=min_size, max_size=max_size, open=False, timeout=5, kwargs={"autocommit": True}
    )
