"""Configuration from environment variables only (the task definitions set them).

Two entry points read it: the service (``python -m service.server``), which logs in as the
least-privileged runtime role, and the one-off migration task (``python -m service.migrate``),
which logs in as the master user from DB_SECRET to create the roles and apply the migrations.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Every variable the service reads; tests/test_app_container.py checks the task definition
#: provides each required one and nothing the app does not read.
REQUIRED_VARIABLES = ("PORT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER")
OPTIONAL_VARIABLES = (
    "HOST", "LOG_LEVEL", "APP_VERSION", "GIT_COMMIT", "DEPLOYMENT_COLOUR", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS",
    "DB_POOL_MIN", "DB_POOL_MAX", "DB_AUTH", "DB_PASSWORD", "DB_SSLMODE", "DB_SSLROOTCERT",
    "AWS_REGION", "AWS_DEFAULT_REGION", "APP_ROLE", "APP_PATH_PREFIX",
)  # fmt: skip
#: What the migration task reads (DB_SECRET: the master secret RDS manages, injected by ECS).
MIGRATION_REQUIRED_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_SECRET")
MIGRATION_OPTIONAL_VARIABLES = (
    "DB_USER", "DB_OWNER_ROLE", "DB_AUTH", "DB_PASSWORD", "DB_SSLMODE", "DB_SSLROOTCERT", "LOG_LEVEL",
    "DB_MAINTENANCE_NAME",
)  # fmt: skip

#: The RDS CA bundle baked into the image (app/certs/, see app/README.md).
DEFAULT_SSLROOTCERT = "/srv/certs/rds-global-bundle.pem"
DEFAULT_RUNTIME_ROLE = "app_user"
DEFAULT_OWNER_ROLE = "app_owner"
#: The database every PostgreSQL cluster has (Aurora's too): the migration connects to it to
#: create the service's own database when it does not exist yet.
DEFAULT_MAINTENANCE_DATABASE = "postgres"
#: What the service does (APP_ROLE): api serves the notes API (the default, as before roles
#: existed); web serves the same API and an HTML page of the newest notes at its root; worker
#: serves nothing public, only an internal endpoint other services call (service/api.py).
ROLES = ("api", "web", "worker")
DEFAULT_ROLE = "api"
#: APP_PATH_PREFIX: e.g. /v1, for a service whose load balancer route is a path (/v1/*); the
#: load balancer forwards paths unchanged.
PATH_PREFIX = re.compile(r"(/[a-z0-9][a-z0-9_-]{0,30}){1,4}")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: RDS IAM authentication only works over TLS.
TLS_MODES = ("require", "verify-ca", "verify-full")
#: A role name the migration can quote safely and that is no one else's (pg_*, rds* are reserved).
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: A database name the migration may create (as config/formats.py DATABASE_NAME), and those it
#: must never take for the service's own: the cluster's maintenance and template databases.
DATABASE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED_DATABASES = ("postgres", "template0", "template1", "rdsadmin")


class SettingsError(Exception):
    """A required variable is missing or malformed; the message never includes a secret value."""


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the database is and how its certificate is checked; no credentials."""

    host: str
    port: int
    name: str
    sslmode: str
    #: CA bundle for verify-ca / verify-full ("system": the OS store, libpq 16+).
    sslrootcert: str

    def conninfo(self, user: str) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, dbname=self.name, user=user, sslmode=self.sslmode,
            sslrootcert=self.sslrootcert, application_name="bluegreen-app",
        )  # fmt: skip


@dataclass(frozen=True)
class PasswordAuth:
    """DB_AUTH=password (local runs and tests): a fixed password from DB_PASSWORD."""

    password: str


@dataclass(frozen=True)
class IamAuth:
    """DB_AUTH=iam (ECS): a fresh RDS IAM token for every new connection, signed with the task role."""

    region: str


