"""Apply the numbered SQL migrations in `schema/sql/`, each once, each in a transaction.

`ww_schema_migrations` records what was applied with the file's checksum; a
changed checksum of an applied file is an error (a shipped migration is never
edited: add a new one).  A session advisory lock serialises concurrent
migrators (two containers starting at once).  TimescaleDB is checked first so
that a plain PostgreSQL gets one clear message instead of a failing
`create_hypertable` halfway through.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from wastewatch.errors import WastewatchError

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x77_77_6D_69  # "wwmi": any constant unique to this project
WRITER_GROUP = "ww_writer"
READER_GROUP = "ww_reader"
INGEST_GROUP = "ww_ingest"
PROCESSOR_GROUP = "ww_processor"
PROJECT_MARKER = "public.ww_schema_migrations"
"""The table that makes a database the project's: its migrations decide who may connect."""

#: pg_catalog functions closed to PUBLIC in every database: large objects (any role could
#: make them, of any size, even in a read-only transaction) and WAL messages (likewise).
#: Migration 0010 closes them in the project's databases, :func:`lock_down_cluster` in
#: the others and in template1.
PUBLIC_WRITE_FUNCTIONS: Final = (
    "lo_creat",
    "lo_create",
    "lo_from_bytea",
    "lo_import",
    "lo_export",
    "lo_open",
    "lo_close",
    "loread",
    "lowrite",
    "lo_lseek",
    "lo_lseek64",
    "lo_tell",
    "lo_tell64",
    "lo_truncate",
    "lo_truncate64",
    "lo_unlink",
    "lo_get",
    "lo_put",
    "pg_logical_emit_message",
)

# Databases where PUBLIC (every role) may still connect or make temp objects; a NULL ACL
# is PostgreSQL's built-in default, which grants PUBLIC both.
_OPEN_DATABASES = """
select d.datname, d.datallowconn
from pg_database d
where d.datacl is null
   or exists (select 1 from aclexplode(d.datacl) a
              where a.grantee = 0 and a.privilege_type in ('CONNECT', 'TEMPORARY'))
order by d.datname
"""
_PUBLIC_ROUTINES = """
select p.oid::regprocedure::text
from pg_proc p
where p.pronamespace = 'pg_catalog'::regnamespace and p.proname = any(%s)
  and (p.proacl is null
       or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0))
"""


class MigrationError(WastewatchError):
    """A migration could not be applied; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = SQL_DIR) -> list[Migration]:
    """The migrations in version order; gaps or duplicate numbers are errors."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3... without gaps: {versions}")
    return found


