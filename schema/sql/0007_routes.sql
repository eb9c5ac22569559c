-- 0007: collection route plans (processors/routing, `wastewatch routes plan`).
--
-- One route_plans row per schema.routes.RoutePlan (one truck, one service date,
-- one stream) and one route_stops row per RouteStop.  Plans are never edited:
-- a re-plan inserts a new plan_id ('<date>:<truck>:<stream>:<revision>') and the
-- latest created_at per (service_date, truck_id) wins — which is exactly what
-- the simulator's closed loop (simulators.registry.DbPlanSource) and the boards
-- read.  Written by ww_writer; ww_reader's SELECT comes from 0001's default
-- privileges.  service_date is the Asia/Bangkok working day; times are UTC.

CREATE TABLE route_plans (
    plan_id            text PRIMARY KEY,
    service_date       date        NOT NULL,
    truck_id           text        NOT NULL,
    waste_stream       text        NOT NULL REFERENCES waste_streams (stream),
    created_at         timestamptz NOT NULL,
    revision           integer     NOT NULL CHECK (revision >= 1),
    total_distance_km  double precision NOT NULL CHECK (total_distance_km >= 0),
    total_duration_s   integer     NOT NULL CHECK (total_duration_s >= 0),
    expected_load_l    double precision NOT NULL CHECK (expected_load_l >= 0),
    expected_load_kg   double precision NOT NULL CHECK (expected_load_kg >= 0),
    solver_name        text        NOT NULL,
    solver_status      text        NOT NULL CHECK (solver_status IN ('optimal', 'feasible', 'heuristic', 'fallback')),
    solver_objective   double precision NOT NULL,
    solver_runtime_s   double precision NOT NULL,
    fill_source        text        NOT NULL DEFAULT 'bin_state',
    distance_source    text        NOT NULL DEFAULT 'haversine',
    notes              text[]      NOT NULL DEFAULT '{}',
    stored_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_date, truck_id, revision)
);
COMMENT ON TABLE route_plans IS 'Route plans (waste.routes.v1): latest created_at per service_date and truck wins';
COMMENT ON COLUMN route_plans.service_date IS 'Asia/Bangkok date the route is driven';
COMMENT ON COLUMN route_plans.total_distance_km IS 'Depot to depot, landfill visits included, km';
COMMENT ON COLUMN route_plans.fill_source IS 'What the fill estimates came from: bin_state, or readings (linear extrapolation) before the processors ran';
CREATE INDEX route_plans_day_truck ON route_plans (service_date, truck_id, created_at DESC);

CREATE TABLE route_stops (
    plan_id                    text    NOT NULL REFERENCES route_plans (plan_id) ON DELETE CASCADE,
    sequence                   integer NOT NULL CHECK (sequence >= 1),
    bin_id                     text    NOT NULL,
    eta                        timestamptz NOT NULL,
    expected_load_l            double precision NOT NULL CHECK (expected_load_l >= 0),
    expected_load_kg           double precision NOT NULL CHECK (expected_load_kg >= 0),
    distance_from_previous_km  double precision NOT NULL CHECK (distance_from_previous_km >= 0),
    unload_after               boolean NOT NULL DEFAULT false,
    PRIMARY KEY (plan_id, sequence),
    UNIQUE (plan_id, bin_id)
);
COMMENT ON TABLE route_stops IS 'Stops of a route plan in visiting order (schema.routes.RouteStop)';
COMMENT ON COLUMN route_stops.eta IS 'Planned arrival, UTC; trucks do not arrive earlier';
COMMENT ON COLUMN route_stops.unload_after IS 'The truck goes to its landfill after this stop, before the next (multi-trip)';
CREATE INDEX route_stops_bin ON route_stops (bin_id);
