"""Bounded load test of green through the ALB test listener, run by CodeBuild during a deployment.

The test-traffic hook starts it after its smoke checks pass, while green serves only the test
listener; the deployment waits for the verdict (see hooks/test_traffic.py). Workers repeat the
app's real scenario (readiness, version, write a note and read it back, list notes) until the
duration is spent; the run fails when the error rate or the p99 latency exceed their budgets.
Standard library only: CodeBuild runs this file as it is, and the Lambda imports `request` from it.

Environment: TEST_URL, TEST_HOSTNAME (the name green's certificate must be valid for; empty: the
URL's host), DURATION_SECONDS, CONCURRENCY, MAX_ERROR_PERCENT, MAX_P99_MS,
REQUEST_TIMEOUT_SECONDS. Exit status 0 within budget, 1 otherwise; one JSON summary line on stdout.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any


def tls_context() -> ssl.SSLContext:
    """The system trust store, with the host name checked (as ``ssl.create_default_context()``)."""
    return ssl.create_default_context()


#: Who is calling, said plainly: urllib's default ("Python-urllib/3.x") is on common bad-bot
#: lists that the WAF's managed rules may block; the product's own checks must get through.
USER_AGENT = "bluegreen-deployment-check/1"


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the URL's host (the ALB's DNS name) but verifies the certificate for
    ``tls_name`` (the service's domain): SNI and the host-name check both use that name."""

    def __init__(self, host: str, port: int | None, timeout: float, context: ssl.SSLContext, tls_name: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls = context
        self._tls_name = tls_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # the TCP connection to host:port
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._tls_name)


#: The header the test listener routes on when several services share it (modules/load_balancer.py
#: TEST_ROUTE_HEADER): its value is the service's key; the default route's service needs none.
ROUTE_HEADER = "X-Bluegreen-Service"


def request(
    method: str,
    url: str,
    body: dict[str, Any] | None,
    timeout: float,
    tls_name: str | None = None,
    *,
    context: ssl.SSLContext | None = None,
    route: str | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON body); HTTP errors are statuses, network and TLS errors raise OSError.

    An https URL's certificate is verified for ``tls_name`` (sent as SNI and as the Host header),
    or for the URL's own host when it is None; ``context`` defaults to the system trust store.
    Plain http ignores ``tls_name``. Redirects are answers, never followed.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise OSError(f"not an http(s) URL: {url}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"not an http(s) URL: {url}")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if route:
        headers[ROUTE_HEADER] = route
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        tls = context or tls_context()
        connection = _NamedHTTPSConnection(parts.hostname, port, timeout, tls, tls_name or parts.hostname)
        if tls_name:  # the virtual host the certificate names, not the ALB's DNS name
            headers["Host"] = tls_name if port in (None, 443) else f"{tls_name}:{port}"
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = json.dumps(body).encode() if body is not None else None
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        status, payload = response.status, response.read()
    except (http.client.HTTPException, ValueError) as error:  # a malformed answer, or a name TLS refuses
        raise OSError(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        return status, None
    try:
        return status, json.loads(payload or b"null")
    except ValueError:
        raise OSError(f"answer {status} is not JSON") from None


@dataclass(frozen=True)
class Limits:
    duration_seconds: float
    concurrency: int
    max_error_percent: float
    max_p99_ms: float
    request_timeout_seconds: float = 5.0

    @classmethod
    def from_environment(cls) -> Limits:
        env = os.environ
        return cls(
            duration_seconds=float(env["DURATION_SECONDS"]),
            concurrency=int(env["CONCURRENCY"]),
            max_error_percent=float(env["MAX_ERROR_PERCENT"]),
            max_p99_ms=float(env["MAX_P99_MS"]),
            request_timeout_seconds=float(env.get("REQUEST_TIMEOUT_SECONDS", "5")),
        )


@dataclass(frozen=True)
class Summary:
    requests: int
    errors: int
    error_percent: float
    p99_ms: float
    seconds: float
    #: Why the run failed its budget; empty when it passed.
    failures: list[str]


def p99(latencies_ms: list[float]) -> float:
    """Nearest-rank 99th percentile (no interpolation: a reported p99 is a latency that happened)."""
    if not latencies_ms:
        return 0.0
    ordered = sorted(latencies_ms)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def _scenario(
    base: str,
    timeout: float,
    record: Any,
    tls_name: str | None,
    context: ssl.SSLContext | None,
    route: str | None = None,
) -> None:
    """One user's round: each step's latency and whether it met the app's contract."""

    def step(method: str, path: str, expected: int, body: dict[str, Any] | None = None) -> Any:
        started = time.perf_counter()
        try:
            status, answer = request(method, base + path, body, timeout, tls_name, context=context, route=route)
        except OSError:
            status, answer = 0, None
        record((time.perf_counter() - started) * 1000, status == expected)
        return answer if status == expected else None

    step("GET", "/ready", 200)
    step("GET", "/version", 200)
    created = step("POST", "/notes", 201, {"title": f"load test {time.time_ns()}", "body": "written by the load test"})
    if isinstance(created, dict) and "id" in created:
        step("GET", f"/notes/{created['id']}", 200)
    step("GET", "/notes", 200)


def run(
    base: str,
    limits: Limits,
    tls_name: str | None = None,
    *,
    context: ssl.SSLContext | None = None,
    route: str | None = None,
) -> Summary:
    """Every worker's requests verify green's certificate for ``tls_name`` (see ``request``) and
    carry ``route`` (the service's key) where the test listener routes on it."""
    base = base.rstrip("/")
    if base.startswith("https:") and context is None:
        context = tls_context()  # one trust store load for the whole run, not one per request
    lock = threading.Lock()
    outcomes: list[tuple[float, bool]] = []

    def record(latency_ms: float, ok: bool) -> None:
        with lock:
            outcomes.append((latency_ms, ok))

    started = time.monotonic()
    deadline = started + limits.duration_seconds

    def user() -> None:
        while time.monotonic() < deadline:
            _scenario(base, limits.request_timeout_seconds, record, tls_name, context, route)

    workers = [threading.Thread(target=user, daemon=True) for _ in range(limits.concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return summarize(outcomes, time.monotonic() - started, limits)


def summarize(outcomes: list[tuple[float, bool]], seconds: float, limits: Limits) -> Summary:
    errors = sum(1 for _, ok in outcomes if not ok)
    error_percent = 100.0 * errors / len(outcomes) if outcomes else 100.0
    latency = p99([ms for ms, _ in outcomes])
    failures = []
    if not outcomes:
        failures.append("no request completed")
    if error_percent > limits.max_error_percent:
        failures.append(f"error rate {error_percent:.2f}% over the budget of {limits.max_error_percent}%")
    if latency > limits.max_p99_ms:
        failures.append(f"p99 {latency:.0f} ms over the budget of {limits.max_p99_ms:.0f} ms")
    return Summary(len(outcomes), errors, round(error_percent, 2), round(latency, 1), round(seconds, 1), failures)


def main() -> int:
    summary = run(
        os.environ["TEST_URL"],
        Limits.from_environment(),
        os.environ.get("TEST_HOSTNAME") or None,
        route=os.environ.get("TEST_ROUTE") or None,
    )
    print(json.dumps({"message": "load test", **asdict(summary)}))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
