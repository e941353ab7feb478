"""HTTP API: health, readiness, version, and a small notes resource backed by PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import db
from service.settings import Settings

log = logging.getLogger("service.api")
MAX_LIST = 100


class State:
    """What the handlers share: the settings, the pool, and whether the process is draining."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = db.create_pool(settings.conninfo, settings.pool_min, settings.pool_max)
        self.draining = False


def _note(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].isoformat()}


def create_app(settings: Settings) -> Starlette:
    state = State(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.pool.open(wait=True, timeout=30)
        async with state.pool.connection() as connection:
            await db.migrate(connection)
        log.info("ready to serve", extra={"version": settings.version, "colour": settings.colour})
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
        try:
            async with state.pool.connection(timeout=2) as connection:
                await connection.execute("SELECT 1")
        except Exception:
            log.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def version(request: Request) -> Response:
        return JSONResponse({"version": settings.version, "commit": settings.commit, "colour": settings.colour})

    async def create_note(request: Request) -> Response:
        try:
            payload = await request.json()
            title, body, tags = payload["title"], payload.get("body", ""), payload.get("tags", [])
            if not isinstance(title, str) or not isinstance(body, str) or not isinstance(tags, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "send JSON with a string title, optional body and tags"}, status_code=400)
        try:
            async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(db.INSERT_NOTE, (title, body, [str(t) for t in tags]))
                row = await cursor.fetchone()
        except errors.CheckViolation:
            return JSONResponse({"error": "title must be 1 to 200 characters"}, status_code=400)
        assert row is not None
        return JSONResponse(_note(row), status_code=201)

    async def list_notes(request: Request) -> Response:
        try:
            limit = min(int(request.query_params.get("limit", "20")), MAX_LIST)
        except ValueError:
            return JSONResponse({"error": "limit must be a number"}, status_code=400)
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.LIST_NOTES, (max(limit, 1),))
            rows = await cursor.fetchall()
        return JSONResponse({"notes": [_note(r) for r in rows]})

    async def get_note(request: Request) -> Response:
        note_id = request.path_params["note_id"]
        async with state.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(db.GET_NOTE, (note_id,))
            row = await cursor.fetchone()
        if row is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(_note(row))

    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            # Log the failure with its trace; answer without internals.
            log.exception("request failed", extra={"method": request.method, "path": request.url.path})
            return JSONResponse({"error": "internal error"}, status_code=500)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/version", version),
            Route("/notes", create_note, methods=["POST"]),
            Route("/notes", list_notes, methods=["GET"]),
            Route("/notes/{note_id:int}", get_note),
        ],
        lifespan=lifespan,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=access_log)],
    )
    app.state.service = state
    return app