def check_timescaledb(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Fail with instructions unless TimescaleDB is installed and preloaded."""
    row = conn.execute(
        "select default_version from pg_available_extensions where name = 'timescaledb'"
    ).fetchone()
    if row is None:
        raise MigrationError(
            "TimescaleDB is not installed on this PostgreSQL server. "
            "Locally, `wastewatch services up` builds and starts it; in production use the "
            "timescale/timescaledb image from docker-compose.yml."
        )
    preload = conn.execute("show shared_preload_libraries").fetchone()
    if preload is None or "timescaledb" not in str(preload[0]):
        raise MigrationError(
            "TimescaleDB is installed but not preloaded: add timescaledb to "
            "shared_preload_libraries in postgresql.conf and restart PostgreSQL."
        )


def applied_versions(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, str]:
    """version -> checksum of what this database has applied."""
    conn.execute(
        """
        create table if not exists ww_schema_migrations (
            version     integer primary key,
            name        text not null,
            checksum    text not null,
            applied_at  timestamptz not null default now()
        )
        """
    )
    rows = conn.execute("select version, checksum from ww_schema_migrations").fetchall()
    return {int(str(v)): str(c) for v, c in rows}


def migrate(dsn: str, *, directory: Path = SQL_DIR) -> list[Migration]:
    """Apply pending migrations; returns those applied now (empty when up to date)."""
    migrations = discover(directory)
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to the database: {exc}".strip()) from exc
    with conn:
        check_timescaledb(conn)
        conn.execute("select pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            done = applied_versions(conn)
            applied: list[Migration] = []
            for mig in migrations:
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationError(
                            f"{mig.path.name} was changed after it was applied; "
                            "never edit a shipped migration, add a new one"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(mig.sql.encode())
                        conn.execute(
                            "insert into ww_schema_migrations (version, name, checksum) "
                            "values (%s, %s, %s)",
                            [mig.version, mig.name, mig.checksum],
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{mig.path.name} failed: {exc}".strip()) from exc
                applied.append(mig)
            return applied
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [_LOCK_KEY])


def pending(dsn: str, *, directory: Path = SQL_DIR) -> list[Migration]:
    """Migrations not yet applied to the database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = applied_versions(conn)
    return [m for m in discover(directory) if m.version not in done]


def ensure_login_roles(
    dsn: str,
    *,
    writer_dsn: str | None,
    reader_dsn: str | None,
    ingest_dsn: str | None = None,
    processor_dsn: str | None = None,
) -> list[str]:
    """Give the login roles named in the role DSNs their group and password.

    One DSN per group: writer (``ww_writer``), reader (``ww_reader``), ingest
    (``ww_ingest``) and processor (``ww_processor``, migration 0009).  A DSN
    whose user is the group itself (the local stack's choice) makes the group a
    login role; any other user is created as a member of the group.  Passwords
    are passed as SQL literals built by psycopg, never pasted.  A login role is
    never a superuser: a DSN naming one is refused.

    The reader's login role gets ``default_transaction_read_only = on`` (a role's
    settings apply to the role that logs in, not to its members, hence here and not
    in a migration).  It guards Grafana, the API and the CLI against a privilege
    granted by mistake; it is not the lock, since any session (and the role itself,
    with ``ALTER ROLE``) may turn it off, so each run sets it again, as it does the
    password.  The lock is the privileges (migration 0010, :func:`lock_down_cluster`).
    """
    pairs = (
        (writer_dsn, WRITER_GROUP),
        (reader_dsn, READER_GROUP),
        (ingest_dsn, INGEST_GROUP),
        (processor_dsn, PROCESSOR_GROUP),
    )
    wanted = [(d, g) for d, g in pairs if d]
    changed: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role_dsn, group in wanted:
            info = conninfo_to_dict(role_dsn)
            user = str(info.get("user") or "")
            password = info.get("password")
            if not user:
                raise MigrationError(f"the DSN for {group} names no user")
            found = conn.execute(
                "select rolsuper from pg_roles where rolname = %s", [user]
            ).fetchone()
            if found is not None and found[0]:
                raise MigrationError(
                    f"the DSN for {group} names {user!r}, a superuser; give it a role of its own"
                )
            exists = found is not None
            verb = "alter" if exists else "create"
            stmt = sql.SQL(verb + " role {} with login").format(sql.Identifier(user))
            if password is not None:
                stmt = sql.SQL("{} password {}").format(stmt, sql.Literal(str(password)))
            conn.execute(stmt)
            if user != group:
                conn.execute(
                    sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(user))
                )
            if group == READER_GROUP:
                conn.execute(
                    sql.SQL("alter role {} set default_transaction_read_only = on").format(
                        sql.Identifier(user)
                    )
                )
            changed.append(user)
    return changed


