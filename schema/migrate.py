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
from typing import Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x77_77_6D_69  # "wwmi": any constant unique to this project
WRITER_GROUP = "ww_writer"
READER_GROUP = "ww_reader"
INGEST_GROUP = "ww_ingest"
PROCESSOR_GROUP = "ww_processor"


class MigrationError(Exception):
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
            changed.append(user)
    return changed


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
    """:func:`migrate`, then :func:`ensure_login_roles` for every role ``db`` names: what a
    fresh database (the stack's, a test's, a benchmark's) needs before anything connects."""
    applied = migrate(db.dsn)
    ensure_login_roles(
        db.dsn,
        writer_dsn=db.writer_dsn,
        reader_dsn=db.reader_dsn,
        ingest_dsn=db.ingest_dsn,
        processor_dsn=db.processor_dsn,
    )
    return applied
