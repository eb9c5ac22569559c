"""Issue 17/4, "the read-only role can write": every write path tried as ``ww_reader``.

``ww_reader`` is the role Grafana and the planners' API log in as, so anyone who learns
its password must be unable to change anything anywhere on the server.  The attacks run
against the real TimescaleDB of the session's stack, in a session that first turns the
role's read-only default off (``default_transaction_read_only`` is a user-settable
parameter, so an attacker can), so what is tested is the privileges.  Each attack must
fail with a permission error (SQLSTATE 42501).  Where it makes sense, a control runs the
same statement as a role that holds the privilege (the owner, or the run-time role that
needs it), so a broken attack cannot pass for a working lock.

The module migrates a database of its own, dropped at the end: some controls commit (a
chunk of ``readings``, a large object of the owner's), and that database is itself "a
database created after the stack was set up".
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

from tests.conftest import SessionDb, StackEnv, fresh_database
from wastewatch.schema.migrate import ensure_login_roles, migrate_with_roles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

Conn = psycopg.Connection[tuple[Any, ...]]

READER = "ww_reader"
INV_WRITE = 0x20000  # lo_open mode: write
CHUNK_READING = """
    insert into readings (time, device_id, boot_counter, seq, payload_version)
    values ('1990-01-01T00:00:00Z', 'ww-db-roles', 0, 0, 1)
"""


def on(dsn: str, database: str) -> str:
    return make_conninfo(dsn, dbname=database)


@dataclass(frozen=True)
class RolesDb:
    db: SessionDb
    chunk: str  # a chunk of readings (1990) holding one row
    owner_lo: int  # a large object the owner made


@pytest.fixture(scope="module")
def roles_db(stack_env: StackEnv) -> Iterator[RolesDb]:
    with fresh_database(stack_env, "ww_test_roles") as db:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute(CHUNK_READING)
            chunk = conn.execute("select show_chunks('readings')::text").fetchone()
            lo = conn.execute("select lo_from_bytea(0, 'the owner''s')").fetchone()
        assert chunk is not None
        assert lo is not None
        yield RolesDb(db=db, chunk=str(chunk[0]), owner_lo=int(lo[0]))


@pytest.fixture
def reader(roles_db: RolesDb) -> Iterator[Conn]:
    """ww_reader as an attacker: read-only default turned off, autocommit."""
    with psycopg.connect(roles_db.db.reader_dsn, autocommit=True) as conn:
        conn.execute("select set_config('default_transaction_read_only', 'off', false)")
        yield conn


@pytest.fixture
def owner(roles_db: RolesDb) -> Iterator[Conn]:
    with psycopg.connect(roles_db.db.dsn, autocommit=True) as conn:
        yield conn


def refused(conn: Conn, stmt: str, *, in_transaction: bool = True) -> str:
    """``stmt`` fails with a permission error (in a transaction block unless it cannot run
    in one); returns the message."""
    with pytest.raises(pg_errors.InsufficientPrivilege) as info:
        run(conn, stmt, in_transaction=in_transaction)
    return str(info.value)


def run(conn: Conn, stmt: str, *, in_transaction: bool = True) -> None:
    if not in_transaction:
        conn.execute(stmt)
        return
    with conn.transaction():
        conn.execute(stmt)


def first_column(conn: Conn, query: str) -> list[str]:
    """The first column of every row ``query`` gives, as text (what a role can see)."""
    return [str(r[0]) for r in conn.execute(query)]


def works(conn: Conn, stmt: str) -> None:
    """The control: ``stmt`` runs for this role (rolled back)."""
    with conn.transaction(force_rollback=True):
        conn.execute(stmt)


def connect_error(dsn: str) -> str | None:
    """Why a connection with ``dsn`` is refused, or None when it is accepted."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=5)
    except psycopg.OperationalError as exc:
        return str(exc)
    conn.close()
    return None


