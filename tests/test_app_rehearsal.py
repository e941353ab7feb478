"""Zero-downtime rehearsal on loopback: SIGTERM under load, and a blue -> green traffic shift.

The load driver plays the load balancer: it routes each request to an instance, stops routing
to an instance when it is deregistered (the moment SIGTERM is sent, which is earlier than ECS
does it), and records every request. Bounded in count and time; 127.0.0.1 only.

The load is counted in requests, not seconds: each step of a scenario waits until so many more
requests have completed (LoadDriver.wait_for), so a machine slowed by other work makes the
rehearsal slower, never weaker: the same number of requests meets each event, and none may fail.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.app_support import Database, start_service

MAX_REQUESTS = 6000
WORKERS = 8
#: Requests completed against blue before SIGTERM (under load, not idle, when it arrives).
LOAD_BEFORE_SIGTERM = 150
#: Requests completed before the shift, at each of its steps, and after it.
LOAD_PER_STEP = 30
#: A step that has not completed its requests by then fails the test (the driver is stuck).
STEP_TIMEOUT = 90.0


@dataclass
class Outcome:
    target: str
    started: float
    finished: float
    status: int | None
    error: str | None = None
    note_id: int | None = None


@dataclass
class Router:
    """Weighted routing between blue and green; an instance can be taken out of rotation."""

    blue: str
    green: str | None = None
    green_weight: float = 0.0
    blue_in_rotation: bool = True

    def pick(self) -> str | None:
        if self.green and (not self.blue_in_rotation or random.random() < self.green_weight):  # noqa: S311
            return self.green
        return self.blue if self.blue_in_rotation else None


@dataclass
class LoadDriver:
    router: Router
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _one(self, client: httpx.Client, target: str) -> Outcome:
        started = time.monotonic()
        try:
            operation = random.choice(("create", "list", "ready"))  # noqa: S311
            if operation == "create":
                response = client.post(f"{target}/notes", json={"title": f"via {target}", "body": "x"})
            elif operation == "list":
                response = client.get(f"{target}/notes", params={"limit": 5})
            else:
                response = client.get(f"{target}/version")
            note_id = response.json()["id"] if operation == "create" and response.status_code == 201 else None
            return Outcome(target, started, time.monotonic(), response.status_code, note_id=note_id)
        except httpx.HTTPError as error:
            return Outcome(target, started, time.monotonic(), None, f"{type(error).__name__}: {error}")

    def _worker(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set() and len(self.outcomes) < MAX_REQUESTS:
                target = self.router.pick()
                if target is None:
                    break
                outcome = self._one(client, target)
                with self.lock:
                    self.outcomes.append(outcome)

    def wait_for(self, more: int, timeout: float = STEP_TIMEOUT) -> None:
        """Until ``more`` requests have completed from now on."""
        target = len(self.outcomes) + more
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            assert time.monotonic() < deadline, f"{len(self.outcomes)} of {target} requests after {timeout} s"
            time.sleep(0.01)

    def run_while(self, scenario: Callable[[], None]) -> None:
        threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        try:
            scenario()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=15)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is None or o.status >= 500]

    def summary(self) -> dict[str, object]:
        served: dict[str, int] = {}
        for outcome in self.outcomes:
            served[outcome.target] = served.get(outcome.target, 0) + 1
        return {"requests": len(self.outcomes), "failed": len(self.failures()), "served_by": served}


def slow_client_request(port: int, sent: threading.Event, release: threading.Event, result: dict[str, object]) -> None:
    """A request held in flight by its client: headers now (then ``sent``), body only after ``release``."""
    body = json.dumps({"title": "in flight during SIGTERM"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as connection:
        connection.sendall(
            b"POST /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        sent.set()
        release.wait(timeout=30)
        connection.sendall(body)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    result["status_line"] = response.split(b"\r\n", 1)[0].decode()


def report(tmp_path: Path, name: str, summary: dict[str, object]) -> None:
    print(f"{name}: {json.dumps(summary)}")  # shown with -s; also kept beside the test's logs
    (tmp_path / f"{name}.json").write_text(json.dumps(summary))


def test_sigterm_under_load_completes_every_request_in_flight(
    postgres: Database, database: str, tmp_path: Path
) -> None:
    blue = start_service(postgres, database, tmp_path, DRAIN_SECONDS="1", DEPLOYMENT_COLOUR="blue")
    driver = LoadDriver(Router(blue.url))
    sent, release = threading.Event(), threading.Event()
    slow: dict[str, object] = {}
    marks: dict[str, float] = {}
    during_drain: dict[str, int] = {}

    def scenario() -> None:
        slow_thread = threading.Thread(target=slow_client_request, args=(blue.port, sent, release, slow))
        slow_thread.start()
        assert sent.wait(timeout=STEP_TIMEOUT), "the slow request's headers were not sent"
        driver.wait_for(LOAD_BEFORE_SIGTERM)
        driver.router.blue_in_rotation = False  # deregistered...
        marks["sigterm"] = time.monotonic()
        blue.process.send_signal(signal.SIGTERM)  # ...and stopped at the same moment
        time.sleep(0.3)
        during_drain["ready"] = httpx.get(f"{blue.url}/ready").status_code
        during_drain["health"] = httpx.get(f"{blue.url}/health").status_code
        release.set()
        slow_thread.join(timeout=30)
        marks["exit_code"] = blue.process.wait(timeout=30)
        marks["stopped"] = time.monotonic()

    driver.run_while(scenario)
    report(tmp_path, "sigterm", {**driver.summary(), "stop_seconds": round(marks["stopped"] - marks["sigterm"], 2)})
    in_flight = [o for o in driver.outcomes if o.started < marks["sigterm"] < o.finished]
    assert driver.failures() == []
    assert len(driver.outcomes) >= LOAD_BEFORE_SIGTERM
    assert in_flight, "no request was in flight when SIGTERM arrived"
    assert slow["status_line"] == "HTTP/1.1 201 Created"
    assert during_drain == {"ready": 503, "health": 200}
    assert marks["exit_code"] == 0
    assert marks["stopped"] - marks["sigterm"] < 30, "must stop well inside the ECS stop timeout"
    assert any(e["message"] == "database pool closed" for e in blue.logs())


def test_blue_to_green_shift_fails_no_request(postgres: Database, database: str, tmp_path: Path) -> None:
    blue = start_service(postgres, database, tmp_path, DRAIN_SECONDS="1", DEPLOYMENT_COLOUR="blue")
    green = start_service(postgres, database, tmp_path, DRAIN_SECONDS="1", DEPLOYMENT_COLOUR="green")
    router = Router(blue.url, green.url)
    driver = LoadDriver(router)
    exit_codes: list[int] = []

    def scenario() -> None:
        driver.wait_for(LOAD_PER_STEP * 2)  # all on blue
        for step in range(1, 11):  # linear: 10% more traffic to green at every step
            router.green_weight = step / 10
            driver.wait_for(LOAD_PER_STEP)
        driver.wait_for(LOAD_PER_STEP)  # all on green, blue still up
        router.blue_in_rotation = False
        blue.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        exit_codes.append(blue.process.wait(timeout=30))

    try:
        driver.run_while(scenario)
        summary = driver.summary()
        report(tmp_path, "shift", summary)
        assert driver.failures() == [], driver.failures()[:5]
        by_blue = next(o.note_id for o in driver.outcomes if o.target == blue.url and o.note_id)
        read_on_green = httpx.get(f"{green.url}/notes/{by_blue}").json()
    finally:
        green_exit = green.stop()
    served = summary["served_by"]
    # At least the requests of the step before the shift (all blue) and of its last step (all green).
    assert isinstance(served, dict)
    assert served.get(blue.url, 0) >= 2 * LOAD_PER_STEP and served.get(green.url, 0) >= 2 * LOAD_PER_STEP
    assert exit_codes == [0] and green_exit == 0
    # Both colours share one database: green reads what blue wrote.
    assert read_on_green["title"] == f"via {blue.url}"
