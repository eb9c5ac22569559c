-- 0010: the read-only role writes nothing, by any path (issue 17, item 4).
--
-- ww_reader (Grafana, the planners' API) holds SELECT only on the project's tables, but
-- PostgreSQL and TimescaleDB grant every role more than table privileges.  Tried as
-- ww_reader before this migration (tests/test_db_roles.py tries each one after it):
--   * large objects: lo_from_bytea, lo_create and lo_creat made objects of any size,
--     even inside BEGIN READ ONLY (PUBLIC may execute them);
--   * temporary tables, sequences, views and pg_temp functions (PostgreSQL's default
--     ACL of a database gives PUBLIC the TEMP privilege);
--   * pg_logical_emit_message wrote WAL records of any size (a disk to fill), read-only
--     transaction or not;
--   * _timescaledb_functions.drop_chunk (and its _timescaledb_internal twin) dropped a
--     chunk of readings, rows and all: TimescaleDB 2.19 checks no ownership there, nor in
--     drop_osm_chunk, freeze_chunk, unfreeze_chunk, create_compressed_chunk,
--     hypertable_osm_range_update and lock_osm_chunk_dimension_slice (fixed upstream
--     in timescale/timescaledb#10386, after 2.19);
--   * _timescaledb_functions.cagg_migrate_update_watermark is SECURITY DEFINER (it runs
--     as the superuser who installed the extension) and writes a continuous
--     aggregate's watermark.
--
-- For this database, this migration:
--   1. revokes CONNECT and TEMP from PUBLIC, grants CONNECT to the four run-time roles
--      and TEMP to ww_ingest and ww_writer only (the sink's staging table is a temp
--      table; the sink falls back to WW_DB_WRITER_DSN when WW_DB_INGEST_DSN is unset);
--   2. revokes EXECUTE from PUBLIC on the large-object functions and on
--      pg_logical_emit_message: nothing in the project uses them (the owner, a
--      superuser, still can);
--   3. revokes EXECUTE from PUBLIC on the TimescaleDB internals above, which only
--      TimescaleDB's own code, the owner or a superuser call.  attach_osm_table_chunk
--      goes with its OSM (tiered storage) siblings: the project does not use OSM.
--
-- What a per-database migration cannot do is in schema/migrate.py, run by
-- `wastewatch db migrate`: lock_down_cluster closes postgres, template1 and every other
-- database that is not the project's, and ensure_login_roles gives the reader's login
-- role default_transaction_read_only = on.  That default guards against mistakes; it is
-- not the lock, since any session may turn it off.  Functions are looked up by name, so
-- a TimescaleDB version that lacks one of them migrates too.

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO ww_writer, ww_reader, ww_ingest, ww_processor',
        current_database()
    );
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO ww_ingest, ww_writer', current_database());
END
$$;

DO $$
DECLARE
    routine regprocedure;
BEGIN
    FOR routine IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname IN (
                   'lo_creat', 'lo_create', 'lo_from_bytea', 'lo_import', 'lo_export',
                   'lo_open', 'lo_close', 'loread', 'lowrite', 'lo_lseek', 'lo_lseek64',
                   'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64', 'lo_unlink',
                   'lo_get', 'lo_put',
                   'pg_logical_emit_message'))
           OR (p.pronamespace IN (to_regnamespace('_timescaledb_functions'),
                                  to_regnamespace('_timescaledb_internal'))
               AND p.proname IN (
                   'drop_chunk', 'drop_osm_chunk', 'attach_osm_table_chunk',
                   'hypertable_osm_range_update', 'lock_osm_chunk_dimension_slice',
                   'freeze_chunk', 'unfreeze_chunk', 'create_compressed_chunk',
                   'cagg_migrate_update_watermark'))
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
    END LOOP;
END
$$;
