-- 0005: the rest of the city registry (depots, trucks, landfill sites and their
-- per-stream densities) and the landfill weighbridge tickets.
--
-- Registry tables are plain tables, edited through `wastewatch bins import`
-- (upsert, one transaction per import); rows mirror schema.registry.Depot /
-- Truck / LandfillStreamDensity and schema.landfill.LandfillSite.
--
-- landfill_deliveries is a hypertable on the weighing time: one row per
-- schema.landfill.LandfillDelivery ticket (MQTT ww/<city>/landfill/<site>/tickets
-- -> Kafka waste.landfill.v1 -> sink).  A ticket is unique per site, and the
-- time column is part of every unique index of a hypertable, so the natural key
-- is (site_id, ticket_id, time) and the sink inserts with ON CONFLICT DO NOTHING:
-- a replayed ticket is stored once.  No foreign keys on it: a ticket from a
-- site or truck not (yet) in the registry is still a measured mass worth keeping.

CREATE TABLE depots (
    depot_id    text PRIMARY KEY,
    name        text NOT NULL,
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE depots IS 'Truck depots: where shifts start and end';

CREATE TABLE landfill_sites (
    site_id                  text PRIMARY KEY,
    name                     text NOT NULL,
    latitude                 double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude                double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    capacity_m3              double precision NOT NULL CHECK (capacity_m3 > 0),
    used_m3                  double precision NOT NULL CHECK (used_m3 >= 0),
    surveyed_on              date NOT NULL,
    compacted_density_kg_m3  real NOT NULL DEFAULT 750 CHECK (compacted_density_kg_m3 > 0),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (used_m3 <= capacity_m3)
);
COMMENT ON TABLE landfill_sites IS 'Landfill (and transfer) sites with their last surveyed airspace';
COMMENT ON COLUMN landfill_sites.used_m3 IS 'Airspace used at the survey of surveyed_on (Asia/Bangkok date), m3';
COMMENT ON COLUMN landfill_sites.compacted_density_kg_m3 IS 'Default in-place density after compaction, kg/m3';

CREATE TABLE landfill_stream_densities (
    site_id                  text NOT NULL REFERENCES landfill_sites (site_id) ON DELETE CASCADE,
    stream                   text NOT NULL REFERENCES waste_streams (stream),
    compacted_density_kg_m3  real NOT NULL CHECK (compacted_density_kg_m3 > 0),
    PRIMARY KEY (site_id, stream)
);
COMMENT ON TABLE landfill_stream_densities IS 'In-place density per stream at a site; overrides landfill_sites.compacted_density_kg_m3';

CREATE TABLE trucks (
    truck_id      text PRIMARY KEY,
    name          text NOT NULL,
    depot_id      text NOT NULL REFERENCES depots (depot_id),
    site_id       text NOT NULL REFERENCES landfill_sites (site_id),
    stream        text NOT NULL REFERENCES waste_streams (stream),
    capacity_l    real NOT NULL CHECK (capacity_l > 0),
    capacity_kg   real NOT NULL CHECK (capacity_kg > 0),
    tare_kg       real NOT NULL CHECK (tare_kg > 0),
    zones         text[] NOT NULL,
    service_days  text[] NOT NULL,
    shift_start   time NOT NULL,
    speed_kmh     real NOT NULL DEFAULT 18 CHECK (speed_kmh > 0),
    active        boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trucks IS 'Collection trucks, their capacity and the fixed schedule used when no route plan exists';
COMMENT ON COLUMN trucks.capacity_l IS 'Loose waste the body takes before unloading, litres (body volume x compaction ratio)';
COMMENT ON COLUMN trucks.zones IS 'Zones of the fixed schedule';
COMMENT ON COLUMN trucks.service_days IS 'Days of the fixed schedule: mon..sun, Asia/Bangkok';
COMMENT ON COLUMN trucks.shift_start IS 'Local (Asia/Bangkok) time the shift leaves the depot';

CREATE TABLE landfill_deliveries (
    time         timestamptz NOT NULL,
    ticket_id    text NOT NULL,
    site_id      text NOT NULL,
    truck_id     text NOT NULL,
    stream       text NOT NULL,
    gross_kg     real NOT NULL CHECK (gross_kg > 0),
    tare_kg      real NOT NULL CHECK (tare_kg > 0),
    net_kg       real NOT NULL CHECK (net_kg >= 0),
    received_at  timestamptz NOT NULL DEFAULT now(),
    stored_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE landfill_deliveries IS 'Weighbridge tickets (schema.landfill.LandfillDelivery), exactly once per (site, ticket)';
COMMENT ON COLUMN landfill_deliveries.time IS 'weighed_at: time of the gross weighing, UTC';

SELECT create_hypertable('landfill_deliveries', by_range('time', INTERVAL '30 days'));

CREATE UNIQUE INDEX landfill_deliveries_ticket ON landfill_deliveries (site_id, ticket_id, time);
CREATE INDEX landfill_deliveries_site_time ON landfill_deliveries (site_id, time DESC);