def is_project_database(admin_dsn: str, name: str) -> bool:
    """A database the project migrated (its migrations grant CONNECT explicitly)."""
    try:
        with psycopg.connect(on(admin_dsn, name), connect_timeout=5) as conn:
            row = conn.execute("select to_regclass('public.ww_schema_migrations')").fetchone()
    except psycopg.OperationalError:
        return False  # dropped meanwhile
    return row is not None and row[0] is not None


# --- the read-only default -------------------------------------------------------------


def test_the_reader_is_read_only_by_default_but_that_is_not_the_lock(roles_db: RolesDb) -> None:
    with psycopg.connect(roles_db.db.reader_dsn, autocommit=True) as conn:
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(pg_errors.ReadOnlySqlTransaction):
            conn.execute("delete from alerts")
        # Any session may turn it off (it only guards against mistakes) ...
        row = conn.execute("select set_config('default_transaction_read_only', 'off', false)")
        assert row.fetchone() == ("off",)
        # ... and then the privileges are what stops a write.
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("delete from alerts")


def test_a_reader_login_of_its_own_is_read_only_and_db_migrate_restores_it(
    roles_db: RolesDb, owner: Conn
) -> None:
    """docker-compose's shape: the reader logs in as a member of ww_reader, not as the
    group; role settings are not inherited, so db migrate sets them on that login."""
    user = f"ww_test_reader_{uuid.uuid4().hex[:8]}"
    dsn = make_conninfo(roles_db.db.reader_dsn, user=user, password=secrets.token_urlsafe(12))

    def read_only() -> str:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("show default_transaction_read_only").fetchone()
        assert row is not None
        return str(row[0])

    try:
        ensure_login_roles(roles_db.db.dsn, writer_dsn=None, reader_dsn=dsn)
        assert read_only() == "on"  # and it connects through its group's CONNECT
        rw = make_conninfo(dsn, options="-c default_transaction_read_only=off")
        with psycopg.connect(rw, autocommit=True) as conn:
            refused(conn, "select lo_from_bytea(0, 'x')")
            # PostgreSQL lets every role change its own defaults ...
            conn.execute(f'alter role "{user}" set default_transaction_read_only = off')
        assert read_only() == "off"
        ensure_login_roles(roles_db.db.dsn, writer_dsn=None, reader_dsn=dsn)
        assert read_only() == "on"  # ... and db migrate sets it again
        error = connect_error(on(dsn, "postgres"))
        assert error is not None
        assert "permission denied for database" in error
    finally:
        owner.execute(f'drop role if exists "{user}"')


# --- large objects -----------------------------------------------------------------------

LARGE_OBJECT_WRITES = [
    "select lo_from_bytea(0, 'x')",
    "select lo_create(0)",
    "select lo_creat(-1)",
    "select lo_import('/etc/passwd')",  # a server-side file
    "select lo_put({lo}, 0, 'x')",
    "select lo_unlink({lo})",
    f"select lo_open({{lo}}, {INV_WRITE})",
    f"select lo_truncate(lo_open({{lo}}, {INV_WRITE}), 0)",
]


@pytest.mark.parametrize("stmt", LARGE_OBJECT_WRITES)
def test_no_large_object_can_be_made_or_changed(
    stmt: str, roles_db: RolesDb, reader: Conn, owner: Conn
) -> None:
    sql = stmt.format(lo=roles_db.owner_lo)
    works(owner, sql)
    refused(reader, sql)
    row = owner.execute(
        "select count(*) from pg_largeobject_metadata where lomowner = %s::regrole", [READER]
    ).fetchone()
    assert row == (0,)
    assert owner.execute("select lo_get(%s)", [roles_db.owner_lo]).fetchone() == (b"the owner's",)


def test_no_large_object_even_in_a_read_only_transaction(roles_db: RolesDb) -> None:
    """The issue's report: lo_from_bytea returned an OID inside BEGIN READ ONLY."""
    with psycopg.connect(roles_db.db.reader_dsn, autocommit=True) as conn:
        refused(conn, "set transaction read only; select lo_from_bytea(0, 'x')")


# --- temporary objects -------------------------------------------------------------------

