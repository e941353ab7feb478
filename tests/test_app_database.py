"""Least privilege, against a real PostgreSQL: the migration task (``python -m service.migrate``) as
the master user, the owner role that owns the schema, and the runtime role the service logs in as,
which reads and writes its tables and can create, alter, drop or truncate nothing.

The test server's master user is not a superuser (tests/app_support.py), as on Aurora.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors
from service import db, migrate, settings

from tests.app_support import APP, RUNTIME_PASSWORD, Database, start_service


def _rows(conninfo: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.execute(query, params).fetchall()


def run_migration(postgres: Database, dbname: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The ECS one-off task: the real entry point in its own process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_"))},
        **postgres.migration_env(dbname),
        "PYTHONPATH": str(APP),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "service.migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def log_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_migration_creates_the_roles_and_the_owner_owns_every_object(postgres: Database, database: str) -> None:
    result = run_migration(postgres, database)
    assert result.returncode == 0, result.stderr
    done = log_lines(result)[-1]
    assert (done["message"], done["schema_version"]) == ("migration complete", db.required_schema_version())
    assert done["applied"] == [name for _, name, _ in db.migrations()]
    owner, runtime = postgres.owner_role(database), postgres.runtime_role(database)
    roles = dict(
        (r[0], r[1:])
        for r in _rows(
            postgres.conninfo(database),
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
            " FROM pg_roles WHERE rolname IN (%s, %s)",
            (owner, runtime),
        )
    )
    assert roles == {
        owner: (False, False, False, False, False, False),
        runtime: (True, False, False, False, False, False),
    }
    owners = _rows(
        postgres.conninfo(database),
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public'",
    )
    assert {name for name, _ in owners} >= {"notes", "notes_id_seq", "notes_pkey", "schema_migrations"}
    assert {who for _, who in owners} == {owner}, "the master user must own nothing in the schema"
    (member,) = _rows(postgres.conninfo(database), "SELECT pg_has_role(%s, %s, 'MEMBER')", (runtime, owner))[0]
    assert member is False


def test_the_runtime_role_reads_and_writes_but_has_no_ddl_rights(postgres: Database, database: str) -> None:
    postgres.migrate(database)
    with psycopg.connect(postgres.as_runtime(database), autocommit=True) as app:
        (note_id,) = app.execute("INSERT INTO notes (title, tags) VALUES ('x', '{a}') RETURNING id").fetchone() or ()
        app.execute("UPDATE notes SET body = 'y' WHERE id = %s", (note_id,))
        assert app.execute("SELECT body FROM notes WHERE id = %s", (note_id,)).fetchone() == ("y",)
        assert app.execute("SELECT max(version) FROM schema_migrations").fetchone() == (db.required_schema_version(),)
        app.execute("DELETE FROM notes WHERE id = %s", (note_id,))
        for refused in (
            "CREATE TABLE stolen (a int)",
            "CREATE TEMPORARY TABLE scratch (a int)",
            "CREATE VIEW notes_view AS SELECT 1",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE SEQUENCE s",
            "CREATE SCHEMA mine",
            "CREATE INDEX ON notes (title)",
            "ALTER TABLE notes ADD COLUMN extra int",
            "ALTER TABLE notes DROP COLUMN tags",
            "ALTER TABLE notes RENAME TO old_notes",
            "ALTER TABLE notes OWNER TO CURRENT_USER",
            "DROP TABLE notes",
            "DROP TABLE schema_migrations",
            "TRUNCATE notes",
            "INSERT INTO schema_migrations (version, name) VALUES (999, 'forged')",
            "DELETE FROM schema_migrations",
            "COMMENT ON TABLE notes IS 'mine'",
            "CREATE POLICY everything ON notes USING (true)",
            f'SET ROLE "{postgres.owner_role(database)}"',
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(refused)
        app.execute("GRANT SELECT ON notes TO PUBLIC")  # only a warning: it has nothing it may grant
    acl = _rows(postgres.conninfo(database), "SELECT relacl::text FROM pg_class WHERE relname = 'notes'")[0][0]
    assert not [entry for entry in acl.strip("{}").split(",") if entry.startswith("=")], f"PUBLIC was granted: {acl}"


def test_the_api_works_end_to_end_as_the_runtime_role(postgres: Database, database: str, tmp_path: Path) -> None:
    service = start_service(postgres, database, tmp_path)
    try:
        created = httpx.post(f"{service.url}/notes", json={"title": "as the runtime role", "tags": ["iam"]})
        assert created.status_code == 201
        assert httpx.get(f"{service.url}/notes/{created.json()['id']}").json() == created.json()
        sessions = _rows(
            postgres.conninfo(database),
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = %s AND application_name = 'bluegreen-app'",
            (database,),
        )
        assert sessions == [(postgres.runtime_role(database),)]
    finally:
        assert service.stop() == 0


def test_migration_is_idempotent_and_safe_to_run_concurrently(postgres: Database, database: str) -> None:
    async def three_at_once() -> list[migrate.Outcome]:
        config = settings.load_migration(postgres.migration_env(database))
        return list(await asyncio.gather(*(migrate.run(config) for _ in range(3))))

    outcomes = asyncio.run(three_at_once())
    shipped = [name for _, name, _ in db.migrations()]
    assert sorted(n for o in outcomes for n in o.applied) == shipped, "each migration must be applied exactly once"
    again = run_migration(postgres, database)
    assert again.returncode == 0 and log_lines(again)[-1]["applied"] == []
    versions = _rows(postgres.conninfo(database), "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == [v for v, _, _ in db.migrations()]


def test_concurrent_migration_processes_all_succeed(postgres: Database, database: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_"))},
        **postgres.migration_env(database),
        "PYTHONPATH": str(APP),
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "service.migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    assert [r.wait(timeout=120) for r in runs] == [0, 0, 0]


# --- Several services on one cluster: each its own database, created by its migration ---


def _public_rights(postgres: Database, dbname: str) -> list[str]:
    return [r for (r,) in _rows(postgres.conninfo(postgres.admin_dbname), migrate.PUBLIC_DATABASE_RIGHTS, (dbname,))]


def _may_connect(postgres: Database, dbname: str) -> set[str]:
    """Every role that may open a session in the database, superusers aside."""
    rows = _rows(
        postgres.conninfo(postgres.admin_dbname),
        "SELECT rolname FROM pg_roles"
        " WHERE NOT rolsuper AND rolcanlogin AND has_database_privilege(oid, %s, 'CONNECT')",
        (dbname,),
    )
    return {name for (name,) in rows}


def _connect_refused(conninfo: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(conninfo).close()
    return str(refused.value)


def test_a_new_service_database_is_created_owned_by_the_master_and_closed_to_every_other_role(
    postgres: Database,
) -> None:
    name = postgres.new_name()
    assert not _rows(postgres.conninfo(postgres.admin_dbname), "SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    result = run_migration(postgres, name)
    assert result.returncode == 0, result.stderr
    lines = log_lines(result)
    assert {"message": "database created", "database": name}.items() <= next(
        e for e in lines if e["message"] == "database created"
    ).items()
    done = lines[-1]
    assert (done["database_created"], done["schema_version"]) == (True, db.required_schema_version())
    assert done["applied"] == [name_ for _, name_, _ in db.migrations()]
    admin = postgres.conninfo(postgres.admin_dbname)
    assert _rows(admin, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)) == [
        ("bluegreen_master",)
    ], "owned by the master, as RDS makes the initial database"
    assert _public_rights(postgres, name) == [], "PUBLIC may neither connect nor create temporary tables"
    assert _may_connect(postgres, name) == {"bluegreen_master", postgres.runtime_role(name)}
    owners = _rows(
        postgres.conninfo(name),
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public'",
    )
    assert owners == [(postgres.owner_role(name),)]
    again = run_migration(postgres, name)
    assert again.returncode == 0 and (log_lines(again)[-1]["database_created"], log_lines(again)[-1]["applied"]) == (
        False,
        [],
    )


def test_two_services_migrating_at_once_each_get_a_database_only_their_runtime_role_can_use(
    postgres: Database,
) -> None:
    web, api = postgres.new_name(), postgres.new_name()

    async def all_at_once() -> list[migrate.Outcome]:
        # Two runs per service: the second one races the first one's CREATE DATABASE.
        configs = [settings.load_migration(postgres.migration_env(n)) for n in (web, api, web, api)]
        return list(await asyncio.gather(*(migrate.run(config) for config in configs)))

    outcomes = asyncio.run(all_at_once())
    shipped = [name for _, name, _ in db.migrations()]
    for index, service in enumerate((web, api)):
        mine = (outcomes[index], outcomes[index + 2])
        assert sorted(o.database_created for o in mine) == [False, True], f"{service} created exactly once"
        assert sorted(n for o in mine for n in o.applied) == shipped, f"each migration applied once in {service}"
    for mine, other in ((web, api), (api, web)):
        with psycopg.connect(postgres.as_runtime(mine), autocommit=True) as app:
            (note_id,) = app.execute("INSERT INTO notes (title) VALUES (%s) RETURNING id", (mine,)).fetchone() or ()
            app.execute("UPDATE notes SET body = 'changed' WHERE id = %s", (note_id,))
            assert app.execute("SELECT title, body FROM notes WHERE id = %s", (note_id,)).fetchone() == (
                mine,
                "changed",
            )
            for refused in (
                f'CREATE DATABASE "{mine}_2"',
                f'DROP DATABASE "{other}"',
                f'DROP DATABASE "{mine}"',
                f'ALTER DATABASE "{mine}" SET default_transaction_read_only = off',
                f'ALTER DATABASE "{other}" OWNER TO CURRENT_USER',
                f'ALTER ROLE "{postgres.runtime_role(mine)}" CREATEDB',
                f'CREATE ROLE "{mine}_extra"',
                f'GRANT "{postgres.runtime_role(other)}" TO CURRENT_USER',
                f'GRANT CONNECT ON DATABASE "{other}" TO CURRENT_USER',
                "CREATE SCHEMA mine",
                "CREATE TEMPORARY TABLE scratch (a int)",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(refused)
        message = _connect_refused(postgres.conninfo(other, postgres.runtime_role(mine), RUNTIME_PASSWORD))
        assert f'permission denied for database "{other}"' in message
        assert _may_connect(postgres, mine) == {"bluegreen_master", postgres.runtime_role(mine)}
    # Each service reads only what it wrote: nothing crossed over.
    for service in (web, api):
        assert _rows(postgres.as_runtime(service), "SELECT title FROM notes") == [(service,)]


def test_one_services_runtime_role_cannot_read_another_services_tables_even_where_it_may_connect(
    postgres: Database,
) -> None:
    """Two layers: CONNECT on the database (above), and grants on the tables, which only the
    service's own runtime role has. Here the first layer is opened by hand, as a mistaken GRANT
    would: the tables still refuse the other service, until its next migration closes the database."""
    web, api = postgres.new_name(), postgres.new_name()
    for service in (web, api):
        postgres.migrate(service)
        with psycopg.connect(postgres.as_runtime(service), autocommit=True) as app:
            app.execute("INSERT INTO notes (title) VALUES (%s)", (service,))
    # The grants, per database and runtime role: each role has exactly its own service's.
    for database in (web, api):
        for service in (web, api):
            role = postgres.runtime_role(service)
            (connect,) = _rows(
                postgres.conninfo(database), "SELECT has_database_privilege(%s, current_database(), 'CONNECT')", (role,)
            )[0]
            tables = _rows(
                postgres.conninfo(database),
                "SELECT c.relname, has_table_privilege(%s, c.oid, 'SELECT'), has_table_privilege(%s, c.oid, 'INSERT')"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
                (role, role),
            )
            mine = database == service
            assert connect is mine, (database, role)
            assert tables == [("notes", mine, mine), ("schema_migrations", mine, False)], (database, role)
    with psycopg.connect(postgres.as_master(web), autocommit=True) as master:
        master.execute(f'GRANT CONNECT ON DATABASE "{web}" TO PUBLIC')
    intruder = postgres.conninfo(web, postgres.runtime_role(api), RUNTIME_PASSWORD)
    with psycopg.connect(intruder, autocommit=True) as other:  # the control: it is in
        assert other.execute("SELECT current_database()").fetchone() == (web,)
        for refused in (
            "SELECT title FROM notes",
            "SELECT count(*) FROM notes",
            "INSERT INTO notes (title) VALUES ('from api')",
            "UPDATE notes SET title = 'from api'",
            "DELETE FROM notes",
            "SELECT nextval('notes_id_seq')",
            "SELECT version FROM schema_migrations",
            "COPY notes TO STDOUT",
            f'SET ROLE "{postgres.runtime_role(web)}"',
            f'SET ROLE "{postgres.owner_role(web)}"',
            "CREATE TABLE notes_copy AS SELECT 1 AS a",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                other.execute(refused)
    postgres.migrate(web)
    assert f'permission denied for database "{web}"' in _connect_refused(intruder)
    assert _rows(postgres.as_runtime(web), "SELECT title FROM notes") == [(web,)], "nothing was changed"


def test_a_runtime_role_another_service_uses_is_refused_before_anything_is_created(postgres: Database) -> None:
    """The app's defaults (app_user, app_owner) are one service's: a second service left on them
    would share the first one's role and read both databases."""
    web, api = postgres.new_name(), postgres.new_name()
    postgres.migrate(web)
    shared = {"DB_USER": postgres.runtime_role(web), "DB_OWNER_ROLE": postgres.owner_role(web)}
    result = run_migration(postgres, api, **shared)
    assert result.returncode == 1
    assert (
        f"the runtime role {postgres.runtime_role(web)} may also connect to {web}: each service needs its own DB_USER"
        in result.stderr
    )
    admin = postgres.conninfo(postgres.admin_dbname)
    assert not _rows(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (api,)), "nothing created"
    own = run_migration(postgres, api)  # the control: its own roles
    assert own.returncode == 0, own.stderr
    assert _may_connect(postgres, api) == {"bluegreen_master", postgres.runtime_role(api)}


