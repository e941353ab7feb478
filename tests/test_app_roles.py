"""One image, several services (issue 15): APP_ROLE chooses what the app serves, each role with its
own database; readiness, version, refusals, logs and the SIGTERM drain are the same for every role."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service import settings
from service.api import NOTES_PATH, create_app
from starlette.routing import Route

from tests.app_support import APP, Database, start_service

BASE = {"PORT": "8080", "DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app", "DB_USER": "app_user",
        "DB_AUTH": "password", "DB_PASSWORD": "p", "DB_SSLMODE": "require"}  # fmt: skip
OPERATIONAL = {"/health", "/ready", "/version"}


def routes(**env: str) -> set[tuple[str, frozenset[str]]]:
    """(path, methods) of every route the app would serve with these variables (no database needed)."""
    app = create_app(settings.load({**BASE, **env}))
    return {(r.path, frozenset(r.methods or ())) for r in app.routes if isinstance(r, Route)}


def paths(**env: str) -> set[str]:
    return {path for path, _ in routes(**env)}


def test_without_app_role_the_app_serves_exactly_what_it_served_before_roles() -> None:
    assert settings.load(BASE).role == "api" and settings.load(BASE).path_prefix == ""
    assert routes() == {
        ("/health", frozenset({"GET", "HEAD"})),
        ("/ready", frozenset({"GET", "HEAD"})),
        ("/version", frozenset({"GET", "HEAD"})),
        ("/notes", frozenset({"POST"})),
        ("/notes", frozenset({"GET", "HEAD"})),
        ("/notes/{note_id}", frozenset({"GET", "HEAD"})),
    }
    assert routes(APP_ROLE="api") == routes()


def test_each_role_serves_its_own_routes_and_no_other() -> None:
    assert paths(APP_ROLE="web") == OPERATIONAL | {"/notes", "/notes/{note_id}", "/"}
    assert paths(APP_ROLE="worker") == OPERATIONAL | {"/internal/notes", "/internal/notes/{note_id}"}
    assert set(NOTES_PATH) == set(settings.ROLES)


def test_a_path_prefix_moves_every_route_under_it_and_keeps_the_health_check_at_the_root() -> None:
    """A route such as /v1/* on the shared listener: the load balancer forwards the path unchanged."""
    assert paths(APP_ROLE="api", APP_PATH_PREFIX="/v1") == OPERATIONAL | {
        "/v1/health", "/v1/ready", "/v1/version", "/v1/notes", "/v1/notes/{note_id}",
    }  # fmt: skip
    assert paths(APP_ROLE="web", APP_PATH_PREFIX="/shop/v2") >= {"/shop/v2/", "/shop/v2/notes", "/ready"}
    assert "/" not in paths(APP_ROLE="web", APP_PATH_PREFIX="/shop")


def test_role_and_prefix_are_refused_unless_well_formed() -> None:
    for role in ("", "API", "frontend", "worker "):
        with pytest.raises(settings.SettingsError, match="APP_ROLE must be one of api, web, worker"):
            settings.load({**BASE, "APP_ROLE": role})
    for prefix in ("/", "v1", "/v1/", "/V1", "/../x", "/v1//x", "/a/b/c/d/e", "/%2e", "/v1?x"):
        with pytest.raises(settings.SettingsError, match="APP_PATH_PREFIX must be empty or a path"):
            settings.load({**BASE, "APP_PATH_PREFIX": prefix})


@pytest.mark.parametrize("role", settings.ROLES)
def test_every_role_is_ready_serves_its_routes_drains_on_sigterm_and_logs_every_status(
    postgres: Database, tmp_path: Path, role: str
) -> None:
    # Its own database, created by its migration, as a new service on the shared cluster gets it.
    service = start_service(
        postgres, postgres.new_name(), tmp_path, APP_ROLE=role, DRAIN_SECONDS="1", DEPLOYMENT_COLOUR="blue"
    )
    try:
        assert httpx.get(f"{service.url}/ready").json() == {"status": "ready", "schema": 2}
        assert httpx.get(f"{service.url}/version").json()["role"] == role
        notes = f"{service.url}{NOTES_PATH[role]}"
        title = "<script>alert('x')</script> & co"
        created = httpx.post(notes, json={"title": title, "tags": [role]})
        assert created.status_code == 201
        assert httpx.get(f"{notes}/{created.json()['id']}").json() == created.json()
        refused = httpx.post(notes, content=b'{"title": "\\u0000"}', headers={"content-type": "application/json"})
        assert (refused.status_code, refused.headers["content-type"]) == (400, "application/json")
        for other in {"/notes", "/internal/notes"} - {NOTES_PATH[role]}:
            missing = httpx.get(f"{service.url}{other}")
            assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
        page = httpx.get(f"{service.url}/")
        if role == "web":
            assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
            assert "<li>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co</li>" in page.text
            assert "<script>" not in page.text and page.headers["content-security-policy"].startswith("default-src")
        else:
            assert page.status_code == 404
        sigterm = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert httpx.get(f"{service.url}/ready").status_code == 503
        assert httpx.get(f"{service.url}/health").status_code == 200
        assert service.process.wait(timeout=30) == 0
        assert time.monotonic() - sigterm < 15
    finally:
        service.stop()
    entries = service.logs()
    requests = [e for e in entries if e["message"] in ("request", "request failed")]
    assert requests and all(isinstance(e["status"], int) for e in requests)
    assert {(e["path"], e["status"]) for e in requests} >= {(NOTES_PATH[role], 201), (NOTES_PATH[role], 400)}
    # The only 5xx: /ready while draining (the load balancer's signal to stop routing to it).
    assert [(e["path"], e["status"]) for e in requests if e["status"] >= 500] == [("/ready", 503)]
    (serving,) = [e for e in entries if e["message"] == "serving"]
    assert serving["role"] == role
    assert any(e["message"] == "database pool closed" for e in entries)


def healthcheck(port: int, *args: str) -> int:
    """The container health check command, as ECS runs it inside the task."""
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(APP)}
    command = [sys.executable, "-m", "service.healthcheck", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode


def test_the_container_health_check_command_reports_the_workers_liveness(postgres: Database, tmp_path: Path) -> None:
    """An unrouted worker has no target group: the task definition's health check is all ECS has."""
    worker = start_service(postgres, postgres.new_name(), tmp_path, APP_ROLE="worker", DRAIN_SECONDS="3")
    try:
        assert (healthcheck(worker.port), healthcheck(worker.port, "/ready")) == (0, 0)
        worker.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # Draining: still alive (ECS must not count it a failure), no longer ready.
        assert (healthcheck(worker.port), healthcheck(worker.port, "/ready")) == (0, 1)
        assert worker.process.wait(timeout=30) == 0
    finally:
        worker.stop()
    assert healthcheck(worker.port) == 1, "nothing listens: unhealthy"
    for wrong in (("/notes",), ("/health", "/ready")):
        assert healthcheck(worker.port, *wrong) == 2