@dataclass(frozen=True)
class Settings:
    port: int
    #: All interfaces of the task's own network namespace; its security group limits callers.
    host: str
    database: DatabaseTarget
    #: The runtime role: data access only (service.migrate creates it and grants it).
    db_user: str
    auth: PasswordAuth | IamAuth
    pool_min: int
    pool_max: int
    log_level: str
    version: str
    commit: str
    colour: str
    #: APP_ROLE: which routes it serves (ROLES); readiness, version, drain and logs are the same for each.
    role: str
    #: APP_PATH_PREFIX: its own routes live under it ("" by default); /health, /ready and /version
    #: are also served at the root, where the target groups' health check calls them.
    path_prefix: str
    #: After SIGTERM, keep serving (with /ready failing) this long before closing the listener.
    drain_seconds: float
    #: Then wait at most this long for in-flight requests; must fit inside the ECS stop timeout.
    shutdown_timeout_seconds: float


@dataclass(frozen=True)
class MigrationSettings:
    database: DatabaseTarget
    #: DB_MAINTENANCE_NAME: where the master connects to create ``database.name`` when it is missing.
    maintenance_database: str
    #: The master user and its password, from DB_SECRET: used by the migration only.
    master_user: str
    master_password: str
    #: NOLOGIN role that owns every object of the schema.
    owner_role: str
    #: LOGIN role the service connects as, and how it authenticates (IAM: rds_iam, no password).
    runtime_role: str
    runtime_auth: PasswordAuth | IamAuth | None
    log_level: str


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _number(env: Mapping[str, str], name: str, default: str, kind: type[int] | type[float] = int) -> int | float:
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be a number (got {raw!r})") from None


