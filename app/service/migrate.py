"""Entry point: ``python -m service.migrate``. The one-off task that prepares the database for this
version, run by the pipeline before green takes test traffic (the service never migrates itself).

As the master user (DB_SECRET):
0. in the cluster's maintenance database (DB_MAINTENANCE_NAME, ``postgres``): a read-only cluster
   (the DR region's replica before promotion) is left alone: exit 0; the service's database
   (DB_NAME) is created when it does not exist yet (several services share one cluster, each with
   its own database), and closed to PUBLIC at once: no other role may connect to it; a runtime
   role (DB_USER) that may already connect to another database is refused first (two services
   sharing a role would each read the other's data);
then in the service's database, under an advisory lock so concurrent runs take turns:
1. a read-only database is left alone: exit 0;
2. the NOLOGIN owner role (DB_OWNER_ROLE) and the runtime LOGIN role (DB_USER) exist; on Aurora
   the runtime role is granted ``rds_iam`` (IAM authentication; it has no password then);
3. the schema's objects belong to the owner role: those an earlier version created as the
   master user are handed over;
4. the migrations are applied as the owner role (``SET ROLE``), each once, in its own transaction;
5. the runtime role, alone besides the master, may connect to the database; it may use the schema
   and read and write the tables (and the sequences), now and for every table the owner creates
   later; it can create, alter, drop or truncate nothing.

Exit status: 0 done (or read-only), 1 the database refused or failed, 2 configuration error.
Logs are JSON lines on stdout; no secret is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import AsyncConnection, errors, sql

from service import db, logs, settings
from service.settings import IamAuth, MigrationSettings, PasswordAuth

log = logging.getLogger("service.migrate")

#: Any fixed number: concurrent migrations (and the previous versions' start-up migrations, which
#: took the same lock) take turns on it.
MIGRATION_LOCK = 7_254_019
#: DDL waits at most this long for a table lock, so a migration never queues the live traffic
#: behind it for long; it fails instead, and can be run again.
LOCK_TIMEOUT = "10s"
SCHEMA = "public"
#: Relations of the schema the owner role must own (tables, partitions, views, materialized views,
#: foreign tables, and sequences that no table owns: a table's own sequences follow the table).
FOREIGN_OWNED = """
SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
ORDER BY c.relkind, c.relname
"""
ALTER_KIND = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE", "S": "SEQUENCE"}
#: Attributes the runtime role must not have (a role that exists already is checked, not trusted).
FORBIDDEN_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")


#: PUBLIC's rights on a database (CONNECT, TEMPORARY) as aclexplode lists them: any left is a hole.
PUBLIC_DATABASE_RIGHTS = """
SELECT a.privilege_type FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
WHERE d.datname = %s AND a.grantee = 0 ORDER BY 1
"""


#: Databases other than the service's own that a role may connect to by a grant of its own or as
#: their owner (not through PUBLIC, which every role has on the maintenance database).
OTHER_DATABASES = """
SELECT d.datname FROM pg_database d, pg_roles r
WHERE r.rolname = %(role)s AND d.datname <> %(database)s
  AND (d.datdba = r.oid OR EXISTS (
      SELECT 1 FROM aclexplode(d.datacl) a WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT'))
ORDER BY 1
"""


class MigrationError(Exception):
    """The database is not in a state this migration may fix; the message says what to do."""


@dataclass
class Outcome:
    read_only: bool = False
    database_created: bool = False
    applied: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)
    schema_version: int | None = None


async def _one(
    connection: AsyncConnection, query: str, params: Sequence[object] | Mapping[str, object] | None = None
) -> object:
    cursor = await connection.execute(query, params)
    row = await cursor.fetchone()
    return row[0] if row else None


async def _ensure_role(connection: AsyncConnection, name: str, *, login: bool) -> bool:
    """Create the role unless it exists; True when it was created here."""
    if await _one(connection, "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)):
        return False
    try:
        await connection.execute(
            sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(sql.Identifier(name))
        )
    except (errors.DuplicateObject, errors.UniqueViolation):
        return False  # created by a concurrent run (roles are cluster-wide: the lock is per database)
    log.info("role created", extra={"role": name, "login": login})
    return True


async def _ensure_database(connection: AsyncConnection, config: MigrationSettings) -> bool:
    """In the maintenance database: create the service's database unless it exists; True when
    created here. It is the master's, as RDS makes the initial database, so everything after this
    runs as it does for that one; PUBLIC loses CONNECT and TEMPORARY before anyone can use it.
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Appendix.PostgreSQL.CommonDBATasks.Access.html
    """
    name = config.database.name
    if await _one(connection, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
        return False
    database = sql.Identifier(name)
    try:
        # Not in a transaction block (PostgreSQL refuses that): the connection is in autocommit.
        await connection.execute(sql.SQL("CREATE DATABASE {}").format(database))
    except (errors.DuplicateDatabase, errors.UniqueViolation):
        return False  # created by a concurrent run of this service's migration
    await connection.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
    log.info("database created", extra={"database": name})
    return True


async def _close_database(connection: AsyncConnection, config: MigrationSettings) -> None:
    """Only the master (its owner) and the runtime role may connect: other services' roles cannot
    even open a session in it. Checked, not trusted: a REVOKE by a role that does not own the
    database is only a warning."""
    name = config.database.name
    database, runtime = sql.Identifier(name), sql.Identifier(config.runtime_role)
    await connection.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
    await connection.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, runtime))
    cursor = await connection.execute(PUBLIC_DATABASE_RIGHTS, (name,))
    left = [right for (right,) in await cursor.fetchall()]
    allowed = await _one(connection, "SELECT has_database_privilege(%s, %s, 'CONNECT')", (config.runtime_role, name))
    if left or not allowed:
        owner = await _one(connection, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
        fix = (
            f"REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC;"
            f" GRANT CONNECT ON DATABASE {name} TO {config.runtime_role}"
        )
        if owner != config.master_user:
            fix = f"as its owner: {fix}; or ALTER DATABASE {name} OWNER TO {config.master_user}"
        raise MigrationError(
            f"the database {name} (owned by {owner}) is not closed: PUBLIC still has"
            f" {', '.join(left) or 'nothing'}, and {config.runtime_role} may connect: {allowed}; {fix}"
        )


async def _check_runtime_role_is_this_services(connection: AsyncConnection, config: MigrationSettings) -> None:
    """Several services on one cluster: a runtime role another service uses (the same DB_USER for
    two services) would read both databases. Refused before anything is created or granted."""
    cursor = await connection.execute(OTHER_DATABASES, {"role": config.runtime_role, "database": config.database.name})
    others = [name for (name,) in await cursor.fetchall()]
    if others:
        role, listed = config.runtime_role, ", ".join(others)
        raise MigrationError(
            f"the runtime role {role} may also connect to {listed}: each service needs its own DB_USER and"
            f" DB_OWNER_ROLE; choose another DB_USER, or REVOKE CONNECT ON DATABASE {listed} FROM {role}"
        )


async def _check_runtime_role(connection: AsyncConnection, config: MigrationSettings) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(a) for a in FORBIDDEN_ATTRIBUTES)
    cursor = await connection.execute(
        sql.SQL("SELECT {}, rolcanlogin FROM pg_roles WHERE rolname = %s").format(columns), (config.runtime_role,)
    )
    row = await cursor.fetchone()
    assert row is not None
    granted = [name for name, value in zip(FORBIDDEN_ATTRIBUTES, row, strict=False) if value]
    if granted:
        raise MigrationError(
            f"the runtime role {config.runtime_role} has {', '.join(granted)}; it must have none of them"
            f" (ALTER ROLE it as an administrator, or choose another DB_USER)"
        )
    for other in (config.owner_role, config.master_user):
        if await _one(connection, "SELECT pg_has_role(%s, %s, 'MEMBER')", (config.runtime_role, other)):
            raise MigrationError(
                f"the runtime role {config.runtime_role} is a member of {other}: it would inherit DDL rights;"
                f" REVOKE {other} FROM {config.runtime_role}"
            )
    if not row[-1]:
        await connection.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(config.runtime_role)))


async def _prepare_roles(connection: AsyncConnection, config: MigrationSettings) -> None:
    owner, runtime = sql.Identifier(config.owner_role), sql.Identifier(config.runtime_role)
    await _ensure_role(connection, config.owner_role, login=False)
    await _ensure_role(connection, config.runtime_role, login=True)
    await _check_runtime_role(connection, config)
    # The master must be able to act as the owner (SET ROLE, and ALTER ... OWNER TO it); the
    # previous version, still logged in as the master, keeps its access to the tables this way.
    if not await _one(connection, "SELECT pg_has_role(current_user, %s, 'USAGE')", (config.owner_role,)):
        await connection.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(owner))
    auth = config.runtime_auth
    if isinstance(auth, IamAuth):
        # Aurora: IAM authentication only, no password to leak or rotate.
        if await _one(connection, "SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'"):
            await connection.execute(sql.SQL("GRANT rds_iam TO {}").format(runtime))
        await connection.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(runtime))
    elif isinstance(auth, PasswordAuth):
        await connection.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(runtime, sql.Literal(auth.password)))


async def _prepare_schema(connection: AsyncConnection, config: MigrationSettings) -> list[str]:
    owner, runtime, schema = (sql.Identifier(n) for n in (config.owner_role, config.runtime_role, SCHEMA))
    await _close_database(connection, config)
    for statement in (
        # PostgreSQL before 15 lets every role create in public.
        "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        "GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}",
        "GRANT USAGE ON SCHEMA {schema} TO {runtime}",
    ):
        await connection.execute(sql.SQL(statement).format(schema=schema, owner=owner, runtime=runtime))
    # What an earlier version created as the master user moves to the owner role (idempotent:
    # once moved, nothing is left to move).
    cursor = await connection.execute(FOREIGN_OWNED, {"schema": SCHEMA})
    taken_over = []
    for kind, name in await cursor.fetchall():
        await connection.execute(
            sql.SQL("ALTER {} {}.{} OWNER TO {}").format(sql.SQL(ALTER_KIND[kind]), schema, sql.Identifier(name), owner)
        )
        taken_over.append(name)
        log.info("ownership handed to the owner role", extra={"relation": name, "owner": config.owner_role})
    return taken_over


async def _apply_migrations(connection: AsyncConnection) -> list[str]:
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied: list[str] = []
    for version, name, migration in db.migrations():
        async with connection.transaction():
            if await _one(connection, "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)):
                continue
            await connection.execute(migration.encode())
            await connection.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        applied.append(name)
        log.info("migration applied", extra={"migration": name})
    return applied


async def _grant_data_access(connection: AsyncConnection, config: MigrationSettings) -> None:
    owner, runtime, schema = (sql.Identifier(n) for n in (config.owner_role, config.runtime_role, SCHEMA))
    for statement in (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {runtime}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {runtime}",
        # The runtime role reads the schema version (/ready) but never records one.
        "REVOKE INSERT, UPDATE, DELETE ON {schema}.schema_migrations FROM {runtime}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
        " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {runtime}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {runtime}",
    ):
        await connection.execute(sql.SQL(statement).format(schema=schema, owner=owner, runtime=runtime))


async def _connect(config: MigrationSettings, dbname: str) -> AsyncConnection:
    target = replace(config.database, name=dbname)
    return await AsyncConnection.connect(
        target.conninfo(config.master_user), password=config.master_password, autocommit=True, connect_timeout=15
    )


async def _read_only(connection: AsyncConnection) -> bool:
    if await _one(connection, "SHOW transaction_read_only") == "on":
        log.info("database is read-only (a replica): migrations skipped")
        return True
    return False


async def run(config: MigrationSettings) -> Outcome:
    """Create the service's database if missing, prepare the roles and apply pending migrations.
    Idempotent; safe to run concurrently, also with other services' migrations on the cluster."""
    outcome = Outcome()
    async with await _connect(config, config.maintenance_database) as maintenance:
        if await _read_only(maintenance):
            outcome.read_only = True
            return outcome
        await _check_runtime_role_is_this_services(maintenance, config)
        outcome.database_created = await _ensure_database(maintenance, config)
    async with await _connect(config, config.database.name) as connection:
        if await _read_only(connection):
            outcome.read_only = True
            return outcome
        await connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            await connection.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            await _prepare_roles(connection, config)
            outcome.taken_over = await _prepare_schema(connection, config)
            await connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(config.owner_role)))
            outcome.applied = await _apply_migrations(connection)
            await _grant_data_access(connection, config)
            await connection.execute("RESET ROLE")
            version = await _one(connection, db.SCHEMA_VERSION)
            outcome.schema_version = version if isinstance(version, int) else None
        finally:
            # Closing the connection releases the lock too; unlocking early lets a waiting run go on.
            with contextlib.suppress(psycopg.Error):
                await connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return outcome


def main() -> int:
    try:
        config = settings.load_migration()
    except settings.SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    try:
        outcome = asyncio.run(run(config))
    except (MigrationError, psycopg.Error) as error:
        # psycopg's messages name roles, hosts and SQL states, never a password.
        message = f"{type(error).__name__}: {error}".strip()
        log.error("migration failed", extra={"error": message})
        print(f"migration failed: {message}", file=sys.stderr)
        return 1
    log.info(
        "migration complete",
        extra={
            "read_only": outcome.read_only, "database": config.database.name,
            "database_created": outcome.database_created, "applied": outcome.applied, "taken_over": outcome.taken_over,
            "schema_version": outcome.schema_version, "owner_role": config.owner_role,
            "runtime_role": config.runtime_role,
        },
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
