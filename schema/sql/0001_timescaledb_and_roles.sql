-- 0001: TimescaleDB and the privilege roles.
--
-- ww_writer: ingest and processors (read, insert, update; no DDL).
-- ww_reader: Grafana and the planners' API (read only).
-- Both are NOLOGIN group roles; `wastewatch db migrate` gives the login roles
-- named in WW_DB_WRITER_DSN / WW_DB_READER_DSN membership and their password,
-- so no secret ever sits in a migration.  Roles are cluster-wide, hence the
-- "create if missing" blocks: a second database on the same cluster (tests)
-- must migrate cleanly too.

CREATE EXTENSION IF NOT EXISTS timescaledb;

DO $$
BEGIN
    CREATE ROLE ww_writer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

DO $$
BEGIN
    CREATE ROLE ww_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO ww_writer, ww_reader;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Objects created by later migrations (run by the same owner role) get the
-- right grants without each migration repeating them.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ww_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ww_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT ON TABLES TO ww_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT ON SEQUENCES TO ww_reader;
