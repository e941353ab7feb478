"""HTTP API: health, readiness, version, and a small notes resource backed by PostgreSQL.

APP_ROLE chooses what else it serves (each role with its own database, DB_NAME):
- ``api`` (the default): the notes resource at /notes;
- ``web``: the same resource, and at / an HTML page of the newest notes;
- ``worker``: nothing public; the resource at /internal/notes, for the services that call it.
Readiness, version, the request guard, error handling, logs and the SIGTERM drain are the same for
every role. With APP_PATH_PREFIX (e.g. /v1) every route lives under it, and /health, /ready and
/version are also served at the root, where the target groups' health check calls them.

Client input never makes it answer 5xx: every request is checked (service.validation) and every
refusal is a 4xx with a JSON body ``{"error": "..."}``. A 5xx means the service or its database
is at fault: 503 while the database is unavailable, read-only or not yet migrated; 500 for a bug.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from service import db, validation
from service.middleware import RequestGuard
from service.settings import Settings
from service.validation import Invalid

log = logging.getLogger("service.api")

#: Where each role serves the notes resource (below APP_PATH_PREFIX).
NOTES_PATH = {"api": "/notes", "web": "/notes", "worker": "/internal/notes"}
#: The web role's page: no script, no style sheet, nothing loaded from elsewhere (the CSP says so
#: to the browser too); every value in it is escaped.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Notes</title></head>
<body><h1>Notes</h1><ul>{items}</ul><p>version {version} ({colour})</p></body></html>
"""
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class State:
    """What the handlers share: the settings, the pool, and whether the process is draining."""

    def __init__(self, settings: Settings, pool: AsyncConnectionPool | None = None) -> None:
        self.settings = settings
        self.pool = pool or db.create_pool(settings)
        self.draining = False
        self.required_schema = db.required_schema_version()


def _note(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].isoformat()}


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Invalid)
    return _error(exc.message, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (unknown path 404, method 405), as JSON like every other error.
    assert isinstance(exc, HTTPException)
    return _error(str(exc.detail).lower(), exc.status_code, dict(exc.headers or {}))


async def _bad_value(request: Request, exc: Exception) -> Response:
    # Validation runs first; this is the safety net for a value PostgreSQL still refuses.
    log.warning("database refused a value", extra={"sqlstate": getattr(exc, "sqlstate", None)}, exc_info=True)
    return _error("a value was refused by the database", 400)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return _error("the database is read-only (a standby replica): writes are refused", 503)
    log.warning("database unavailable", exc_info=True)
    return _error("database unavailable", 503, {"Retry-After": "5"})


def create_app(settings: Settings, pool: AsyncConnectionPool | None = None) -> Starlette:
    state = State(settings, pool)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Do not wait for the database: the task starts, /ready says why it is not ready
        # (database unreachable, schema not migrated yet) and turns 200 when it is.
        await state.pool.open(wait=False)
        log.info(
            "serving",
            extra={
                "version": settings.version, "colour": settings.colour, "role": settings.role,
                "path_prefix": settings.path_prefix, "schema_required": state.required_schema,
            },
        )  # fmt: skip
        try:
            yield
        finally:
            await state.pool.close()
            log.info("database pool closed")

    async def health(request: Request) -> Response:
        # Liveness only: no dependencies, so a database outage never restarts healthy tasks.
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        if state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        required = state.required_schema
        try:
            async with state.pool.connection(timeout=2) as connection:
                cursor = await connection.execute(db.SCHEMA_VERSION)
                row = await cursor.fetchone()
        except errors.UndefinedTable:
            return JSONResponse({"status": "schema not migrated", "required": required}, status_code=503)
        except Exception:
            log.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        schema = row[0] if row else None
        if schema is None or schema < required:
            # Green waits here until service.migrate has run: it never serves an older schema.
            body = {"status": "schema outdated", "schema": schema, "required": required}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "schema": schema})

    async def version(request: Request) -> Response:
        return JSONResponse(
            {"version": settings.version, "commit": settings.commit, "colour": settings.colour, "role": settings.role}
        )

    async def create_note(request: Request) -> Response:
        validation.check_content_type(request.headers.get("content-type"))
        note = validation.new_note(validation.parse_json(await request.body()))
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.INSERT_NOTE, (note.title, note.body, note.tags))
            row = await cursor.fetchone()
        assert row is not None
        return JSONResponse(_note(row), status_code=201)

    async def list_notes(request: Request) -> Response:
        limit = validation.list_limit(request.query_params.get("limit"))
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.LIST_NOTES, (limit,))
            rows = await cursor.fetchall()
        return JSONResponse({"notes": [_note(r) for r in rows]})

    async def get_note(request: Request) -> Response:
        note_id = validation.note_id(request.path_params["note_id"])
        if note_id is None:
            return _error("not found", 404)
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.GET_NOTE, (note_id,))
            row = await cursor.fetchone()
        if row is None:
            return _error("not found", 404)
        return JSONResponse(_note(row))

    async def page(request: Request) -> Response:
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.LIST_NOTES, (validation.DEFAULT_LIST,))
            rows = await cursor.fetchall()
        items = "".join(f"<li>{html.escape(row['title'])}</li>" for row in rows)
        body = PAGE.format(items=items, version=html.escape(settings.version), colour=html.escape(settings.colour))
        return HTMLResponse(body, headers=PAGE_HEADERS)

    prefix, notes = settings.path_prefix, NOTES_PATH[settings.role]
    operational = [Route("/health", health), Route("/ready", ready), Route("/version", version)]
    routes = [
        *operational,
        *(Route(prefix + route.path, route.endpoint) for route in operational if prefix),
        Route(f"{prefix}{notes}", create_note, methods=["POST"]),
        Route(f"{prefix}{notes}", list_notes, methods=["GET"]),
        Route(f"{prefix}{notes}/{{note_id}}", get_note),
    ]
    if settings.role == "web":
        routes.append(Route(f"{prefix}/", page))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestGuard)],
        exception_handlers={
            Invalid: _refused,
            HTTPException: _http_error,
            errors.DataError: _bad_value,
            errors.IntegrityError: _bad_value,
            errors.ReadOnlySqlTransaction: _database_unavailable,
            psycopg.OperationalError: _database_unavailable,
        },
    )
    # /notes/ is not /notes: a 404 with a JSON error, never a redirect built from the Host header.
    app.router.redirect_slashes = False
    app.state.service = state
    return app
