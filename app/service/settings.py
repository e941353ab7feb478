"""Configuration from environment variables only (the task definition sets them)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Every variable the service reads; tests/test_app_contract.py checks the task definition
#: provides each required one.
REQUIRED_VARIABLES = ("PORT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SECRET")
OPTIONAL_VARIABLES = (
    "HOST", "LOG_LEVEL", "APP_VERSION", "GIT_COMMIT", "DEPLOYMENT_COLOUR", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS",
    "DB_POOL_MIN", "DB_POOL_MAX", "DB_SSLMODE",
)  # fmt: skip


class SettingsError(Exception):
    """A required variable is missing or malformed; the message never includes a secret value."""


@dataclass(frozen=True)
class Settings:
    port: int
    #: All interfaces of the task's own network namespace; its security group limits callers.
    host: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    db_sslmode: str
    pool_min: int
    pool_max: int
    log_level: str
    version: str
    commit: str
    colour: str
    #: After SIGTERM, keep serving (with /ready failing) this long before closing the listener.
    drain_seconds: float
    #: Then wait at most this long for in-flight requests; must fit inside the ECS stop timeout.
    shutdown_timeout_seconds: float

    @property
    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.db_host, port=self.db_port, dbname=self.db_name, user=self.db_user,
            password=self.db_password, sslmode=self.db_sslmode, application_name="bluegreen-app",
        )  # fmt: skip


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


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    try:
        secret = json.loads(_required(env, "DB_SECRET"))
        user, password = secret["username"], secret["password"]
    except (json.JSONDecodeError, KeyError, TypeError):
        # The secret's content is never echoed.
        raise SettingsError("DB_SECRET must be the JSON secret with username and password") from None
    return Settings(
        port=int(_number(env, "PORT", _required(env, "PORT"))),
        host=env.get("HOST", "0.0.0.0"),  # noqa: S104
        db_host=_required(env, "DB_HOST"),
        db_port=int(_number(env, "DB_PORT", _required(env, "DB_PORT"))),
        db_name=_required(env, "DB_NAME"),
        db_user=user,
        db_password=password,
        # Aurora forces TLS (rds.force_ssl); local test servers may not offer it.
        db_sslmode=env.get("DB_SSLMODE", "require"),
        pool_min=int(_number(env, "DB_POOL_MIN", "1")),
        pool_max=int(_number(env, "DB_POOL_MAX", "10")),
        log_level=env.get("LOG_LEVEL", "info").upper(),
        version=env.get("APP_VERSION", "dev"),
        commit=env.get("GIT_COMMIT", "unknown"),
        colour=env.get("DEPLOYMENT_COLOUR", "unknown"),
        drain_seconds=float(_number(env, "DRAIN_SECONDS", "2", float)),
        shutdown_timeout_seconds=float(_number(env, "SHUTDOWN_TIMEOUT_SECONDS", "20", float)),
    )
