-- 0009: least-privilege run-time roles for ingest and the processors.
--
-- ww_ingest (the ingest sink): reads the bin registry (to attach bin_id) and
--   inserts readings, device status and weighbridge tickets; it can change
--   nothing else, and cannot update or delete a stored reading.
-- ww_processor (the processors and route planning): reads every table, writes
--   only what the processors derive (collections, bin state, forecasts, alerts
--   and their webhook outbox, rollups, landfill figures, route plans, their own
--   state) and adds weighbridge tickets as the sink does; it cannot touch
--   readings, device status or the city registry.
-- ww_writer stays for the operators' tools (`wastewatch bins import`) and
-- ww_reader (SELECT only) for Grafana and the planners' API; 0001 made both.
--
-- All four are NOLOGIN groups; `wastewatch db migrate` gives the login roles
-- named in WW_DB_INGEST_DSN / WW_DB_PROCESSOR_DSN membership and their password
-- (no secret in a migration).  The migration owner is the only superuser and
-- is used by `db migrate` alone.  A later migration that adds a processor table
-- grants its writes to ww_processor itself; SELECT comes by default (below).

DO $$
BEGIN
    CREATE ROLE ww_ingest NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

DO $$
BEGIN
    CREATE ROLE ww_processor NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO ww_ingest, ww_processor;

-- The sink.
GRANT SELECT ON bins TO ww_ingest;
GRANT SELECT, INSERT ON readings, device_status_history, landfill_deliveries TO ww_ingest;
GRANT SELECT, INSERT, UPDATE ON device_status TO ww_ingest;

-- The processors.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ww_processor;
GRANT INSERT, UPDATE, DELETE ON
    collections, bin_state, fill_forecasts, alerts, webhook_outbox, bin_hourly,
    bin_battery_daily, zone_stream_daily, landfill_daily, landfill_projections,
    processor_state, route_plans, route_stops
    TO ww_processor;
GRANT INSERT ON landfill_deliveries TO ww_processor;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ww_processor;

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ww_processor;
