"""Pure ASGI middleware around the whole app: the request body limit, and one access-log line per
request that always carries its status (a crash included, so the 5xx metric filter counts it).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it sees the status of every response as it
is sent, catches what the app raises before anything else does, and never buffers a body.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("service.api")

#: Largest request body accepted, in bytes; a larger one is refused with 413 before it is read
#: (by its Content-Length) or as soon as it grows past this (chunked, or no Content-Length).
MAX_BODY_BYTES = 64 * 1024
#: Logged paths are cut to this many characters (the path is the client's input).
MAX_LOGGED_PATH = 512
#: Logged for a request whose client went away before the response (nginx's convention; not a 5xx).
CLIENT_CLOSED = 499


#: Control characters (a decoded %00-%1F or %7F) in a request path.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BodyTooLarge(Exception):
    """The request body grew past MAX_BODY_BYTES."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses malformed lengths before the app sees them
    return None


async def _reply(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        received = 0
        too_large = f"request body larger than {self.max_body_bytes} bytes"

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        async def receiving() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        fields: dict[str, Any] = {"method": scope.get("method", ""), "path": scope.get("path", "")[:MAX_LOGGED_PATH]}
        try:
            declared = _declared_length(scope)
            if CONTROL.search(scope.get("path", "")):
                # No route has one; and Starlette's route patterns end in "$", which also matches
                # before a final newline, so "/%0A" would otherwise be served as "/".
                await _reply(sending, 404, "not found")
            elif declared is not None and declared > self.max_body_bytes:
                await _reply(sending, 413, too_large)
            else:
                await self.app(scope, receiving, sending)
        except BodyTooLarge:
            if status is None:
                await _reply(sending, 413, too_large)
        except ClientDisconnect:
            status = status or CLIENT_CLOSED
        except Exception:
            # A bug: logged with its trace and status 500 (so the 5xx metric counts it); the
            # client gets no internals.
            crashed = {**fields, "status": 500, "duration_ms": _since(started)}
            if status is None:
                log.exception("request failed", extra=crashed)
                await _reply(send, 500, "internal error")
                return
            # The response had started: the server must cut the connection, not end the body
            # as if it were whole.
            log.exception("request failed", extra={**crashed, "status_sent": status})
            raise
        if status is None:  # the app returned without answering
            status = 500
            await _reply(send, 500, "internal error")
        level = logging.ERROR if status >= 500 else logging.INFO
        log.log(level, "request", extra={**fields, "status": status, "duration_ms": _since(started)})


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