def test_an_existing_database_keeps_working_and_is_closed_to_the_other_services(
    postgres: Database, database: str
) -> None:
    """Today's environments: the database RDS made (``database``), migrated by the release before
    this one, which left PUBLIC's CONNECT; another service arrives on the cluster."""
    postgres.migrate(database)
    with psycopg.connect(postgres.as_master(database), autocommit=True) as master:
        master.execute(f'GRANT CONNECT ON DATABASE "{database}" TO PUBLIC')
    with psycopg.connect(postgres.as_runtime(database), autocommit=True) as app:
        app.execute("INSERT INTO notes (title) VALUES ('written before the second service came')")
    newcomer = postgres.new_name()
    postgres.migrate(newcomer)
    intruder = postgres.conninfo(database, postgres.runtime_role(newcomer), RUNTIME_PASSWORD)
    psycopg.connect(intruder).close()  # the hole this closes: the newcomer's role could connect
    result = run_migration(postgres, database)
    assert result.returncode == 0, result.stderr
    done = log_lines(result)[-1]
    assert (done["database_created"], done["applied"], done["taken_over"]) == (False, [], [])
    assert _public_rights(postgres, database) == []
    assert f'permission denied for database "{database}"' in _connect_refused(intruder)
    assert _rows(postgres.as_runtime(database), "SELECT title FROM notes") == [
        ("written before the second service came",)
    ]


