-- 0002: the city registry: waste streams, zones and bins (plain tables).
--
-- The registry changes rarely and is edited by operators (`wastewatch bins
-- import`), so it is relational, not time series.  Waste-stream densities are
-- planning assumptions (loose waste in street bins) used to turn a collected
-- volume into an estimated mass; the weighbridge gives the real mass later.

CREATE TABLE waste_streams (
    stream              text PRIMARY KEY,
    name_en             text NOT NULL,
    name_th             text NOT NULL,
    density_kg_per_m3   real NOT NULL CHECK (density_kg_per_m3 > 0)
);
COMMENT ON TABLE waste_streams IS 'Waste streams kept apart in bins, trucks and reports';
COMMENT ON COLUMN waste_streams.density_kg_per_m3 IS 'Loose bulk density in a bin, kg per cubic metre (assumption, editable)';

INSERT INTO waste_streams (stream, name_en, name_th, density_kg_per_m3) VALUES
    ('general',    'General waste',    'ขยะทั่วไป',      150),
    ('recyclable', 'Recyclable waste', 'ขยะรีไซเคิล',    60),
    ('organic',    'Organic waste',    'ขยะอินทรีย์',     400),
    ('hazardous',  'Hazardous waste',  'ขยะอันตราย',     200);

CREATE TABLE zones (
    zone_id     text PRIMARY KEY,
    name_en     text NOT NULL,
    name_th     text NOT NULL,
    geometry    jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE zones IS 'Collection zones of the municipality; geometry is GeoJSON (WGS84) when known';
COMMENT ON COLUMN zones.geometry IS 'GeoJSON Polygon or MultiPolygon, WGS84 degrees';

CREATE TABLE bins (
    bin_id                text PRIMARY KEY,
    device_id             text UNIQUE,
    name                  text,
    address               text,
    zone_id               text REFERENCES zones (zone_id),
    stream                text NOT NULL REFERENCES waste_streams (stream),
    latitude              double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude             double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    volume_l              real NOT NULL CHECK (volume_l > 0),
    container_model       text,
    mounting_height_mm    integer NOT NULL CHECK (mounting_height_mm > 0),
    usable_depth_mm       integer NOT NULL CHECK (usable_depth_mm > 0),
    collection_threshold  real NOT NULL DEFAULT 0.8 CHECK (collection_threshold > 0 AND collection_threshold <= 1),
    active                boolean NOT NULL DEFAULT true,
    installed_at          timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (usable_depth_mm <= mounting_height_mm)
);
COMMENT ON TABLE bins IS 'Bin registry: where each container stands, what it holds and how its sensor is mounted';
COMMENT ON COLUMN bins.volume_l IS 'Container volume in litres';
COMMENT ON COLUMN bins.mounting_height_mm IS 'Sensor face height above the container floor, mm';
COMMENT ON COLUMN bins.usable_depth_mm IS 'Depth from empty to full (fill level 1.0), mm';
COMMENT ON COLUMN bins.collection_threshold IS 'Fill level (0..1) at which the bin should be collected';
CREATE INDEX bins_zone_stream ON bins (zone_id, stream);