TEMP_OBJECTS = [
    "create temp table ww_x (a int)",
    "create table pg_temp.ww_x (a int)",
    "create temp sequence ww_x",
    "create temp view ww_x as select 1 as a",
    "create function pg_temp.ww_x() returns int language sql as 'select 1'",
]


@pytest.mark.parametrize("stmt", TEMP_OBJECTS)
def test_no_temporary_objects(stmt: str, roles_db: RolesDb, reader: Conn) -> None:
    # Control: the sink's role keeps TEMP (its staging table is a temp table).
    with psycopg.connect(roles_db.db.ingest_dsn, autocommit=True) as ingest:
        works(ingest, stmt)
    assert "temporary" in refused(reader, stmt)


# --- schemas, functions, extensions ----------------------------------------------------


def test_nothing_can_be_created_in_any_schema(reader: Conn, owner: Conn) -> None:
    schemas = first_column(
        reader,
        "select nspname from pg_namespace where has_schema_privilege(oid, 'USAGE') "
        "and nspname !~ '^pg_(toast_)?temp_'",
    )
    assert {"public", "pg_catalog", "_timescaledb_functions"} <= set(schemas)
    works(owner, "create function public.ww_x() returns int language sql as 'select 1'")
    for nsp in schemas:
        refused(reader, f"create function \"{nsp}\".ww_x() returns int language sql as 'select 1'")
        refused(reader, f'create table "{nsp}".ww_x (a int)')
        refused(reader, f'create view "{nsp}".ww_x as select 1 as a')


def test_no_schema_extension_or_publication(reader: Conn, owner: Conn) -> None:
    trusted = owner.execute(
        "select name from pg_available_extension_versions "
        "where trusted and not installed order by name limit 1"
    ).fetchone()
    assert trusted is not None, "no trusted extension available to try"
    for stmt in (
        "create schema ww_x",
        f'create extension "{trusted[0]}"',  # trusted: needs only CREATE on the database
        "create publication ww_x for table bins",
    ):
        works(owner, stmt)
        refused(reader, stmt)


# --- other databases ---------------------------------------------------------------------


def test_other_databases_refuse_the_reader(roles_db: RolesDb) -> None:
    db = roles_db.db
    for name in ("postgres", "template1"):
        assert connect_error(on(db.dsn, name)) is None  # control: the owner may
        error = connect_error(on(db.reader_dsn, name))
        assert error is not None, name
        assert "permission denied for database" in error, name
    assert connect_error(on(db.reader_dsn, "template0")) is not None
    # Every other database on the server: only the project's own let ww_reader in.  The
    # list is taken before `db migrate` (what closes the rest) runs, so a database another
    # session creates meanwhile is not counted; one that session migrates meanwhile grants
    # CONNECT explicitly, as a project database does.
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        databases = first_column(conn, "select datname from pg_database")
    migrate_with_roles(db)
    for name in databases:
        if connect_error(on(db.reader_dsn, name)) is None:
            assert is_project_database(db.dsn, name), f"ww_reader may connect to {name}"


def _acl(conn: Conn, name: str) -> dict[str, str] | None:
    """A database's ACL as grantee -> privilege letters ('' is PUBLIC); None is the
    built-in default (owner all, PUBLIC CONNECT and TEMP)."""
    row = conn.execute(
        "select datacl::text[] from pg_database where datname = %s", [name]
    ).fetchone()
    assert row is not None, name
    if row[0] is None:
        return None
    return {item.split("=")[0]: item.split("=")[1].split("/")[0] for item in row[0]}


