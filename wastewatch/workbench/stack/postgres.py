"""PostgreSQL 15 with TimescaleDB: a cluster of the project's own on 127.0.0.1.

The cluster is separate from any system cluster (own data dir, own port,
TCP only, no Unix socket), uses scram passwords generated on first start and
kept in the state dir's secrets file, and preloads TimescaleDB.  It runs as
the `postgres` account when we are root, because PostgreSQL refuses to run as
root.

Who may connect to which database is not set here but by `wastewatch db migrate`
(`wastewatch.schema.migrate.lock_down_cluster` and migration 0010), which runs on every cluster
the project uses, this one and docker-compose's alike; until it has run, no run-time
role may log in.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from wastewatch.core import Settings
from wastewatch.schema.migrate import INGEST_GROUP, PROCESSOR_GROUP, READER_GROUP, WRITER_GROUP
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.paths import service_dir
from wastewatch.workbench.stack.process import (
    LOOPBACK,
    ensure_port_free,
    is_alive,
    read_pid,
    run,
    user_ids,
    wait_until,
)
from wastewatch.workbench.stack.timescaledb_build import PG_BIN, ensure_timescaledb

SERVICE_USER = "postgres"
ADMIN_ROLE = "ww_admin"
DATABASE = "wastewatch"
MARKER = "postgres"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Passwords of the local cluster's roles, generated once per state dir.

    A secrets file from before a role existed gets that role's password added,
    so an existing state dir keeps its other passwords.
    """

    admin: str
    writer: str
    reader: str
    ingest: str
    processor: str

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [f for f in cls.__slots__ if f not in data]
        for field in missing:
            data[field] = secrets.token_urlsafe(18)
        if missing:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(json.dumps(data, indent=2))
        return cls(**{f: data[f] for f in cls.__slots__})


def dsn(user: str, password: str, port: int, database: str = DATABASE) -> str:
    """A libpq URL; passwords are URL-quoted so any generated character is safe."""
    return f"postgresql://{user}:{quote(password, safe='')}@{LOOPBACK}:{port}/{database}"


class PostgresService:
    """The project's own TimescaleDB cluster."""

    name = "timescaledb"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.port = settings.stack.pg_port
        self._state = settings.state_dir.resolve()
        self.credentials = Credentials.load_or_create(self._state / "secrets" / "db.json")

    @property
    def _home(self) -> Path:
        return service_dir(self._state, "pg", SERVICE_USER)

    @property
    def data_dir(self) -> Path:
        return self._home / "data"

    @property
    def log(self) -> Path:
        return self._home / "postgresql.log"

    def dsns(self) -> dict[str, str]:
        """The owner's and the run-time roles' DSNs; a run-time role logs in as the
        migrations' group itself (``wastewatch.schema.migrate.ensure_login_roles``)."""
        c = self.credentials
        return {
            "WW_DB_DSN": dsn(ADMIN_ROLE, c.admin, self.port),
            "WW_DB_WRITER_DSN": dsn(WRITER_GROUP, c.writer, self.port),
            "WW_DB_READER_DSN": dsn(READER_GROUP, c.reader, self.port),
            "WW_DB_INGEST_DSN": dsn(INGEST_GROUP, c.ingest, self.port),
            "WW_DB_PROCESSOR_DSN": dsn(PROCESSOR_GROUP, c.processor, self.port),
        }

    def install(self) -> None:
        ensure_timescaledb(self._state / "logs" / "timescaledb-build.log")

    def running(self) -> bool:
        pid_file = self._state / "pg" / "data" / "postmaster.pid"
        return is_alive(read_pid(pid_file), MARKER)

    def answers(self) -> bool:
        with psycopg.connect(
            self.dsns()["WW_DB_DSN"].rsplit("/", 1)[0] + "/postgres", connect_timeout=2
        ) as conn:
            conn.execute("select 1")
        return True

    def start(self) -> None:
        if not self.running():
            self._initdb()
            self._write_config()
            ensure_port_free(self.port, step="start timescaledb", setting="WW_STACK_PG_PORT")
            run(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(self._settings.stack.wait_s)),
                    "start",
                ],
                step="start timescaledb",
                user=SERVICE_USER,
                log=None,
                hint=f"read {self.log}",
            )
        wait_until(
            self.answers,
            timeout_s=self._settings.stack.wait_s,
            step="connect to timescaledb",
            log=self.log,
        )
        self._create_database()

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        home = self._home
        uid, gid = user_ids(SERVICE_USER)
        pwfile = home / ".initdb-pw"
        pwfile.write_text(self.credentials.admin + "\n")
        os.chown(pwfile, uid, gid)
        try:
            run(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    ADMIN_ROLE,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                step="initdb",
                user=SERVICE_USER,
                log=self._state / "logs" / "initdb.log",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# wastewatch settings live in their own file\ninclude 'wastewatch.conf'\n"
            )

    def _write_config(self) -> None:
        conf = self.data_dir / "wastewatch.conf"
        conf.write_text(
            "\n".join(
                [
                    "# Written by `wastewatch services up`; edits are overwritten.",
                    f"listen_addresses = '{LOOPBACK}'",
                    f"port = {self.port}",
                    "unix_socket_directories = ''",
                    "shared_preload_libraries = 'timescaledb'",
                    "timescaledb.telemetry_level = off",
                    "max_connections = 200",
                    "shared_buffers = 256MB",
                    "work_mem = 16MB",
                    "max_locks_per_transaction = 256",
                    "timezone = 'UTC'",
                    "log_timezone = 'UTC'",
                    "",
                ]
            )
        )
        uid, gid = user_ids(SERVICE_USER)
        os.chown(conf, uid, gid)

    def _create_database(self) -> None:
        admin = self.dsns()["WW_DB_DSN"].rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            found = conn.execute("select 1 from pg_database where datname = %s", [DATABASE])
            if found.fetchone() is None:
                conn.execute(f'create database "{DATABASE}"')

    def stop(self) -> bool:
        if not self.running():
            return False
        with contextlib.suppress(StackError):
            run(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                step="stop timescaledb",
                user=SERVICE_USER,
            )
        return True


ROLE_DSN_KEYS = (
    "WW_DB_DSN",
    "WW_DB_WRITER_DSN",
    "WW_DB_READER_DSN",
    "WW_DB_INGEST_DSN",
    "WW_DB_PROCESSOR_DSN",
)
"""The stack's DSNs, owner first: what a benchmark or test database of its own repoints."""


def with_database(dsn: str, name: str) -> str:
    """The same libpq URL pointing at database ``name`` (query options kept)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))
