"""Bounded load test of green through the ALB test listener, run by CodeBuild during a deployment.

The test-traffic hook starts it after its smoke checks pass, while green serves only the test
listener; the deployment waits for the verdict (see hooks/test_traffic.py). Workers repeat the
app's real scenario (readiness, version, write a note and read it back, list notes) until the
duration is spent; the run fails when the error rate or the p99 latency exceed their budgets.
Standard library only: CodeBuild runs this file as it is, and the Lambda imports `request` from it.

Environment: TEST_URL, DURATION_SECONDS, CONCURRENCY, MAX_ERROR_PERCENT, MAX_P99_MS,
REQUEST_TIMEOUT_SECONDS. Exit status 0 within budget, 1 otherwise; one JSON summary line on stdout.
"""

from __future__ import annotations

import json
import math
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any


def tls_context() -> ssl.SSLContext:
    # The certificate names the service's domain, not the ALB's DNS name the tests call: the
    # chain is still verified, the host name is not.
    context = ssl.create_default_context()
    context.check_hostname = False
    return context


#: Who is calling, said plainly: urllib's default ("Python-urllib/3.x") is on common bad-bot
#: lists that the WAF's managed rules may block; the product's own checks must get through.
USER_AGENT = "bluegreen-deployment-check/1"


def request(method: str, url: str, body: dict[str, Any] | None, timeout: float) -> tuple[int, Any]:
    """(status, parsed JSON body); HTTP errors are statuses, network errors raise OSError."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    outgoing = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout, context=tls_context()) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except urllib.error.URLError as error:
        raise OSError(str(error.reason)) from None


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


def _scenario(base: str, timeout: float, record: Any) -> None:
    """One user's round: each step's latency and whether it met the app's contract."""

    def step(method: str, path: str, expected: int, body: dict[str, Any] | None = None) -> Any:
        started = time.perf_counter()
        try:
            status, answer = request(method, base + path, body, timeout)
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


def run(base: str, limits: Limits) -> Summary:
    base = base.rstrip("/")
    lock = threading.Lock()
    outcomes: list[tuple[float, bool]] = []

    def record(latency_ms: float, ok: bool) -> None:
        with lock:
            outcomes.append((latency_ms, ok))

    started = time.monotonic()
    deadline = started + limits.duration_seconds

    def user() -> None:
        while time.monotonic() < deadline:
            _scenario(base, limits.request_timeout_seconds, record)

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
    summary = run(os.environ["TEST_URL"], Limits.from_environment())
    print(json.dumps({"message": "load test", **asdict(summary)}))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