def test_a_database_created_later_grants_connect_only_explicitly(
    roles_db: RolesDb, owner: Conn
) -> None:
    db = roles_db.db
    # A project database made after the stack's set-up (like every test session's):
    # PUBLIC gets nothing, each run-time role what it needs.
    acl = _acl(owner, db.name)
    assert acl is not None
    assert "" not in acl, acl
    roles = {k: v for k, v in acl.items() if k.startswith("ww_") and k != "ww_admin"}
    assert roles == {"ww_reader": "c", "ww_processor": "c", "ww_ingest": "Tc", "ww_writer": "Tc"}
    for dsn in (db.reader_dsn, db.writer_dsn, db.ingest_dsn, db.processor_dsn):
        assert connect_error(dsn) is None

    # A bare database someone makes by hand: PostgreSQL gives every new database a built-in
    # default ACL (PUBLIC: CONNECT, TEMP) rather than template1's, so it is open until the
    # next `db migrate`; the functions come closed from template1 at once.
    bare = f"ww_test_bare_{uuid.uuid4().hex[:8]}"
    server = on(db.dsn, "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{bare}"')
    try:
        assert connect_error(on(db.reader_dsn, bare)) is None  # the attack, before the lock
        with psycopg.connect(on(db.dsn, bare), autocommit=True) as conn:
            for fn in ("lo_from_bytea(oid, bytea)", "lo_create(oid)", "lo_creat(integer)"):
                row = conn.execute(
                    "select has_function_privilege(%s, %s, 'EXECUTE')", [READER, fn]
                ).fetchone()
                assert row == (False,), fn
            row = conn.execute(
                "select has_function_privilege(%s, "
                "'pg_logical_emit_message(boolean, text, text)', 'EXECUTE')",
                [READER],
            ).fetchone()
            assert row == (False,)
        migrate_with_roles(db)  # what `wastewatch db migrate` runs
        error = connect_error(on(db.reader_dsn, bare))
        assert error is not None
        assert "permission denied for database" in error
        bare_acl = _acl(owner, bare)
        assert bare_acl is not None
        assert "" not in bare_acl, bare_acl
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{bare}" with (force)')


# --- COPY ------------------------------------------------------------------------------


def test_copy_from_stdin_into_a_table_is_refused(roles_db: RolesDb, reader: Conn) -> None:
    stmt = "copy zones (zone_id, name_en, name_th) from stdin"
    with (  # control: the writer may (rolled back)
        psycopg.connect(roles_db.db.writer_dsn, autocommit=True) as writer,
        writer.transaction(force_rollback=True),
        writer.cursor().copy(stmt) as copy,
    ):
        copy.write_row(("ww-x", "x", "x"))
    with pytest.raises(pg_errors.InsufficientPrivilege), reader.cursor().copy(stmt) as copy:
        copy.write_row(("ww-x", "x", "x"))


def test_copy_to_or_from_server_files_and_programs_is_refused(reader: Conn, owner: Conn) -> None:
    target = Path(f"/tmp/ww-db-roles-{uuid.uuid4().hex[:8]}.csv")
    try:
        owner.execute(f"copy bins to '{target}'")  # control: the superuser may
        assert target.exists()
        target.unlink()
        refused(reader, f"copy bins to '{target}'")
        assert not target.exists()
        refused(reader, "copy zones from '/etc/passwd'")
        refused(reader, "copy (select 1) to program 'true'")
    finally:
        target.unlink(missing_ok=True)


# --- every project table and sequence ---------------------------------------------------


def _project_tables(owner: Conn) -> list[tuple[str, str]]:
    """(qualified name, first column) of every table in public and every chunk."""
    return [
        (str(r[0]), str(r[1]))
        for r in owner.execute(
            """
            select c.oid::regclass::text,
                   (select quote_ident(a.attname) from pg_attribute a
                    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                    order by a.attnum limit 1)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.relkind in ('r', 'p')
              and (n.nspname = 'public' or c.oid in (
                    select format('%I.%I', schema_name, table_name)::regclass
                    from _timescaledb_catalog.chunk where not dropped))
            order by 1
            """
        )
    ]


def test_no_insert_update_delete_truncate_or_lock_on_any_table(
    roles_db: RolesDb, reader: Conn, owner: Conn
) -> None:
    tables = _project_tables(owner)
    names = {t for t, _ in tables}
    assert {"readings", "bins", "alerts", "ww_schema_migrations", roles_db.chunk} <= names
    for table, col in tables:
        for stmt in (
            f"insert into {table} select * from {table} limit 0",
            f"update {table} set {col} = {col} where false",
            f"delete from {table} where false",
            f"select 1 from {table} for update",
            f"select 1 from {table} for key share",
            f"lock table {table} in row exclusive mode",
            f"lock table {table} in access exclusive mode",
        ):
            works(owner, stmt)
            refused(reader, stmt)
        works(owner, f"truncate {table} cascade")
        refused(reader, f"truncate {table}")


def test_no_sequence_can_be_advanced_or_set(roles_db: RolesDb, reader: Conn) -> None:
    seqs = first_column(
        reader,
        "select c.oid::regclass::text from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where c.relkind = 'S' and n.nspname = 'public'",
    )
    assert "webhook_outbox_id_seq" in seqs
    with psycopg.connect(roles_db.db.writer_dsn, autocommit=True) as writer:
        for seq in seqs:
            for stmt in (f"select nextval('{seq}')", f"select setval('{seq}', 1000)"):
                works(writer, stmt)
                refused(reader, stmt)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            """
            select c.oid::regclass::text from pg_class c
            where c.relkind in ('r', 'p', 'v', 'm', 'f')
              and c.oid <> 'pg_catalog.pg_settings'::regclass  -- UPDATE there = set_config()
              and (has_table_privilege(c.oid, 'INSERT') or has_table_privilege(c.oid, 'UPDATE')
                   or has_table_privilege(c.oid, 'DELETE')
                   or has_table_privilege(c.oid, 'TRUNCATE'))
            """,
            [],
            id="tables",
        ),
        pytest.param(
            "select oid::regclass::text from pg_class where relkind = 'S' and "
            "(has_sequence_privilege(oid, 'USAGE') or has_sequence_privilege(oid, 'UPDATE'))",
            [],
            id="sequences",
        ),
        pytest.param(
            "select nspname from pg_namespace where has_schema_privilege(oid, 'CREATE')",
            [],
            id="schemas",
        ),
        pytest.param(
            "select has_database_privilege(current_database(), 'CREATE'), "
            "has_database_privilege(current_database(), 'TEMP')",
            [(False, False)],
            id="database",
        ),
        # A SECURITY DEFINER function runs as its owner (here the superuser who installed
        # TimescaleDB): none may be callable.
        pytest.param(
            "select oid::regprocedure::text from pg_proc "
            "where prosecdef and has_function_privilege(oid, 'EXECUTE')",
            [],
            id="security-definer-functions",
        ),
        pytest.param(
            "select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
            "(select count(*) from pg_auth_members m where m.member = r.oid) "
            "from pg_roles r where rolname = current_user",
            [(False, False, False, False, False, 0)],
            id="role",
        ),
    ],
)
def test_the_reader_holds_no_write_privilege_in_the_catalog(
    reader: Conn, query: str, expected: list[tuple[object, ...]]
) -> None:
    """Everything above, asked of the catalog: whatever a later migration adds is covered."""
    assert reader.execute(query).fetchall() == expected


