"""Connection pool (as the runtime role, password or IAM token), the schema version, and the queries the API runs."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from psycopg_pool import AsyncConnectionPool

from service.settings import IamAuth, Settings

log = logging.getLogger("service.db")

INSERT_NOTE = "INSERT INTO notes (title, body, tags) VALUES (%s, %s, %s) RETURNING id, title, body, tags, created_at"
LIST_NOTES = "SELECT id, title, body, tags, created_at FROM notes ORDER BY created_at DESC, id DESC LIMIT %s"
GET_NOTE = "SELECT id, title, body, tags, created_at FROM notes WHERE id = %s"
SCHEMA_VERSION = "SELECT max(version) FROM schema_migrations"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the service, in order."""
    folder = resources.files("service") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def required_schema_version() -> int:
    """The schema this version needs: its newest migration. /ready waits for it (service.migrate applies it)."""
    return max(version for version, _, _ in migrations())


class IamTokens:
    """RDS IAM authentication tokens for one user, signed with the task role's credentials.

    A token is valid for 15 minutes and only to open a connection, so one is made for every new
    connection; there is no password to rotate, and the master password's rotation never reaches
    the service. botocore finds the credentials (the ECS task role) and refreshes them.
    """

    def __init__(self, host: str, port: int, user: str, region: str, client: Any = None) -> None:
        self.host, self.port, self.user, self.region = host, port, user, region
        self._client = client
        self._lock = threading.Lock()

    def _rds(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore.session

                self._client = botocore.session.get_session().create_client("rds", region_name=self.region)
            return self._client

    def generate(self) -> str:
        token: str = self._rds().generate_db_auth_token(
            DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=self.region
        )
        return token

    async def fresh(self) -> str:
        # Credentials may be fetched over HTTP (the ECS credentials endpoint): off the event loop.
        return await asyncio.to_thread(self.generate)


def connection_kwargs(settings: Settings, tokens: IamTokens | None = None) -> Callable[[], Awaitable[dict[str, Any]]]:
    """What the pool passes to every new connection: called per connection, so IAM tokens are always fresh."""
    auth = settings.auth
    if isinstance(auth, IamAuth):
        iam = tokens or IamTokens(settings.database.host, settings.database.port, settings.db_user, auth.region)

        async def with_token() -> dict[str, Any]:
            return {"autocommit": True, "password": await iam.fresh()}

        return with_token
    static = {"autocommit": True, "password": auth.password}

    async def with_password() -> dict[str, Any]:
        return static

    return with_password


def create_pool(settings: Settings, tokens: IamTokens | None = None) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        settings.database.conninfo(settings.db_user),
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        open=False,
        timeout=5,
        kwargs=connection_kwargs(settings, tokens),
    )
