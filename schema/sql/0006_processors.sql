-- 0006: what the stream processors derive from readings (processors/, `wastewatch process`).
--
-- Written by the processors through ww_writer; read by Grafana, the route planner
-- and the planners' CLI through ww_reader (grants come from 0001's default
-- privileges).  Every time is event time (the readings' own timestamps), never
-- the wall clock, so a replay of 30 days writes the same rows as 30 real days;
-- only the `*_updated_at` / `computed_at` columns record when a row was written.
--
-- Idempotence: every row has a deterministic key (collection and alert ids are
-- derived from the reading that showed them), writes are upserts, per-device
-- progress lives in processor_state in the same transaction, and the
-- aggregates that mix many devices (zone/stream days, landfill days,
-- projections) are recomputed for the touched keys rather than incremented.  A
-- Kafka replay after a crash therefore changes nothing.  No continuous
-- aggregates: the Apache-licensed TimescaleDB build lacks them.

-- Collections (schema.events.CollectionEvent), one row per emptying.
CREATE TABLE collections (
    time         timestamptz NOT NULL,
    event_id     text        NOT NULL,
    bin_id       text        NOT NULL,
    device_id    text,
    zone_id      text,
    stream       text        NOT NULL,
    fill_before  real        NOT NULL CHECK (fill_before BETWEEN 0 AND 1),
    fill_after   real        NOT NULL CHECK (fill_after BETWEEN 0 AND 1),
    volume_l     real        NOT NULL CHECK (volume_l >= 0),
    mass_kg      real        NOT NULL CHECK (mass_kg >= 0),
    method       text        NOT NULL,
    confidence   real        NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    stored_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE collections IS 'Detected bin emptyings (waste.events.v1), once per event_id';
COMMENT ON COLUMN collections.time IS 'collected_at: event time of the first reading after the drop, UTC';
COMMENT ON COLUMN collections.mass_kg IS 'Estimated: volume x the stream''s loose bulk density (waste_streams)';
SELECT create_hypertable('collections', by_range('time', INTERVAL '30 days'));
CREATE UNIQUE INDEX collections_event ON collections (event_id, time);
CREATE INDEX collections_bin_time ON collections (bin_id, time DESC);
CREATE INDEX collections_zone_stream_time ON collections (zone_id, stream, time DESC);

-- The current forecast per bin: what boards and the route planner read.
CREATE TABLE bin_state (
    bin_id              text PRIMARY KEY,
    device_id           text,
    zone_id             text,
    stream              text,
    fill_level          real CHECK (fill_level BETWEEN 0 AND 1),
    rate_per_h          real,
    threshold           real NOT NULL,
    threshold_at        timestamptz,
    threshold_early     timestamptz,
    threshold_late      timestamptz,
    urgency             text NOT NULL CHECK (urgency IN ('overflowing', 'urgent', 'soon', 'fine')),
    collect_by          timestamptz,
    last_reading_at     timestamptz NOT NULL,
    last_collection_at  timestamptz,
    state_updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE bin_state IS 'Latest fill, fill rate and predicted threshold crossing per bin (event time of last_reading_at)';
COMMENT ON COLUMN bin_state.rate_per_h IS 'Current rise of the fill level, fraction per hour';
COMMENT ON COLUMN bin_state.threshold_at IS 'Predicted time the fill reaches threshold; NULL = not within 14 days or not enough history';
COMMENT ON COLUMN bin_state.threshold_early IS 'Early end of the uncertainty band of threshold_at';
COMMENT ON COLUMN bin_state.collect_by IS 'Latest collection time that stays under the threshold (early end of the band)';
CREATE INDEX bin_state_urgency ON bin_state (urgency, threshold_at);

-- One forecast per bin per hour of event time, for accuracy boards and evaluation.
CREATE TABLE fill_forecasts (
    time             timestamptz NOT NULL,
    bin_id           text        NOT NULL,
    fill_level       real,
    rate_per_h       real,
    threshold        real        NOT NULL,
    threshold_at     timestamptz,
    threshold_early  timestamptz,
    threshold_late   timestamptz,
    urgency          text        NOT NULL
);
COMMENT ON TABLE fill_forecasts IS 'Forecast snapshots: the first reading of each hour per bin (time = as of, event time)';
SELECT create_hypertable('fill_forecasts', by_range('time', INTERVAL '7 days'));
CREATE UNIQUE INDEX fill_forecasts_bin_time ON fill_forecasts (bin_id, time);

-- Alerts (schema.alerts.Alert): opened once, deduplicated by alert_id, resolved in place.
CREATE TABLE alerts (
    alert_id     text PRIMARY KEY,
    kind         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state        text NOT NULL CHECK (state IN ('open', 'resolved')),
    bin_id       text,
    device_id    text,
    site_id      text,
    opened_at    timestamptz NOT NULL,
    resolved_at  timestamptz,
    message_en   text NOT NULL,
    message_th   text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    alert_updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK (coalesce(device_id, bin_id, site_id) IS NOT NULL)
);
COMMENT ON TABLE alerts IS 'Device, safety and landfill alerts; one open alert per subject and kind';
COMMENT ON COLUMN alerts.site_id IS 'Landfill site, for landfill_capacity alerts (not published on waste.alerts.v1)';
CREATE UNIQUE INDEX alerts_open_once ON alerts (coalesce(device_id, bin_id, site_id), kind) WHERE state = 'open';
CREATE INDEX alerts_state_severity ON alerts (state, severity, opened_at DESC);
CREATE INDEX alerts_bin_opened ON alerts (bin_id, opened_at DESC);

-- Critical alerts waiting for the webhook (delivered with retries, then deleted).
CREATE TABLE webhook_outbox (
    id          bigserial PRIMARY KEY,
    alert_id    text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    UNIQUE (alert_id)
);
COMMENT ON TABLE webhook_outbox IS 'Transactional outbox of webhook notifications; a row leaves once delivered or given up';

-- Per bin per hour (UTC hour buckets), merged incrementally by the rollups processor.
CREATE TABLE bin_hourly (
    bucket           timestamptz NOT NULL,
    bin_id           text        NOT NULL,
    zone_id          text,
    stream           text,
    readings         integer     NOT NULL,
    levels           integer     NOT NULL,
    fill_sum         numeric(14, 4) NOT NULL,
    fill_min         real,
    fill_max         real,
    fill_last        real,
    last_reading_at  timestamptz NOT NULL,
    temp_max         real,
    battery_min      integer,
    flags_any        integer     NOT NULL DEFAULT 0
);
COMMENT ON TABLE bin_hourly IS 'Readings per bin per hour; average fill = fill_sum / levels';
COMMENT ON COLUMN bin_hourly.fill_sum IS 'Sum of the trusted fill levels (exact decimal, so merges in any batching agree)';
COMMENT ON COLUMN bin_hourly.levels IS 'Readings with a trustworthy fill level (no fault, tilt or missing echo)';
COMMENT ON COLUMN bin_hourly.flags_any IS 'OR of the readings'' TelemetryFlag bits';
SELECT create_hypertable('bin_hourly', by_range('bucket', INTERVAL '7 days'));
CREATE UNIQUE INDEX bin_hourly_bin_bucket ON bin_hourly (bin_id, bucket);
CREATE INDEX bin_hourly_zone_bucket ON bin_hourly (zone_id, stream, bucket);

-- Per zone and stream per local (Asia/Bangkok) day, recomputed for touched days.
CREATE TABLE zone_stream_daily (
    day             date    NOT NULL,
    zone_id         text    NOT NULL,
    stream          text    NOT NULL,
    collections     integer NOT NULL DEFAULT 0,
    volume_l        numeric(14, 1) NOT NULL DEFAULT 0,
    mass_kg         numeric(14, 1) NOT NULL DEFAULT 0,
    bins_reporting  integer NOT NULL DEFAULT 0,
    readings        integer NOT NULL DEFAULT 0,
    fill_avg        real,
    fill_max        real,
    PRIMARY KEY (day, zone_id, stream)
);
COMMENT ON TABLE zone_stream_daily IS 'Collected volume/mass and fill statistics per zone, stream and Bangkok day';

-- What went into each landfill per local day and stream, recomputed for touched days.
CREATE TABLE landfill_daily (
    site_id           text    NOT NULL,
    day               date    NOT NULL,
    stream            text    NOT NULL,
    tickets           integer NOT NULL DEFAULT 0,
    delivered_kg      numeric(14, 1) NOT NULL DEFAULT 0,
    collections       integer NOT NULL DEFAULT 0,
    collected_kg_est  numeric(14, 1) NOT NULL DEFAULT 0,
    mass_kg           numeric(14, 1) NOT NULL,
    volume_m3         numeric(14, 3) NOT NULL,
    measured          boolean NOT NULL,
    PRIMARY KEY (site_id, day, stream)
);
COMMENT ON TABLE landfill_daily IS 'Mass and airspace into each site per Bangkok day and stream';
COMMENT ON COLUMN landfill_daily.mass_kg IS 'delivered_kg when the day had weighbridge tickets (measured), else collected_kg_est';
COMMENT ON COLUMN landfill_daily.volume_m3 IS 'mass_kg / compacted density of the stream at the site';

-- The capacity projection, one row per site per as-of day (its history shows the trend).
CREATE TABLE landfill_projections (
    site_id               text    NOT NULL,
    as_of                 date    NOT NULL,
    used_m3               double precision NOT NULL,
    remaining_m3          double precision NOT NULL,
    fill_fraction         real    NOT NULL,
    rate_m3_per_day       double precision NOT NULL,
    rate_low_m3_per_day   double precision NOT NULL,
    rate_high_m3_per_day  double precision NOT NULL,
    days_left             double precision,
    full_date             date,
    full_date_early       date,
    full_date_late        date,
    window_days           integer NOT NULL,
    rate_by_stream        jsonb   NOT NULL,
    computed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, as_of)
);
COMMENT ON TABLE landfill_projections IS 'Remaining airspace and projected full date (with interval) per site, as of each data day';

-- Per-device detector state and progress, written in the same transaction as the
-- rows it produced, so a restart resumes exactly where the database is.
CREATE TABLE processor_state (
    processor         text  NOT NULL,
    key               text  NOT NULL,
    state             jsonb NOT NULL,
    state_updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, key)
);
COMMENT ON TABLE processor_state IS 'Processors'' per-device state (detectors, models, newest reading time); internal';