def _role(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    if not ROLE_NAME.fullmatch(value) or value.startswith(("pg_", "rds")):
        raise SettingsError(
            f"environment variable {name} must be a lower-case PostgreSQL role name (letters, digits, _;"
            f" at most 63; not pg_* or rds*), got {value!r}"
        )
    return value


def _database(env: Mapping[str, str]) -> DatabaseTarget:
    sslmode = env.get("DB_SSLMODE", "verify-full")
    if sslmode not in SSL_MODES:
        raise SettingsError(f"environment variable DB_SSLMODE must be one of {', '.join(SSL_MODES)}, got {sslmode!r}")
    sslrootcert = env.get("DB_SSLROOTCERT", DEFAULT_SSLROOTCERT)
    if sslmode.startswith("verify-") and sslrootcert != "system" and not Path(sslrootcert).is_file():
        raise SettingsError(
            f"DB_SSLMODE={sslmode} needs the CA bundle DB_SSLROOTCERT={sslrootcert}, which is not a file"
        )
    return DatabaseTarget(
        host=_required(env, "DB_HOST"),
        port=int(_number(env, "DB_PORT", _required(env, "DB_PORT"))),
        name=_required(env, "DB_NAME"),
        sslmode=sslmode,
        sslrootcert=sslrootcert,
    )


def _auth(env: Mapping[str, str], database: DatabaseTarget) -> PasswordAuth | IamAuth:
    mode = env.get("DB_AUTH", "iam")
    if mode == "password":
        return PasswordAuth(_required(env, "DB_PASSWORD"))
    if mode != "iam":
        raise SettingsError(f"environment variable DB_AUTH must be iam or password, got {mode!r}")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise SettingsError("DB_AUTH=iam needs AWS_REGION (ECS sets it) or AWS_DEFAULT_REGION")
    if database.sslmode not in TLS_MODES:
        raise SettingsError(f"DB_AUTH=iam needs TLS: DB_SSLMODE must be one of {', '.join(TLS_MODES)}")
    return IamAuth(region)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in choices:
        raise SettingsError(f"environment variable {name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _path_prefix(env: Mapping[str, str]) -> str:
    value = env.get("APP_PATH_PREFIX", "")
    if value and not PATH_PREFIX.fullmatch(value):
        raise SettingsError(
            "environment variable APP_PATH_PREFIX must be empty or a path such as /v1 (1 to 4 lower-case"
            f" segments of letters, digits, - or _; no trailing /), got {value!r}"
        )
    return value


def _database_name(env: Mapping[str, str], maintenance: str) -> str:
    value = _required(env, "DB_NAME")
    if not DATABASE_NAME.fullmatch(value) or value in (*RESERVED_DATABASES, maintenance):
        raise SettingsError(
            "environment variable DB_NAME must be the service's own database: 1 to 63 lower-case letters,"
            f" digits or _, starting with a letter, not {', '.join(RESERVED_DATABASES)} or DB_MAINTENANCE_NAME;"
            f" got {value!r}"
        )
    return value


def load(env: Mapping[str, str] | None = None) -> Settings:
    """The service's settings."""
    env = os.environ if env is None else env
    for name in REQUIRED_VARIABLES:
        _required(env, name)
    database = _database(env)
    return Settings(
        port=int(_number(env, "PORT", _required(env, "PORT"))),
        host=env.get("HOST", "0.0.0.0"),  # noqa: S104
        database=database,
        db_user=_role(env, "DB_USER", _required(env, "DB_USER")),
        auth=_auth(env, database),
        pool_min=int(_number(env, "DB_POOL_MIN", "1")),
        pool_max=int(_number(env, "DB_POOL_MAX", "10")),
        log_level=env.get("LOG_LEVEL", "info").upper(),
        version=env.get("APP_VERSION", "dev"),
        commit=env.get("GIT_COMMIT", "unknown"),
        colour=env.get("DEPLOYMENT_COLOUR", "unknown"),
        role=_choice(env, "APP_ROLE", DEFAULT_ROLE, ROLES),
        path_prefix=_path_prefix(env),
        drain_seconds=float(_number(env, "DRAIN_SECONDS", "2", float)),
        shutdown_timeout_seconds=float(_number(env, "SHUTDOWN_TIMEOUT_SECONDS", "20", float)),
    )


def load_migration(env: Mapping[str, str] | None = None) -> MigrationSettings:
    """The migration task's settings."""
    env = os.environ if env is None else env
    for name in MIGRATION_REQUIRED_VARIABLES:
        _required(env, name)
    try:
        secret = json.loads(_required(env, "DB_SECRET"))
        master_user, master_password = secret["username"], secret["password"]
        if not isinstance(master_user, str) or not isinstance(master_password, str):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError):
        # The secret's content is never echoed.
        raise SettingsError("DB_SECRET must be the JSON secret with username and password") from None
    database = _database(env)
    maintenance = env.get("DB_MAINTENANCE_NAME", DEFAULT_MAINTENANCE_DATABASE)
    if not maintenance:
        raise SettingsError("environment variable DB_MAINTENANCE_NAME must not be empty (default: postgres)")
    _database_name(env, maintenance)
    owner = _role(env, "DB_OWNER_ROLE", DEFAULT_OWNER_ROLE)
    runtime = _role(env, "DB_USER", DEFAULT_RUNTIME_ROLE)
    if len({owner, runtime, master_user}) != 3:
        raise SettingsError("DB_USER, DB_OWNER_ROLE and the master user (DB_SECRET) must be three different roles")
    mode = env.get("DB_AUTH", "iam")
    runtime_auth: PasswordAuth | IamAuth | None
    if mode == "password":
        # Local runs and tests: set the runtime role's password when one is given.
        runtime_auth = PasswordAuth(env["DB_PASSWORD"]) if env.get("DB_PASSWORD") else None
    elif mode == "iam":
        runtime_auth = IamAuth(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "")
    else:
        raise SettingsError(f"environment variable DB_AUTH must be iam or password, got {mode!r}")
    return MigrationSettings(
        database=database,
        maintenance_database=maintenance,
        master_user=master_user,
        master_password=master_password,
        owner_role=owner,
        runtime_role=runtime,
        runtime_auth=runtime_auth,
        log_level=env.get("LOG_LEVEL", "info").upper(),
    )