# --- DDL on project objects -------------------------------------------------------------


def test_project_objects_cannot_be_altered_or_dropped(
    roles_db: RolesDb, reader: Conn, owner: Conn
) -> None:
    db = roles_db.db.name
    per_table = [
        "alter table {t} add column ww_x int",
        "alter table {t} owner to ww_reader",
        "alter table {t} enable row level security",
        "drop table {t} cascade",
        "comment on table {t} is 'x'",
        "create index on {t} ({c})",
        "create trigger ww_x before insert on {t} for each row "
        "execute function suppress_redundant_updates_trigger()",
        "create policy ww_x on {t} using (true)",
        "reindex table {t}",
    ]
    for table, col in _project_tables(owner):
        if table == roles_db.chunk:
            continue  # TimescaleDB forbids some of these on chunks even for the owner
        for stmt in per_table:
            sql = stmt.format(t=table, c=col)
            works(owner, sql)
            refused(reader, sql)
    for stmt in (
        "create rule ww_x as on insert to bins do instead nothing",  # not on hypertables
        "alter sequence webhook_outbox_id_seq restart",
        "drop sequence webhook_outbox_id_seq cascade",
        "drop function bin_battery_daily_merge() cascade",
        "alter function bin_battery_daily_merge() security definer",
        "drop schema public cascade",
        "alter schema public rename to ww_x",
        f"alter database \"{db}\" set work_mem = '1GB'",
        f'alter database "{db}" rename to ww_x',
        "drop extension timescaledb cascade",
    ):
        if not stmt.startswith(("alter database", "drop schema", "drop extension")):
            works(owner, stmt)
        refused(reader, stmt)
    # TimescaleDB refuses an update once its library is loaded in the session, before any
    # ownership check: a fresh session, with the read-only default off from its start.
    fresh = make_conninfo(roles_db.db.reader_dsn, options="-c default_transaction_read_only=off")
    with psycopg.connect(fresh, autocommit=True) as conn:
        refused(conn, "alter extension timescaledb update", in_transaction=False)
    refused(reader, f'drop database "{db}"', in_transaction=False)
    refused(reader, "drop database postgres", in_transaction=False)


