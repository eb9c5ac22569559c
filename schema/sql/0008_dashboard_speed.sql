-- 0008: dashboard speed (issue 8: every Grafana panel query in 200 ms or less on
-- 90 days x 1,000 bins at 15-minute readings, 8.6 M rows in readings).
--
-- Measured with `wastewatch bench dashboards` (bench/README.md), which loads that
-- volume and times every panel as the read-only role; the figures before and after
-- are in grafana/README.md.  Each change names the panel it is for.

-- 1. No JIT compilation in this database.  PostgreSQL compiles a query to machine
--    code when its estimated cost passes jit_above_cost (100,000); the fleet board's
--    device table estimated above it and spent 0.5-1.5 s compiling for a query that
--    runs in under 100 ms.  Every statement here (boards, API, ingest, processors) is
--    short, so JIT never pays.  Only the database's owner (or a superuser) may set
--    it; a migrating role that is neither leaves JIT on with a notice.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'jit stays on for database %: only its owner can turn it off', current_database();
END
$$;

-- 2. Fleet board, device table, "battery days left": the slope of each device's
--    daily minimum voltage over the last 10 days.  From bin_hourly that is 240 hours
--    per device, grouped by day, for 1,000 devices (0.1-0.2 s of CPU); this table
--    keeps the daily minimum per bin (10 rows per device), merged from bin_hourly by
--    a trigger as the rollup processor upserts it.  Exact because bin_hourly's
--    battery_min only ever goes down (least() in the rollup's merge), so the day's
--    minimum is the least of the values its hours were ever given.  Days are UTC
--    (time_bucket('1 day')), like the board's other time buckets.  drop_chunks on
--    bin_hourly leaves these rows: about 365 per bin and year.
CREATE TABLE bin_battery_daily (
    bin_id       text        NOT NULL,
    day          timestamptz NOT NULL,
    battery_min  integer     NOT NULL,
    PRIMARY KEY (bin_id, day)
);
COMMENT ON TABLE bin_battery_daily IS 'Lowest battery voltage per bin per UTC day, merged from bin_hourly by trigger (fleet board)';
COMMENT ON COLUMN bin_battery_daily.day IS 'Start of the UTC day: time_bucket(''1 day'', bin_hourly.bucket)';

CREATE FUNCTION bin_battery_daily_merge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.battery_min IS NOT NULL THEN
        INSERT INTO bin_battery_daily AS d (bin_id, day, battery_min)
        VALUES (NEW.bin_id, time_bucket('1 day', NEW.bucket), NEW.battery_min)
        ON CONFLICT (bin_id, day) DO UPDATE SET battery_min = excluded.battery_min
        WHERE excluded.battery_min < d.battery_min;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION bin_battery_daily_merge() IS 'bin_hourly row trigger: keeps bin_battery_daily at the least battery_min per bin and day';

CREATE TRIGGER bin_hourly_battery_daily
    AFTER INSERT OR UPDATE OF battery_min ON bin_hourly
    FOR EACH ROW EXECUTE FUNCTION bin_battery_daily_merge();

INSERT INTO bin_battery_daily (bin_id, day, battery_min)
SELECT bin_id, time_bucket('1 day', bucket), min(battery_min)
FROM bin_hourly
WHERE battery_min IS NOT NULL
GROUP BY 1, 2;

-- 3. Fleet board, sensor faults: only hours with a fault flag (SENSOR_FAULT 64 |
--    CLOCK_UNSET 32 | TILTED 4 | NO_ECHO 2 = 102), a small share of all hours.  The
--    panel's SQL uses the same predicate (grafana/dashboards/fleet.py FAULT_FLAGS).
CREATE INDEX bin_hourly_fault_hours ON bin_hourly (bucket DESC) WHERE flags_any & 102 <> 0;
