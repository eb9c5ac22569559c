"""The discrete-event core: bins, devices, trucks and the landfill on one event-time clock.

Pure and deterministic: no wall clock, no I/O besides the ground-truth writer
it is given. Events sit in one heap ordered by ``(time, kind, insertion
number)``; every random draw comes from a stream seeded by the run's seed and
the bin, truck or day it belongs to (``random.Random(f"{seed}:{bin}:...")``),
so the same seed, window and city give the same messages and ground truth
byte for byte, however the caller slices time (:meth:`Simulation.advance`).

Event kinds, in tie-break order at the same second:

1. ``DAY``    local midnight: ask the plan source for the day's plans, start runs
2. ``STOP``   a truck at a bin: empty it, maybe drive to the landfill
3. ``TICKET`` a truck on the weighbridge: publish the ticket
4. ``SAMPLE`` ground-truth fill of every bin (every ``truth_interval_s``)
5. ``WAKE``   a device wakes, measures, maybe publishes

Messages come out as :data:`~wastewatch.workbench.simulators.devices.Emission` tuples in event
order; the caller publishes them (``wastewatch.workbench.simulators.publish``) or writes them out.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from wastewatch.city import CityData, SimBin
from wastewatch.schema import LandfillDelivery, Truck, landfill_ticket_topic
from wastewatch.workbench.simulators.calendar import BANGKOK_OFFSET_S, Calendar
from wastewatch.workbench.simulators.devices import BinDevice, Emission, ReportingConfig
from wastewatch.workbench.simulators.errors import SimulatorError
from wastewatch.workbench.simulators.faults import DAY_S, FaultRates
from wastewatch.workbench.simulators.rng import stream
from wastewatch.workbench.simulators.trucks import (
    UNLOAD_S,
    PlannedRoute,
    PlanSource,
    TruckRun,
    nearest_neighbour_order,
    service_s,
    travel_s,
)
from wastewatch.workbench.simulators.truth import GroundTruth, iso

__all__ = ["SimOptions", "Simulation", "select_bins"]

_DAY, _STOP, _TICKET, _SAMPLE, _WAKE = range(5)
_EPOCH: Final = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """One run: seed, event-time window and what to simulate."""

    seed: int
    start: int
    """First simulated second (UTC epoch)."""
    end: int | None
    """First second not simulated; None runs on for as long as it is advanced (live)."""
    city: str = "kalasin"
    bins: int | None = None
    """How many bins; None = every instrumented bin in the data; more than the data
    holds clones the registry (see :func:`select_bins`)."""
    reporting: ReportingConfig = field(default_factory=ReportingConfig)
    faults: FaultRates = field(default_factory=FaultRates)
    truth_interval_s: int = 3600
    collections: bool = True


def select_bins(city: CityData, count: int | None) -> list[tuple[SimBin, int]]:
    """The bins to simulate with their fleet group (0 = the registry's own trucks).

    Beyond the registry, bin ``i`` is a copy of registry bin ``i mod n`` about
    150 m away, with ids suffixed ``-c<k>`` and served by copies of the trucks
    (group ``k``), so a 10,000-bin city still has trucks enough to empty it.
    """
    base = [b for b in city.bins if b.reg.device_id is not None]
    if not base:
        raise SimulatorError("the city data has no bin with a device_id: nothing to simulate")
    n = len(base) if count is None else count
    out: list[tuple[SimBin, int]] = []
    for i in range(n):
        group, j = divmod(i, len(base))
        b = base[j]
        if group:
            rng = stream("clone", i)
            reg = b.reg.model_copy(
                update={
                    "bin_id": f"{b.reg.bin_id}-c{group}",
                    "device_id": f"{b.reg.device_id}-c{group}",
                    "latitude": b.reg.latitude + rng.gauss(0.0, 0.0014),
                    "longitude": b.reg.longitude + rng.gauss(0.0, 0.0014),
                }
            )
            b = SimBin(reg=reg, place=b.place)
        out.append((b, group))
    return out


class Simulation:
    """Bins, devices and trucks of one city, advanced in event time."""

    def __init__(
        self,
        city: CityData,
        calendar: Calendar,
        options: SimOptions,
        *,
        plans: PlanSource | None = None,
        truth: GroundTruth | None = None,
    ) -> None:
        if options.end is not None and options.end <= options.start:
            raise SimulatorError("the simulated window is empty: end must be after start")
        self.options = options
        self.calendar = calendar
        self.plans = plans
        self.truth = truth if truth is not None else GroundTruth(None)
        self.city = city
        self.now = options.start
        selected = select_bins(city, options.bins)
        self.devices = [
            BinDevice(
                index=i,
                spec=spec,
                city=options.city,
                seed=options.seed,
                start=options.start,
                calendar=calendar,
                reporting=options.reporting,
                rates=options.faults,
            )
            for i, (spec, _) in enumerate(selected)
        ]
        self.by_bin = {d.bin_id: d.index for d in self.devices}
        self._heap: list[tuple[int, int, int, int]] = []
        self._n = 0
        self._runs: list[TruckRun] = []
        self._run_rngs: list[random.Random] = []
        self._tickets: list[tuple[bytes, dict[str, Any], str]] = []
        self.counts: dict[str, int] = {
            "messages": 0,
            "readings": 0,
            "status": 0,
            "tickets": 0,
            "collections": 0,
            "crossings": 0,
            "faults": 0,
        }
        for d in self.devices:
            self._push(d.first_wake, _WAKE, d.index)
        self._setup_fleet(selected)
        if self.truth.enabled:
            step = options.truth_interval_s
            self._push(-(-options.start // step) * step, _SAMPLE, 0)

    # -- setup ----------------------------------------------------------------

    def _setup_fleet(self, selected: list[tuple[SimBin, int]]) -> None:
        self.trucks: dict[str, tuple[Truck, int]] = {}
        self.fixed_routes: dict[str, list[int]] = {}
        depots = {d.depot_id: (d.latitude, d.longitude) for d in self.city.depots}
        self.sites = {s.site_id: (s.latitude, s.longitude) for s in self.city.sites}
        self.depots = depots
        if not self.options.collections or not self.city.trucks:
            return
        groups = sorted({g for _, g in selected})
        for group in groups:
            for truck in self.city.trucks:
                truck_id = truck.truck_id if group == 0 else f"{truck.truck_id}-c{group}"
                self.trucks[truck_id] = (truck, group)
                zones = set(truck.zones)
                mine = [
                    i
                    for i, (spec, g) in enumerate(selected)
                    if g == group
                    and spec.reg.waste_stream is truck.waste_stream
                    and spec.reg.zone in zones
                ]
                points = [(selected[i][0].reg.latitude, selected[i][0].reg.longitude) for i in mine]
                order = nearest_neighbour_order(depots[truck.depot_id], points)
                self.fixed_routes[truck_id] = [mine[k] for k in order]
        first_day = (self.options.start + BANGKOK_OFFSET_S) // DAY_S
        self._push(first_day * DAY_S - BANGKOK_OFFSET_S, _DAY, first_day)

    def _push(self, t: int, kind: int, ref: int) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, kind, self._n, ref))

    def _pos(self, index: int) -> tuple[float, float]:
        reg = self.devices[index].spec.reg
        return (reg.latitude, reg.longitude)

    # -- running ----------------------------------------------------------------

    def advance(self, until: int) -> list[Emission]:
        """Process every event at or before ``until`` (and before the end); their messages."""
        out: list[Emission] = []
        end = self.options.end
        limit = until if end is None else min(until, end - 1)
        heap = self._heap
        devices = self.devices
        truth = self.truth
        while heap and heap[0][0] <= limit:
            t, kind, _, ref = heapq.heappop(heap)
            self.now = t
            if kind == _WAKE:
                dev = devices[ref]
                nxt = dev.wake(t, out)
                if dev.fill.crossings or dev.new_episodes or dev.resends:
                    self._drain(dev)
                if nxt is not None:
                    heapq.heappush(heap, (nxt, _WAKE, self._n, ref))
                    self._n += 1
            elif kind == _SAMPLE:
                for dev in devices:
                    dev.bring_to(t)
                    self._drain(dev)
                    m = dev.fill
                    truth.fill(t, dev.bin_id, m.fill, m.overflow_l, m.mass_kg)
                self._push(t + self.options.truth_interval_s, _SAMPLE, 0)
            elif kind == _STOP:
                self._stop(t, ref)
            elif kind == _TICKET:
                payload, line, topic = self._tickets[ref]
                out.append((t, topic, payload, False, -1))
                truth.event("deliveries.jsonl", line)
                self.counts["tickets"] += 1
            else:
                self._day(t, ref)
        self.now = max(self.now, limit)
        self.counts["messages"] += len(out)
        return out

    def _drain(self, dev: BinDevice) -> None:
        truth = self.truth
        for ts, th in dev.fill.crossings:
            truth.crossing(ts, dev.bin_id, dev.device_id, th)
        self.counts["crossings"] += len(dev.fill.crossings)
        dev.fill.crossings.clear()
        end = self.options.end
        for ep in dev.new_episodes:
            if end is not None and ep.start >= end:
                continue
            self.counts["faults"] += 1
            truth.event(
                "faults.jsonl",
                {
                    "ts": ep.start,
                    "time": iso(ep.start),
                    "kind": ep.kind.value,
                    "bin": dev.bin_id,
                    "device": dev.device_id,
                    "end_ts": ep.end,
                    "param": round(ep.param, 1),
                },
            )
        dev.new_episodes.clear()
        for ts, n in dev.resends:
            truth.event(
                "faults.jsonl",
                {
                    "ts": ts,
                    "time": iso(ts),
                    "kind": "duplicate",
                    "bin": dev.bin_id,
                    "device": dev.device_id,
                    "end_ts": ts,
                    "param": float(n),
                },
            )
        dev.resends.clear()

    # -- trucks -----------------------------------------------------------------

    def _day(self, t: int, day: int) -> None:
        self._push(t + DAY_S, _DAY, day + 1)
        service_date = _EPOCH + timedelta(days=day)
        events = self.calendar.events_on(day)
        if events:
            self.truth.event("calendar.jsonl", {"date": service_date.isoformat(), "events": events})
        plans: Sequence[PlannedRoute] | None = (
            self.plans.plans_for(service_date) if self.plans is not None else None
        )
        if plans is None:
            for truck_id, (truck, _) in self.trucks.items():
                if service_date.weekday() not in {d.number for d in truck.service_days}:
                    continue
                shift = truck.shift_start
                start = t + shift.hour * 3600 + shift.minute * 60 + shift.second
                stops = [(i, 0) for i in self.fixed_routes[truck_id]]
                self._start_run(truck_id, truck, day, start, stops, "fixed")
        else:
            for plan in plans:
                if plan.truck_id not in self.trucks:
                    continue
                truck, _ = self.trucks[plan.truck_id]
                if plan.waste_stream != truck.waste_stream:
                    # Lent to another stream for the day: its tickets and bags are that
                    # stream's, as the weighbridge clerk would record them.
                    truck = truck.model_copy(update={"waste_stream": plan.waste_stream})
                stops = [(self.by_bin[b], eta) for b, eta in plan.stops if b in self.by_bin]
                if not stops:
                    continue
                first = travel_s(
                    self.depots[truck.depot_id], self._pos(stops[0][0]), truck.speed_kmh
                )
                source = f"plan:{plan.plan_id}" if plan.plan_id else "plan"
                self._start_run(plan.truck_id, truck, day, stops[0][1] - first, stops, source)

    def _start_run(
        self,
        truck_id: str,
        truck: Truck,
        day: int,
        start: int,
        stops: list[tuple[int, int]],
        source: str,
    ) -> None:
        if not stops or start < self.options.start:
            return  # the first, partial day: the shift began before the simulation
        depot = self.depots[truck.depot_id]
        run = TruckRun(
            truck=truck,
            truck_id=truck_id,
            service_day=day,
            stops=stops,
            depot=depot,
            site=self.sites[truck.site_id],
            shift_end=start + 10 * 3600,
            source=source,
            unmetered_kg_per_stop=self.city.unmetered_kg_per_day.get(truck.truck_id, 0.0)
            / len(stops),
            here=depot,
        )
        self._runs.append(run)
        self._run_rngs.append(stream(self.options.seed, truck_id, day))
        idx, not_before = stops[0]
        arrive = max(start + travel_s(depot, self._pos(idx), truck.speed_kmh), not_before)
        self._push(arrive, _STOP, len(self._runs) - 1)

    def _stop(self, t: int, ref: int) -> None:
        run = self._runs[ref]
        rng = self._run_rngs[ref]
        idx, _ = run.stops[run.next_stop]
        dev = self.devices[idx]
        dev.bring_to(t)
        got = dev.fill.empty(residual_fill=round(rng.uniform(0.0, 0.03), 4))
        self._drain(dev)
        run.pick_up(got.litres, got.kg)
        self.counts["collections"] += 1
        self.truth.event(
            "collections.jsonl",
            {
                "ts": t,
                "time": iso(t),
                "bin": dev.bin_id,
                "device": dev.device_id,
                "truck": run.truck_id,
                "source": run.source,
                "fill_before": round(got.fill_before, 4),
                "fill_after": round(got.residual_fill, 4),
                "litres": round(got.litres, 1),
                "kg": round(got.kg, 1),
                "overflow_l": round(got.overflow_l, 1),
                "overflow_s": got.overflow_s,
            },
        )
        speed = run.truck.speed_kmh
        t_next = t + service_s(dev.capacity_l)
        run.here = self._pos(idx)
        run.next_stop += 1
        if run.nearly_full:
            t_site = t_next + travel_s(run.here, run.site, speed)
            self._ticket(run, t_site)
            t_next = t_site + UNLOAD_S
            run.here = run.site
        if run.next_stop < len(run.stops):
            nidx, not_before = run.stops[run.next_stop]
            arrive = max(t_next + travel_s(run.here, self._pos(nidx), speed), not_before)
            if arrive <= run.shift_end:
                self._push(arrive, _STOP, ref)
                return
        if run.load_kg > 0.5:
            self._ticket(run, t_next + travel_s(run.here, run.site, speed))

    def _ticket(self, run: TruckRun, t: int) -> None:
        truck = run.truck
        net = float(round(run.load_kg))
        day = (_EPOCH + timedelta(days=run.service_day)).strftime("%Y%m%d")
        ticket = LandfillDelivery(
            ticket_id=f"{truck.site_id}:{day}:{run.truck_id}:{run.trips + 1}",
            site_id=truck.site_id,
            truck_id=run.truck_id,
            weighed_at=_utc(t),
            gross_kg=truck.tare_kg + net,
            tare_kg=truck.tare_kg,
            net_kg=net,
            waste_stream=truck.waste_stream,
        )
        line = {
            "ts": t,
            "time": iso(t),
            "ticket_id": ticket.ticket_id,
            "site": truck.site_id,
            "truck": run.truck_id,
            "stream": truck.waste_stream.value,
            "net_kg": net,
            "metered_kg": round(run.load_kg - run.load_unmetered_kg, 1),
            "unmetered_kg": round(run.load_unmetered_kg, 1),
            "litres": round(run.load_l, 1),
            "bins": run.collected,
        }
        run.unload()
        run.collected = 0
        topic = landfill_ticket_topic(self.options.city, truck.site_id)
        self._tickets.append((ticket.to_json_bytes(), line, topic))
        self._push(t, _TICKET, len(self._tickets) - 1)

    # -- end ----------------------------------------------------------------------

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Close the run: per-device truth, totals, ``manifest.json``. Returns the totals."""
        totals = {
            "readings_created": 0,
            "readings_published": 0,
            "duplicates_sent": 0,
            "buffered": 0,
            "dropped": 0,
            "unsent": 0,
            "clock_unset": 0,
            "status_messages": 0,
        }
        for dev in self.devices:
            dev.finish()
            c = dev.counters
            totals["readings_created"] += c.readings
            totals["readings_published"] += c.published
            totals["duplicates_sent"] += c.duplicates
            totals["buffered"] += c.buffered
            totals["dropped"] += c.dropped
            totals["unsent"] += c.unsent
            totals["clock_unset"] += c.clock_unset
            totals["status_messages"] += c.status
            self.truth.event(
                "devices.jsonl",
                {
                    "bin": dev.bin_id,
                    "device": dev.device_id,
                    "zone": dev.spec.reg.zone,
                    "stream": dev.spec.reg.waste_stream.value,
                    "place": dev.spec.place,
                    "readings": c.readings,
                    "published": c.published,
                    "duplicates": c.duplicates,
                    "buffered": c.buffered,
                    "dropped": c.dropped,
                    "unsent": c.unsent,
                    "clock_unset": c.clock_unset,
                    "boots": c.boots,
                    "dead": dev.dead,
                },
            )
        o = self.options
        summary: dict[str, Any] = {
            "seed": o.seed,
            "city": o.city,
            "start": iso(o.start),
            "end": iso(o.end) if o.end is not None else iso(self.now),
            "bins": len(self.devices),
            "report_interval_s": o.reporting.report_interval_s,
            "heartbeat_s": o.reporting.heartbeat_s,
            "truth_interval_s": o.truth_interval_s,
            "fault_rates": {k: getattr(o.faults, k) for k in o.faults.__dataclass_fields__},
            **totals,
            **{f"{k}_total": v for k, v in self.counts.items()},
            **(extra or {}),
        }
        self.truth.close(summary)
        return summary


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