# --- TimescaleDB ------------------------------------------------------------------------

#: (attack, control run by the owner or None where the control has side effects or the
#: Apache build lacks the function).  {chunk} is a chunk of readings.
TIMESCALEDB_WRITES: list[tuple[str, str | None]] = [
    ("select drop_chunks('readings', older_than => now())", "same"),
    ("select _timescaledb_functions.drop_chunk('{chunk}')", "same"),  # no owner check in 2.19
    ("select _timescaledb_internal.drop_chunk('{chunk}')", "same"),
    ("select add_dimension('readings', by_hash('device_id', 4))", "same"),
    ("select set_chunk_time_interval('readings', interval '1 day')", "same"),
    ("select attach_tablespace('pg_default', 'readings')", "same"),
    ("select detach_tablespaces('readings')", "same"),
    (
        "select create_hypertable('zones', by_range('updated_at'))",
        "create table ww_ht (t timestamptz not null); "
        "select create_hypertable('ww_ht', by_range('t'))",
    ),
    (
        "select _timescaledb_functions.chunk_index_clone("
        "(select indexrelid from pg_index where indrelid = '{chunk}'::regclass limit 1))",
        "same",
    ),
    ("select _timescaledb_functions.freeze_chunk('{chunk}')", None),
    ("select _timescaledb_functions.unfreeze_chunk('{chunk}')", None),
    ("select _timescaledb_functions.drop_osm_chunk('readings')", None),
    ("select _timescaledb_functions.attach_osm_table_chunk('readings', 'bins')", "same"),
    (
        "select _timescaledb_functions.hypertable_osm_range_update("
        "'readings', now(), now(), false)",
        None,
    ),
    ("call _timescaledb_functions.cagg_migrate_update_watermark(1)", None),  # SECURITY DEFINER
    ("select timescaledb_pre_restore()", None),
    ("select timescaledb_post_restore()", None),
    ("select _timescaledb_functions.stop_background_workers()", None),
    ("select _timescaledb_functions.start_background_workers()", None),
    ("select _timescaledb_functions.restart_background_workers()", None),
]


@pytest.mark.parametrize(
    ("attack", "control"), TIMESCALEDB_WRITES, ids=[a.split("(")[0] for a, _ in TIMESCALEDB_WRITES]
)
def test_timescaledb_functions_that_change_hypertables_are_refused(
    attack: str, control: str | None, roles_db: RolesDb, reader: Conn, owner: Conn
) -> None:
    sql = attack.format(chunk=roles_db.chunk)
    if control is not None:
        works(owner, sql if control == "same" else control)
    refused(reader, sql)
    row = owner.execute(
        "select count(*), (select count(*) from show_chunks('readings')) from readings "
        "where device_id = 'ww-db-roles'"
    ).fetchone()
    assert row == (1, 1), "the chunk and its reading must survive"