def test_a_database_the_master_does_not_own_is_refused_with_the_fix(postgres: Database) -> None:
    """The REVOKE of a role that does not own the database is only a warning: the migration checks."""
    name = postgres.new_name()
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}_someone" NOLOGIN')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}_someone"')
    result = run_migration(postgres, name)
    assert result.returncode == 1
    assert f"the database {name} (owned by {name}_someone) is not closed: PUBLIC still has CONNECT" in result.stderr
    assert f"as its owner: REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC" in result.stderr


def test_a_read_only_cluster_is_skipped_and_no_database_is_created(postgres: Database) -> None:
    """The DR region's replica: every database is read-only, the maintenance one included."""
    maintenance, missing = postgres.create(), postgres.new_name()
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{maintenance}" SET default_transaction_read_only = on')
    result = run_migration(postgres, missing, DB_MAINTENANCE_NAME=maintenance)
    assert result.returncode == 0, result.stderr
    assert log_lines(result)[-1]["read_only"] is True
    admin_conninfo = postgres.conninfo(postgres.admin_dbname)
    assert not _rows(admin_conninfo, "SELECT 1 FROM pg_database WHERE datname = %s", (missing,))


#: What the previous release (schema version 1) runs. Expand/contract: it must keep working
#: against the migrated schema while blue and green share the database during a deployment.
PREVIOUS_RELEASE_QUERIES = [
    ("INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING id, title, body, created_at", ("old", "v1")),
    ("SELECT id, title, body, created_at FROM notes ORDER BY created_at DESC LIMIT %s", (10,)),
    ("SELECT id, title, body, created_at FROM notes WHERE id = %s", (1,)),
]


