"""The platform rehearsal (issue 15): two services behind one host-routing proxy on loopback, one
of them released blue -> green under load on both, and no request failing on either.

The proxy plays the environment's shared ALB listener: a host rule forwards web.example.test to
web's target and api.example.test to api's, weighted between api's blue and green during the
shift (as one listener rule forwarding to two weighted target groups does); any other host gets
the listener's default fixed 404. It forwards the Host header, path and query unchanged, never
retries (an ALB does not either) and answers 502 when its target fails, so a failed request
cannot hide behind it. Weights are applied by smooth weighted round robin, so a 10% canary sends
exactly every tenth request to green. Each response carries the target and routing phase the
proxy chose for it (``x-rehearsal-*``: instruments of this test, not headers an ALB adds); the
services' own /version answers and access logs are checked against them.

Each service runs the one image in its role (APP_ROLE) with its own database on one PostgreSQL,
created by its own migration, as on the shared Aurora cluster. As in tests/test_app_rehearsal.py,
the load is counted in requests, not seconds: each phase lasts until so many requests *routed in
that phase* have completed per target, so a slow machine makes the rehearsal slower, not weaker.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.app_support import RUNTIME_PASSWORD, Database, ServiceProcess, free_port, start_service

HOSTS = {"web": "web.example.test", "api": "api.example.test"}
#: What each host's clients do: the web front end's page and resource, the API's resource.
OPERATIONS = {"web": ("page", "list", "create", "version"), "api": ("create", "list", "version")}
WORKERS_PER_HOST = 4
#: A safety bound only: the phases end on counts far below it.
MAX_REQUESTS = 20000
#: Requests completed per target in each phase (routed in that phase).
LOAD_PER_PHASE = 40
#: The canary's share of api's traffic, in percent, and how many requests green must serve in it.
CANARY_PERCENT = 10
CANARY_GREEN_REQUESTS = 10
#: A phase that has not completed its requests by then fails the test (something is stuck).
STEP_TIMEOUT = 90.0
EXPECTED_STATUS = {"create": 201, "list": 200, "version": 200, "page": 200}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Not forwarded (RFC 9110 7.6.1). A request keeps its Content-Length (its body is streamed
#: through as it arrives); a response's is recomputed.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


@dataclass(frozen=True)
class Target:
    name: str  # "<service>/<colour>"
    url: str
    weight: int = 100


@dataclass(frozen=True)
class RouteTable:
    """The listener's rules at one moment; the proxy's table is replaced whole, never edited."""

    phase: str
    rules: Mapping[str, tuple[Target, ...]]  # Host header -> its weighted targets


class HostProxy:
    """The shared listener on 127.0.0.1, in a thread of the test process (uvicorn, Starlette, httpx)."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.port = free_port()
        self._credit: dict[tuple[int, str], dict[str, int]] = {}
        self._client: httpx.AsyncClient | None = None
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=METHODS)], lifespan=self._lifespan)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as client:
            self._client = client
            yield

    def _pick(self, table: RouteTable, host: str, targets: tuple[Target, ...]) -> Target:
        """Smooth weighted round robin (nginx's): deterministic shares, interleaved."""
        credit = self._credit.setdefault((id(table), host), {t.name: 0 for t in targets})
        for target in targets:
            credit[target.name] += target.weight
        chosen = max(targets, key=lambda t: credit[t.name])
        credit[chosen.name] -= sum(t.weight for t in targets)
        return chosen

    async def _forward(self, request: Request) -> Response:
        table = self.table  # one table for the whole request, whatever the test switches meanwhile
        host = request.headers.get("host", "").split(":", 1)[0].lower()
        targets = table.rules.get(host)
        if not targets:
            return JSONResponse({"error": "no rule for this host"}, 404)  # the listener's default action
        target = self._pick(table, host, targets)
        tags = {"x-rehearsal-target": target.name, "x-rehearsal-phase": table.phase}
        query = request.scope["query_string"]
        url = httpx.URL(target.url).copy_with(raw_path=request.scope["raw_path"] + (b"?" + query if query else b""))
        headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP]
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        assert self._client is not None
        try:
            body = request.stream() if has_body else None
            upstream = await self._client.request(request.method, url, headers=headers, content=body)
        except httpx.HTTPError as error:
            return JSONResponse({"error": f"{type(error).__name__}: {error}"}, 502, headers=tags)
        # httpx has decoded the body, so its content-encoding no longer applies.
        kept = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}
        }
        return Response(upstream.content, upstream.status_code, headers={**kept, **tags})

    def __enter__(self) -> HostProxy:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