def lock_down_cluster(dsn: str) -> list[str]:
    """Close every database on the server that is not the project's; returns those closed.

    PostgreSQL lets PUBLIC, so every role, connect to a database and make temporary
    objects in it unless its ACL says otherwise, and lets PUBLIC call the large-object
    functions and ``pg_logical_emit_message`` (:data:`PUBLIC_WRITE_FUNCTIONS`).
    Migration 0010 closes the project's own databases and grants CONNECT to the roles
    that need it.  This closes the rest (``postgres``, ``template1``, ``template0`` and
    any database made by hand): it revokes CONNECT and TEMP from PUBLIC and, in each one
    it can enter, EXECUTE on those functions.  After it, ww_reader (or any run-time role)
    can connect only where the project granted it.  It is idempotent: a database already
    closed is not entered again.

    Why here: it needs the superuser DSN, and ``migrate_with_roles`` (``wastewatch db
    migrate``) is the one step that holds it on every cluster the project runs on (the
    local stack, compose's migrate service, test and benchmark databases).  ``services
    up`` sets up the local stack only, and before ``db migrate`` no run-time role may log
    in anyway.

    Why databases made later are not closed at birth: PostgreSQL gives a new database a
    built-in default ACL (PUBLIC: CONNECT, TEMP) rather than a copy of template1's, and
    no setting changes that default.  So a database made by hand is open until the next
    ``db migrate`` (the project's own are migrated, hence closed, right after they are
    made).  Function privileges, in contrast, are copied with template1's catalog, so
    the functions come closed in every database made after this has run.

    A database that has the project's migration table is left to its migrations: one
    that predates 0010 gets it at its own next ``db migrate``.  Revoking PUBLIC's
    CONNECT there now would lock its login roles out before 0010 grants them CONNECT.
    """
    closed: list[str] = []
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name, connectable in conn.execute(_OPEN_DATABASES).fetchall():
                if connectable and not _close_functions(conn, dsn, str(name)):
                    continue
                try:
                    conn.execute(
                        sql.SQL("revoke connect, temporary on database {} from public").format(
                            sql.Identifier(str(name))
                        )
                    )
                except psycopg.errors.InvalidCatalogName:
                    continue  # dropped meanwhile (a test's)
                closed.append(str(name))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            f"closing the other databases to PUBLIC needs a superuser WW_DB_DSN: {exc}".strip()
        ) from exc
    except psycopg.Error as exc:
        raise MigrationError(f"closing the other databases failed: {exc}".strip()) from exc
    return closed


def _close_functions(server: psycopg.Connection[tuple[object, ...]], dsn: str, name: str) -> bool:
    """Revoke PUBLIC's EXECUTE on :data:`PUBLIC_WRITE_FUNCTIONS` in database ``name``.

    False when it is a project database (left to its migrations) or was dropped
    meanwhile (a test's); True when the caller should close it to PUBLIC.
    """
    try:
        with psycopg.connect(make_conninfo(dsn, dbname=name), autocommit=True) as conn:
            marker = conn.execute("select to_regclass(%s)", [PROJECT_MARKER]).fetchone()
            if marker is not None and marker[0] is not None:
                return False
            for (routine,) in conn.execute(
                _PUBLIC_ROUTINES, [list(PUBLIC_WRITE_FUNCTIONS)]
            ).fetchall():
                conn.execute(
                    sql.SQL("revoke execute on routine {} from public").format(
                        sql.SQL(str(routine))  # regprocedure text: quoted by the server
                    )
                )
    except psycopg.OperationalError:
        found = server.execute("select 1 from pg_database where datname = %s", [name])
        if found.fetchone() is None:
            return False
        raise
    return True


class RoleDsns(Protocol):
    """A database's owner DSN and one DSN per login role (settings, a test's database)."""

    @property
    def dsn(self) -> str: ...
    @property
    def writer_dsn(self) -> str | None: ...
    @property
    def reader_dsn(self) -> str | None: ...
    @property
    def ingest_dsn(self) -> str | None: ...
    @property
    def processor_dsn(self) -> str | None: ...


def migrate_with_roles(db: RoleDsns) -> list[Migration]:
    """:func:`migrate`, :func:`lock_down_cluster`, then :func:`ensure_login_roles` for every
    role ``db`` names: what a fresh database (the stack's, a test's, a benchmark's) needs
    before anything connects.  The cluster is closed before any login role is made, so a
    new cluster is never open to one."""
    applied = migrate(db.dsn)
    lock_down_cluster(db.dsn)
    ensure_login_roles(
        db.dsn,
        writer_dsn=db.writer_dsn,
        reader_dsn=db.reader_dsn,
        ingest_dsn=db.ingest_dsn,
        processor_dsn=db.processor_dsn,
    )
    return applied