def _migrate_as_the_previous_version(postgres: Database, dbname: str) -> None:
    """What the service did at start-up before issue 12: every migration as the master user."""
    with psycopg.connect(postgres.as_master(dbname), autocommit=True) as master:
        master.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, name, sql in db.migrations():
            master.execute(sql.encode())
            master.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        master.execute("INSERT INTO notes (title, body) VALUES ('written by the previous version', 'v1')")


def test_a_database_migrated_by_the_previous_version_is_taken_over(postgres: Database, database: str) -> None:
    _migrate_as_the_previous_version(postgres, database)
    master = postgres.as_master(database)
    assert {who for (who,) in _rows(master, "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")} == {
        "bluegreen_master"
    }
    result = run_migration(postgres, database)
    assert result.returncode == 0, result.stderr
    done = log_lines(result)[-1]
    assert done["applied"] == [] and set(done["taken_over"]) == {"notes", "schema_migrations"}
    owners = _rows(
        postgres.conninfo(database),
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public'",
    )
    assert owners == [(postgres.owner_role(database),)], "tables, their sequence and indexes all move"
    (title,) = _rows(postgres.as_runtime(database), "SELECT title FROM notes")[0]
    assert title == "written by the previous version"
    # The previous release, still logged in as the master user, keeps working during the deployment.
    with psycopg.connect(master, autocommit=True) as blue:
        for query, parameters in PREVIOUS_RELEASE_QUERIES:
            blue.execute(query, parameters)
    again = run_migration(postgres, database)
    assert again.returncode == 0 and log_lines(again)[-1]["taken_over"] == []


