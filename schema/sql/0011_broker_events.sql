-- 0011: what the MQTT broker refused: denied publishes and subscriptions, login floods
-- (issue 17, item 6).
--
-- Under MQTT 3.1.1, which the firmware speaks, Mosquitto PUBACKs a publish its ACL
-- denies and drops it: a device provisioned for the wrong city or id loses every
-- reading and believes it delivered them.  The broker's guard plugins
-- (deploy/mosquitto/guard/ww_guard.c) report each denial, and each address refused for
-- a login flood, on $SYS/broker/wastewatch/#; the bridge forwards valid reports to
-- waste.broker.v1 (schema/broker.py) and the sink stores them here, for the Fleet
-- health board, the alert rules ww-broker-denied and ww-broker-login-flood, and
-- `wastewatch devices refused`.
--
-- One row per report.  A denial report stands for `count` denials of one client (the
-- plugin reports at most once per client per second); a login refusal for one window
-- of `window_s` seconds in which the address was refused.  `time` is the broker's
-- clock (whole seconds).  Several bridges each forward a copy (the $SYS subscription
-- is never shared) and a replay repeats one, so the natural key is the report itself:
-- time, event, address, client id, access and topic, with NULLS NOT DISTINCT (a login
-- refusal has no client id, access or topic; PostgreSQL 15).  A hypertable like the
-- other time series, in 7-day chunks: a flooding client adds at most one row a second.
--
-- Grants: ww_ingest inserts (the sink; ON CONFLICT DO NOTHING needs nothing more),
-- ww_reader reads, ww_processor nothing: no processor reads it, and
-- client ids, user names and addresses are security data (0009's default privileges
-- gave it SELECT on every new table; taken back here).

CREATE TABLE broker_events (
    time         timestamptz NOT NULL,
    event        text        NOT NULL CHECK (event IN ('denied', 'login_refused')),
    access       text        CHECK (access IN ('publish', 'subscribe')),
    client_id    text,
    username     text        NOT NULL,
    address      text        NOT NULL,
    topic        text,
    count        integer     CHECK (count >= 1),
    attempts     integer     CHECK (attempts >= 1),
    window_s     integer     CHECK (window_s >= 1),
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE event
        WHEN 'denied' THEN access IS NOT NULL AND client_id IS NOT NULL
            AND topic IS NOT NULL AND count IS NOT NULL
            AND attempts IS NULL AND window_s IS NULL
        ELSE attempts IS NOT NULL AND window_s IS NOT NULL
            AND access IS NULL AND client_id IS NULL AND topic IS NULL AND count IS NULL
    END)
);
COMMENT ON TABLE broker_events IS 'What the MQTT broker refused (its guard plugins'' reports), each report once';
COMMENT ON COLUMN broker_events.time IS 'The broker''s clock when it reported (whole seconds, UTC)';
COMMENT ON COLUMN broker_events.count IS 'Denials this report stands for (denied only)';
COMMENT ON COLUMN broker_events.attempts IS 'Login attempts in the window when the address was refused (login_refused only)';
COMMENT ON COLUMN broker_events.received_at IS 'When the (first storing) bridge received the report';
SELECT create_hypertable('broker_events', by_range('time', INTERVAL '7 days'));
CREATE UNIQUE INDEX broker_events_key
    ON broker_events (time, event, address, client_id, access, topic) NULLS NOT DISTINCT;

GRANT INSERT ON broker_events TO ww_ingest;
GRANT SELECT ON broker_events TO ww_reader;
REVOKE ALL ON broker_events FROM ww_processor;