@dataclass(frozen=True)
class Outcome:
    host: str  # "web" or "api"
    operation: str
    started: float
    finished: float
    status: int | None
    target: str | None = None  # as the proxy chose it
    phase: str | None = None
    served_as: str | None = None  # "<role>/<colour>" as the service itself says on /version
    note_id: int | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != EXPECTED_STATUS[self.operation]


@dataclass
class PlatformLoad:
    """Clients of both hosts at once, all through the proxy; every request recorded."""

    proxy_url: str
    outcomes: list[Outcome] = field(default_factory=list)
    counts: dict[tuple[str | None, str | None], int] = field(default_factory=dict)  # (phase, target)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _one(self, client: httpx.Client, host: str) -> Outcome:
        operation = random.choice(OPERATIONS[host])  # noqa: S311
        started = time.monotonic()
        try:
            if operation == "create":
                response = client.post("/notes", json={"title": f"via {host}", "body": "x"})
            elif operation == "list":
                response = client.get("/notes", params={"limit": 5})
            elif operation == "page":
                response = client.get("/")
            else:
                response = client.get("/version")
        except httpx.HTTPError as error:
            return Outcome(host, operation, started, time.monotonic(), None, error=f"{type(error).__name__}: {error}")
        finished = time.monotonic()
        served_as = note_id = None
        if response.status_code == EXPECTED_STATUS[operation]:
            if operation == "version":
                served_as = f"{response.json()['role']}/{response.json()['colour']}"
            elif operation == "create":
                note_id = response.json()["id"]
        return Outcome(
            host, operation, started, finished, response.status_code,
            response.headers.get("x-rehearsal-target"), response.headers.get("x-rehearsal-phase"),
            served_as, note_id,
        )  # fmt: skip

    def _worker(self, host: str) -> None:
        with httpx.Client(base_url=self.proxy_url, headers={"host": HOSTS[host]}, timeout=10) as client:
            while not self.stop.is_set() and len(self.outcomes) < MAX_REQUESTS:
                outcome = self._one(client, host)
                with self.lock:
                    self.outcomes.append(outcome)
                    key = (outcome.phase, outcome.target)
                    self.counts[key] = self.counts.get(key, 0) + 1

    def wait_for(self, phase: str, **per_target: int) -> None:
        """Until so many requests routed in ``phase`` have completed for each target (web_blue=40)."""
        wanted = {name.replace("_", "/"): n for name, n in per_target.items()}
        deadline = time.monotonic() + STEP_TIMEOUT
        while any(self.counts.get((phase, t), 0) < n for t, n in wanted.items()):
            got = {t: self.counts.get((phase, t), 0) for t in wanted}
            assert time.monotonic() < deadline, f"phase {phase}: {got} of {wanted} after {STEP_TIMEOUT} s"
            time.sleep(0.01)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        threads = [
            threading.Thread(target=self._worker, args=(h,), daemon=True)
            for h in HOSTS
            for _ in range(WORKERS_PER_HOST)
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=15)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    def by_phase(self) -> dict[str, dict[str, int]]:
        """Completed requests per routing phase and target, e.g. {"canary": {"api/green": 11, ...}}."""
        table: dict[str, dict[str, int]] = {}
        for outcome in self.outcomes:
            row = table.setdefault(str(outcome.phase), {})
            row[str(outcome.target)] = row.get(str(outcome.target), 0) + 1
        return table


def report(tmp_path: Path, name: str, summary: dict[str, object]) -> None:
    print(f"{name}: {json.dumps(summary)}")  # shown with -s; also kept beside the test's logs
    (tmp_path / f"{name}.json").write_text(json.dumps(summary))


def logged_requests(service: ServiceProcess) -> int:
    """Requests the service's access log shows, the readiness probes aside."""
    return sum(1 for e in service.logs() if e["message"] in ("request", "request failed") and e["path"] != "/ready")