def test_previous_release_queries_work_on_the_migrated_schema(postgres: Database, database: str) -> None:
    postgres.migrate(database)
    for conninfo in (postgres.as_master(database), postgres.as_runtime(database)):
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for query, parameters in PREVIOUS_RELEASE_QUERIES:
                connection.execute(query, parameters)
    assert _rows(postgres.conninfo(database), "SELECT DISTINCT tags FROM notes WHERE title = 'old'") == [([],)]


def test_every_migration_only_expands_the_schema() -> None:
    for _, name, sql in db.migrations():
        statements = sql.upper()
        for destructive in ("DROP ", "RENAME ", "ALTER COLUMN", "TRUNCATE"):
            assert destructive not in statements, f"{name} contracts the schema ({destructive.strip()})"


def test_a_read_only_database_is_skipped_with_success(postgres: Database, database: str) -> None:
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    result = run_migration(postgres, database)
    assert result.returncode == 0, result.stderr
    assert log_lines(result)[-1]["read_only"] is True
    assert any(e["message"] == "database is read-only (a replica): migrations skipped" for e in log_lines(result))


def test_failures_exit_non_zero_with_a_clear_message_and_no_secret(postgres: Database, database: str) -> None:
    # (A missing DB_NAME is created: tests below. The maintenance database must exist.)
    wrong = run_migration(postgres, database, DB_MAINTENANCE_NAME="no_such_database")
    assert wrong.returncode == 1
    assert "migration failed: OperationalError" in wrong.stderr and "no_such_database" in wrong.stderr
    assert log_lines(wrong)[-1]["message"] == "migration failed"
    unset = run_migration(postgres, database, DB_SECRET="")
    assert (unset.returncode, unset.stderr.strip()) == (
        2,
        "configuration error: environment variable DB_SECRET is not set",
    )
    same = run_migration(postgres, database, DB_USER="bluegreen_master")
    assert same.returncode == 2 and "three different roles" in same.stderr
    taken = run_migration(postgres, "template1")
    assert taken.returncode == 2 and "DB_NAME must be the service's own database" in taken.stderr
    for name in ("postgres", "rdsadmin", "Mixed_Case", "1st", 'x"; DROP DATABASE app; --', "a" * 64):
        with pytest.raises(settings.SettingsError, match="DB_NAME must be the service's own database"):
            settings.load_migration(postgres.migration_env(name))
    with pytest.raises(settings.SettingsError, match="DB_NAME must be the service's own database"):
        settings.load_migration({**postgres.migration_env(database), "DB_MAINTENANCE_NAME": database})
    for output in (wrong.stdout + wrong.stderr, same.stdout + same.stderr):
        assert "master-password" not in output and "runtime-password" not in output


