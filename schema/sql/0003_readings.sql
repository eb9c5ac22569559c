-- 0003: the readings hypertable: one row per device telemetry message.
--
-- Exactly-once rows: the natural key (device_id, boot_counter, seq) plus the
-- time column (a hypertable's unique index must contain it) is unique, and the
-- sink inserts with ON CONFLICT DO NOTHING, so a Kafka replay after a crash or
-- a device's duplicate re-send inserts nothing twice.  `time` is the device's
-- event time (UTC); `received_at` is when the bridge got it; `stored_at` when
-- the sink wrote it (its difference to `received_at` is the ingest delay).

CREATE TABLE readings (
    time            timestamptz NOT NULL,
    device_id       text        NOT NULL,
    boot_counter    integer     NOT NULL CHECK (boot_counter >= 0),
    seq             integer     NOT NULL CHECK (seq >= 0),
    bin_id          text,
    distance_mm     integer     CHECK (distance_mm >= 0),
    fill_level      real        CHECK (fill_level BETWEEN 0 AND 1),
    temperature_c   real,
    battery_mv      integer     CHECK (battery_mv >= 0),
    rssi_dbm        smallint,
    flags           integer     NOT NULL DEFAULT 0,
    dropped_count   integer     NOT NULL DEFAULT 0 CHECK (dropped_count >= 0),
    payload_version smallint    NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    stored_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE readings IS 'Device telemetry, one row per reading, exactly once (natural key + time)';
COMMENT ON COLUMN readings.time IS 'Event time: when the device measured, UTC';
COMMENT ON COLUMN readings.distance_mm IS 'Raw sensor-to-surface distance, mm; NULL when no echo or in the dead zone';
COMMENT ON COLUMN readings.fill_level IS 'Fill level 0..1 (FIWARE fillingLevel); NULL when unknown';
COMMENT ON COLUMN readings.flags IS 'Bitmask of schema.common.TelemetryFlag';
COMMENT ON COLUMN readings.dropped_count IS 'Readings the device dropped because its offline buffer was full';

SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));

-- Two indexes only: every index costs on the ingest hot path.  The natural key
-- also serves per-device lookups (its leading column); per-bin history uses the
-- second.
CREATE UNIQUE INDEX readings_natural_key ON readings (device_id, boot_counter, seq, time);
CREATE INDEX readings_bin_time ON readings (bin_id, time DESC);
