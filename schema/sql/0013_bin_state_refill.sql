-- 0013: how fast each bin refills, in bin_state (issue 20).
--
-- The route planner visits a bin twice in a shift when it refills from empty to its
-- threshold in under PlanOptions.repeat_refill_h (market bins).  bin_state had only
-- rate_per_h, the *current* rise, which at night (when the planner runs) is near zero
-- for a market bin: the planner then saw a market as a slow bin and never planned its
-- second visit.  refill_h is the forecaster's usual rate turned into hours: empty to the
-- threshold at the bin's learned mean rate (processors.forecast.Forecast.refill_h).
-- NULL until the forecaster has enough history (the planner then falls back to
-- threshold / rate_per_h).  Written by ww_processor, read by the planner (ww_reader);
-- both are table privileges from 0009 / 0001 and cover the new column.

ALTER TABLE bin_state ADD COLUMN refill_h real CHECK (refill_h > 0);
COMMENT ON COLUMN bin_state.refill_h IS 'Hours from empty to the threshold at the bin''s usual fill rate (NULL: not learned yet)';
