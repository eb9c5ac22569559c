"""Migrations on a fresh database: hypertable, natural key, roles, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SessionDb
from wastewatch.schema.migrate import MigrationError, discover, migrate, pending

pytestmark = pytest.mark.integration

INSERT = """
    insert into readings (time, device_id, boot_counter, seq, fill_level, payload_version)
    values (%s, %s, %s, %s, %s, 1)
    on conflict do nothing
"""


def test_readings_is_a_hypertable(test_db: SessionDb) -> None:
    with psycopg.connect(test_db.reader_dsn) as conn:
        rows = conn.execute(
            "select hypertable_name from timescaledb_information.hypertables"
        ).fetchall()
    assert ("readings",) in rows


def test_second_migrate_changes_nothing(test_db: SessionDb) -> None:
    assert migrate(test_db.dsn) == []
    assert pending(test_db.dsn) == []
    with psycopg.connect(test_db.dsn) as conn:
        versions = [r[0] for r in conn.execute("select version from ww_schema_migrations")]
    assert versions == [m.version for m in discover()]


def test_replayed_reading_inserts_nothing(test_db: SessionDb) -> None:
    t = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    with psycopg.connect(test_db.writer_dsn) as conn:
        first = conn.execute(INSERT, [t, "kls-mig-0001", 3, 17, 0.42]).rowcount
        replay = conn.execute(INSERT, [t, "kls-mig-0001", 3, 17, 0.42]).rowcount
        next_seq = conn.execute(INSERT, [t, "kls-mig-0001", 3, 18, 0.43]).rowcount
        count = conn.execute(
            "select count(*) from readings where device_id = 'kls-mig-0001'"
        ).fetchone()
    assert (first, replay, next_seq) == (1, 0, 1)
    assert count == (2,)


def test_reader_cannot_write(test_db: SessionDb) -> None:
    t = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    # with its read-only default off, so that the privileges are what refuses
    rw = "-c default_transaction_read_only=off"
    with (
        psycopg.connect(test_db.reader_dsn, options=rw) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(INSERT, [t, "kls-mig-0002", 0, 0, 0.1])
    with psycopg.connect(test_db.reader_dsn) as conn:
        assert conn.execute("select count(*) from waste_streams").fetchone() == (4,)


def test_writer_cannot_change_the_schema(test_db: SessionDb) -> None:
    with (
        psycopg.connect(test_db.writer_dsn) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("drop table readings")


def _copy_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "sql"
    folder.mkdir()
    for mig in discover():
        (folder / mig.path.name).write_text(mig.sql)
    return folder


def test_edited_migration_is_refused(test_db: SessionDb, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an edit after release\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(test_db.dsn, directory=folder)


def test_failing_migration_leaves_nothing_behind(test_db: SessionDb, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path)
    n = len(discover()) + 1
    (folder / f"{n:04d}_broken.sql").write_text(
        "create table half_done (x int);\nselect * from no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=f"{n:04d}_broken.sql failed"):
        migrate(test_db.dsn, directory=folder)
    with psycopg.connect(test_db.dsn) as conn:
        assert conn.execute("select to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute(
            "select count(*) from ww_schema_migrations where version = %s", [n]
        ).fetchone() == (0,)


def test_numbering_gaps_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("select 1;")
    (tmp_path / "0003_c.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        discover(tmp_path)


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_Init.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match="NNNN_snake_name"):
        discover(tmp_path)
