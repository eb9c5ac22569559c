-- 0012: repeat visits in stored route plans (issue 20).
--
-- The planner may send a truck to a bin twice in one shift: a market bin that refills
-- from empty within the day is emptied early and again in the afternoon (see
-- processors/routing/README.md, "Repeat visits").  0007 allowed a bin once per plan
-- (UNIQUE (plan_id, bin_id), as route_plan.v1 does), so the stored plan and everything
-- that reads it -- the simulator's DbPlanSource, `routes publish`, the boards, the API --
-- missed the repeat.  Now route_stops holds the whole route (schema.routes.RoutePlanV2,
-- waste.routes.v2): one row per visit, `visit` 1 for a bin's first visit on the plan
-- and 2 for the repeat, at most two, unload points in unload_after as before.
--
-- Rows stored before this migration are first visits (the default fills them), so
-- they read as before.  Readers that mean bins, not visits, take `visit = 1` (the
-- route_plan.v1 view: first visits only); readers that mean stops take every row in
-- sequence order.  Grants are unchanged: ww_processor's INSERT/UPDATE/DELETE (0009)
-- and ww_reader's SELECT are table privileges and cover the new column.

ALTER TABLE route_stops
    ADD COLUMN visit smallint NOT NULL DEFAULT 1 CHECK (visit IN (1, 2));
ALTER TABLE route_stops DROP CONSTRAINT route_stops_plan_id_bin_id_key;
ALTER TABLE route_stops ADD CONSTRAINT route_stops_plan_id_bin_id_visit_key
    UNIQUE (plan_id, bin_id, visit);
COMMENT ON COLUMN route_stops.visit IS 'Which visit of the bin on this plan: 1 first, 2 the repeat after it refilled (route_plan.v2)';
COMMENT ON TABLE route_stops IS 'Stops of a route plan in visiting order, repeat visits included (schema.routes.RouteVisit; first visits = route_plan.v1)';