def held_request(port: int, host: str, sent: threading.Event, release: threading.Event, result: dict[str, str]) -> None:
    """A POST through the proxy that its client holds in flight: headers and part of the body now
    (then ``sent``; the proxy has picked a target and streams to it), the rest after ``release``."""
    body = json.dumps({"title": f"via {host}", "body": "held in flight"}).encode()
    head = (
        f"POST /notes HTTP/1.1\r\nHost: {HOSTS[host]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT) as connection:
        connection.sendall(head.encode() + body[:10])
        sent.set()
        release.wait(timeout=STEP_TIMEOUT)
        connection.sendall(body[10:])
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    status_line, *header_lines = response.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    result["status_line"] = status_line
    for line in header_lines:
        name, _, value = line.partition(": ")
        if name.lower().startswith("x-rehearsal-"):
            result[name.lower()] = value


def served_after_sigterm(service: ServiceProcess) -> int:
    entries = service.logs()
    start = next((i for i, e in enumerate(entries) if e["message"] == "SIGTERM: draining"), len(entries))
    return sum(1 for e in entries[start:] if e["message"] == "request" and e["path"] != "/ready")


def rules(web: Target, *api: Target) -> dict[str, tuple[Target, ...]]:
    return {HOSTS["web"]: (web,), HOSTS["api"]: api}


def test_the_rehearsal_proxy_routes_only_known_hosts_and_reports_a_dead_target_as_a_failure() -> None:
    """The control for the rehearsal below: a request the proxy could not deliver counts as failed."""
    dead = Target("api/blue", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with HostProxy(RouteTable("blue", {HOSTS["api"]: (dead,)})) as proxy:
        load = PlatformLoad(proxy.url)
        with httpx.Client(base_url=proxy.url, headers={"host": HOSTS["api"]}) as client:
            outcome = load._one(client, "api")
        other = httpx.get(f"{proxy.url}/version", headers={"host": "other.example.test"})
    assert (outcome.status, outcome.target, outcome.phase, outcome.failed) == (502, "api/blue", "blue", True)
    assert (other.status_code, other.json()) == (404, {"error": "no rule for this host"})
    assert "x-rehearsal-target" not in other.headers


def test_two_services_behind_one_host_routed_listener_one_shifting_blue_to_green_under_load_fail_no_request(
    postgres: Database, tmp_path: Path
) -> None:
    web_db, api_db = postgres.new_name(), postgres.new_name()  # each created by its service's migration
    web = start_service(postgres, web_db, tmp_path, APP_ROLE="web", DEPLOYMENT_COLOUR="blue", DRAIN_SECONDS="1")
    api_blue = start_service(postgres, api_db, tmp_path, APP_ROLE="api", DEPLOYMENT_COLOUR="blue", DRAIN_SECONDS="1")
    web_target = Target("web/blue", web.url)
    blue = Target("api/blue", api_blue.url)
    started: list[ServiceProcess] = [web, api_blue]
    marks: dict[str, float] = {"start": time.monotonic()}
    blue_exit: list[int] = []
    sent, release, held = threading.Event(), threading.Event(), dict[str, str]()
    try:
        with HostProxy(RouteTable("blue", rules(web_target, blue))) as proxy:
            load = PlatformLoad(proxy.url)
            with load.running():
                load.wait_for("blue", web_blue=LOAD_PER_PHASE, api_blue=LOAD_PER_PHASE)
                # A request routed to blue now and held in flight by its client until blue is stopped.
                held_thread = threading.Thread(target=held_request, args=(proxy.port, "api", sent, release, held))
                held_thread.start()
                assert sent.wait(timeout=STEP_TIMEOUT), "the held request was not sent"
                # The release, under load: api's migration task runs again, then green starts.
                api_green = start_service(
                    postgres, api_db, tmp_path, APP_ROLE="api", DEPLOYMENT_COLOUR="green", DRAIN_SECONDS="1"
                )
                started.append(api_green)
                # Test traffic reaches only green (the test listener), before any production traffic.
                assert httpx.get(f"{api_green.url}/version").json()["colour"] == "green"
                marks["green_ready"] = time.monotonic()
                green = Target("api/green", api_green.url)
                canary = (
                    Target(blue.name, blue.url, 100 - CANARY_PERCENT),
                    Target(green.name, green.url, CANARY_PERCENT),
                )
                proxy.table = RouteTable("canary", rules(web_target, *canary))
                load.wait_for("canary", web_blue=LOAD_PER_PHASE, api_green=CANARY_GREEN_REQUESTS)
                marks["canary_done"] = time.monotonic()
                # All of api's traffic to green, and blue stopped at the same moment (ECS stops it
                # only after the deregistration delay): what blue still has in flight (the held
                # request, and any of the canary's) must complete while it drains, under load.
                proxy.table = RouteTable("green", rules(web_target, green))
                marks["sigterm"] = time.monotonic()
                api_blue.process.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                release.set()
                held_thread.join(timeout=STEP_TIMEOUT)
                load.wait_for("green", web_blue=LOAD_PER_PHASE, api_green=LOAD_PER_PHASE)
                blue_exit.append(api_blue.process.wait(timeout=30))
                marks["blue_exited"] = time.monotonic()
                proxy.table = RouteTable("after", rules(web_target, green))
                load.wait_for("after", web_blue=LOAD_PER_PHASE, api_green=LOAD_PER_PHASE)
            marks["end"] = time.monotonic()
            # What blue wrote, green reads (one database per service, shared by its colours);
            # neither service's data reached the other's database.
            by_blue = next(o.note_id for o in load.outcomes if o.target == "api/blue" and o.note_id)
            read_on_green = httpx.get(f"{proxy.url}/notes/{by_blue}", headers={"host": HOSTS["api"]})
        titles: dict[str, set[str]] = {}
        for name, dbname in (("web", web_db), ("api", api_db)):
            with psycopg.connect(postgres.as_runtime(dbname)) as connection:
                titles[name] = {title for (title,) in connection.execute("SELECT title FROM notes")}
    finally:
        exits = {s.url: s.stop() for s in started}
    outcomes, failures = load.outcomes, load.failures()
    # Routed to blue before it was stopped, answered by blue after SIGTERM (in its own log).
    in_flight = served_after_sigterm(api_blue)
    summary = {
        "requests": len(outcomes),
        "failed": len(failures),
        "api_blue_served_after_sigterm": in_flight,
        "by_phase": load.by_phase(),
        "seconds": {
            "blue_and_start_green": round(marks["green_ready"] - marks["start"], 2),
            "canary": round(marks["canary_done"] - marks["green_ready"], 2),
            "sigterm_to_exit": round(marks["blue_exited"] - marks["sigterm"], 2),
            "total_under_load": round(marks["end"] - marks["start"], 2),
        },
    }
    report(tmp_path, "platform-shift", summary)

    assert failures == [], failures[:5]
    # Web's traffic was never touched: every web request went to web/blue, in every phase...
    web_requests = [o for o in outcomes if o.host == "web"]
    assert {o.target for o in web_requests} == {"web/blue"}
    assert {o.served_as for o in web_requests if o.operation == "version"} == {"web/blue"}
    assert {o.phase for o in web_requests} == {"blue", "canary", "green", "after"}
    # ...and web/blue served those and nothing else (its own access log, not the proxy's word).
    assert logged_requests(web) == len(web_requests)
    # Api moved from blue to green: only blue before the canary, both in it, only green after.
    api_targets: dict[str | None, set[str | None]] = {}
    for outcome in outcomes:
        if outcome.host == "api":
            api_targets.setdefault(outcome.phase, set()).add(outcome.target)
    assert api_targets == {
        "blue": {"api/blue"}, "canary": {"api/blue", "api/green"},
        "green": {"api/green"}, "after": {"api/green"},
    }  # fmt: skip
    assert held == {
        "status_line": "HTTP/1.1 201 Created",
        "x-rehearsal-target": "api/blue",
        "x-rehearsal-phase": "blue",
    }
    assert in_flight >= 1, "blue answered nothing after SIGTERM: the held request was not in flight"
    for outcome in outcomes:  # the service itself confirms the proxy's routing, role and colour
        if outcome.served_as is not None:
            assert outcome.served_as == outcome.target, outcome
    in_canary = load.by_phase()["canary"]
    assert 0.05 <= in_canary["api/green"] / (in_canary["api/green"] + in_canary["api/blue"]) <= 0.2, in_canary
    assert logged_requests(api_blue) == len([o for o in outcomes if o.target == "api/blue"]) + 1  # + the held one
    assert blue_exit == [0] and set(exits.values()) == {0}
    assert marks["blue_exited"] - marks["sigterm"] < 30, "blue stops well inside the ECS stop timeout"
    assert read_on_green.status_code == 200 and read_on_green.json()["title"] == "via api"
    assert titles == {"web": {"via web"}, "api": {"via api"}}
    # Each runtime role may not even open the other's database (the first of two layers; the
    # table grants, the second, are proven in tests/test_app_database.py:
    # test_one_services_runtime_role_cannot_read_another_services_tables_even_where_it_may_connect).
    for mine, other in ((web_db, api_db), (api_db, web_db)):
        intruder = postgres.conninfo(other, postgres.runtime_role(mine), RUNTIME_PASSWORD)
        with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{other}"'):
            psycopg.connect(intruder).close()