# --- the server, roles and grants ---------------------------------------------------------

SERVER_WRITES = [
    "select pg_logical_emit_message(false, 'ww', 'x')",  # writes WAL: a disk to fill
    "select pg_create_logical_replication_slot('ww_x', 'pgoutput')",
    "select pg_create_physical_replication_slot('ww_x')",
    "select pg_import_system_collations('public')",
    "select pg_reload_conf()",
    "select pg_rotate_logfile()",
    "select pg_switch_wal()",
    "select pg_stat_reset()",
    "select pg_read_file('/etc/passwd')",
    "create role ww_x",
    "alter role ww_writer nologin",
    "alter role ww_ingest password 'x'",
    "drop role ww_processor",
    "create event trigger ww_x on ddl_command_start execute function pg_catalog.now()",
    "create foreign data wrapper ww_x",
    "set role ww_writer",
    "set role ww_ingest",
    "set role ww_processor",
    "set role ww_admin",
    "set session authorization ww_admin",
    "grant ww_writer to ww_reader",
    "grant pg_write_server_files to ww_reader",
    "grant pg_execute_server_program to ww_reader",
    "grant connect on database postgres to ww_reader",
    "load 'auto_explain'",
]


@pytest.mark.parametrize("stmt", SERVER_WRITES, ids=[s[:48] for s in SERVER_WRITES])
def test_server_wide_writes_and_other_roles_are_refused(
    stmt: str, roles_db: RolesDb, reader: Conn
) -> None:
    refused(reader, stmt.format(db=f'"{roles_db.db.name}"'))


@pytest.mark.parametrize(
    "stmt",
    [
        "create database ww_x",
        "alter system set work_mem = '1GB'",
        "checkpoint",
        "create tablespace ww_x location '/tmp'",
    ],
)
def test_server_commands_outside_transactions_are_refused(stmt: str, reader: Conn) -> None:
    refused(reader, stmt, in_transaction=False)


def test_a_grant_on_objects_the_reader_may_read_grants_nothing(
    roles_db: RolesDb, reader: Conn
) -> None:
    """On an object where the reader holds some privilege (without grant option),
    PostgreSQL answers a GRANT with a warning, not an error: nothing may change."""
    notices: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        notices.append(str(diag.message_primary))

    reader.add_notice_handler(keep)
    statements = (
        "grant insert, update, delete, truncate on bins to ww_reader",
        "grant all on readings to public",
        "grant create on schema public to ww_reader",
        "grant update on webhook_outbox_id_seq to public",
        f'grant temporary, create on database "{roles_db.db.name}" to ww_reader',
    )
    for stmt in statements:
        reader.execute(stmt)
    assert len(notices) >= len(statements), notices  # a hypertable's chunks warn too
    assert all("no privileges were granted" in n for n in notices), notices
    row = reader.execute(
        "select has_table_privilege('bins', 'INSERT'), has_table_privilege('readings', 'DELETE'),"
        " has_schema_privilege('public', 'CREATE'),"
        " has_sequence_privilege('webhook_outbox_id_seq', 'UPDATE'),"
        " has_database_privilege(current_database(), 'TEMP')"
    ).fetchone()
    assert row == (False, False, False, False, False)


def test_harmless_calls_still_work(reader: Conn) -> None:
    """What Grafana and the API need, and the calls the issue lets stay: reading,
    notifications, advisory locks, session settings."""
    assert reader.execute("select count(*) >= 0 from readings").fetchone() == (True,)
    reader.execute("select pg_notify('ww_db_roles', 'x')")
    reader.execute("listen ww_db_roles")
    reader.execute("unlisten ww_db_roles")
    key = "select hashtext('ww-db-roles-test')"
    assert reader.execute(f"select pg_try_advisory_lock(({key}))").fetchone() == (True,)
    assert reader.execute(f"select pg_advisory_unlock(({key}))").fetchone() == (True,)
    assert reader.execute("select set_config('work_mem', '8MB', false)").fetchone() == ("8MB",)
