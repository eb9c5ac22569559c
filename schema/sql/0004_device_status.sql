-- 0004: device status: the latest state per device and its history.
--
-- Devices publish a retained status (online/offline, firmware, boot counter)
-- and use it as their MQTT last will.  The sink keeps every change in
-- `device_status_history` (idempotent on device, time and state, so a replay
-- adds nothing) and the newest per device in `device_status` for boards and
-- health checks; an older status arriving late never overwrites a newer one.

CREATE TABLE device_status_history (
    time              timestamptz NOT NULL,
    device_id         text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('online', 'offline')),
    firmware_version  text,
    boot_counter      integer,
    reason            text,
    received_at       timestamptz NOT NULL
);
COMMENT ON TABLE device_status_history IS 'Every device status message, once (device, time, state)';
COMMENT ON COLUMN device_status_history.time IS 'Device time of the change, or the bridge receive time when the device sent none (last will)';
SELECT create_hypertable('device_status_history', by_range('time', INTERVAL '7 days'));
CREATE UNIQUE INDEX device_status_history_key ON device_status_history (device_id, time, state);

CREATE TABLE device_status (
    device_id         text PRIMARY KEY,
    state             text        NOT NULL CHECK (state IN ('online', 'offline')),
    firmware_version  text,
    boot_counter      integer,
    reason            text,
    changed_at        timestamptz NOT NULL,
    received_at       timestamptz NOT NULL
);
COMMENT ON TABLE device_status IS 'Latest status per device (fleet health board)';