def test_a_runtime_role_with_ddl_rights_is_refused(postgres: Database, database: str) -> None:
    with psycopg.connect(postgres.as_master(database), autocommit=True) as master:
        master.execute(f'CREATE ROLE "{postgres.runtime_role(database)}" LOGIN CREATEROLE')
    result = run_migration(postgres, database)
    assert result.returncode == 1
    assert "has rolcreaterole; it must have none of them" in result.stderr


def test_on_aurora_the_runtime_role_authenticates_with_iam_only(postgres: Database, database: str) -> None:
    """Aurora's rds_iam role (made here as RDS makes it, grantable by the master): the runtime
    role is granted it and has no password."""
    with psycopg.connect(postgres.conninfo(postgres.admin_dbname), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone():
            admin.execute("CREATE ROLE rds_iam NOLOGIN")
        admin.execute("GRANT rds_iam TO bluegreen_master WITH ADMIN OPTION")
    result = run_migration(postgres, database, DB_AUTH="iam", DB_PASSWORD="", AWS_REGION="eu-west-1")
    assert result.returncode == 0, result.stderr
    runtime = postgres.runtime_role(database)
    admin_conninfo = postgres.conninfo(database)
    assert _rows(admin_conninfo, "SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')", (runtime,)) == [(True,)]
    assert _rows(admin_conninfo, "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = %s", (runtime,)) == [
        (True,)
    ]


# --- IAM authentication: a fresh token for every new connection ---


class FakeRds:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return f"token-{len(self.calls)}"


IAM_ENV = {"PORT": "8080", "DB_HOST": "db.cluster-x.eu-west-1.rds.amazonaws.com", "DB_PORT": "5432",
           "DB_NAME": "app", "DB_USER": "app_user", "DB_AUTH": "iam", "AWS_REGION": "eu-west-1",
           "DB_SSLMODE": "require"}  # fmt: skip


def test_every_new_connection_gets_a_fresh_iam_token() -> None:
    config = settings.load(IAM_ENV)
    rds = FakeRds()
    kwargs = db.connection_kwargs(config, db.IamTokens("db.example", 5432, "app_user", "eu-west-1", rds))
    first, second = asyncio.run(kwargs()), asyncio.run(kwargs())
    assert (first["password"], second["password"]) == ("token-1", "token-2")
    assert rds.calls[0] == {"DBHostname": "db.example", "Port": 5432, "DBUsername": "app_user", "Region": "eu-west-1"}
    pool = db.create_pool(config)
    assert callable(pool.kwargs), "the pool must ask for connection parameters for every connection"
    assert "password" not in pool.conninfo


def test_the_iam_token_is_signed_by_botocore_for_the_runtime_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    token = db.IamTokens("db.example", 5432, "app_user", "eu-west-1").generate()
    assert token.startswith("db.example:5432/?Action=connect&DBUser=app_user&")
    assert "X-Amz-Signature=" in token and "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F" in token
    assert "%2Feu-west-1%2Frds-db%2Faws4_request" in token


def test_password_mode_connects_with_the_given_password(postgres: Database, database: str) -> None:
    postgres.migrate(database)
    config = settings.load({**postgres.app_env(database), "PORT": "1"})
    assert asyncio.run(db.connection_kwargs(config)())["password"] == "runtime-password"
