"""The processor evaluation's scoring rules on crafted truths (pure, no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from wastewatch.workbench.bench.eval_processors import _score_collections

END = 2_000_000_000
T = END - 10 * 86_400


def coll(bin_id: str, ts: int, before: float, after: float) -> dict[str, object]:
    return {"bin": bin_id, "ts": ts, "fill_before": before, "fill_after": after}


def test_collection_recall_counts_what_a_level_sensor_can_see() -> None:
    truth = [
        coll("a", T, 0.7, 0.02),  # seen
        coll("b", T, 0.03, 0.02),  # a 1 % drop: invisible to the sensor
        coll("c", T, 0.8, 0.01),  # during a stuck-sensor episode
        coll("d", T, 0.6, 0.02),  # visible, missed
        coll("e", T, 0.04, 0.035),  # invisible, but detected anyway: still a true detection
    ]
    detected = [("a", T + 600), ("e", T + 900), ("z", T)]
    faults = [{"kind": "stuck", "bin": "c", "ts": T - 3600, "end_ts": T + 3600}]
    got = _score_collections(truth, detected, END, faults)
    assert got["collection_recall"] == 0.5  # a of {a, d}
    assert got["collection_recall_all"] == 0.4  # a, e of five
    assert got["collections_unobservable"] == {"tiny_drop": 2, "stuck_sensor": 1}
    assert got["collection_precision"] == round(2 / 3, 4)  # z matches nothing


def test_a_detection_outside_the_window_does_not_match() -> None:
    truth = [coll("a", T, 0.7, 0.02)]
    got = _score_collections(truth, [("a", T - 3600), ("a", T + 3 * 3600)], END, [])
    assert got["collection_recall"] == 0.0
    assert got["collection_precision"] == 0.0


def _offline(device: str, ts: int, end_ts: int) -> dict[str, object]:
    return {"kind": "offline", "device": device, "bin": device, "ts": ts, "end_ts": end_ts}


def test_offline_recall_counts_outages_a_processor_can_see() -> None:
    from wastewatch.workbench.bench.eval_processors import _score_alerts

    start, end = 1_000_000, 1_000_000 + 4 * 86_400
    faults = [
        _offline("a", start + 3600, start + 3 * 3600),  # seen: alert below
        _offline("b", start + 3600, start + 3 * 3600),  # missed
        _offline("c", start - 4 * 3600, start + 3600),  # began before the replay
        _offline("d", start + 7200, start + 7200 + 600),  # shorter than one report
    ]

    def at(ts: int) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    alerts = [("offline", "a", at(start + 2 * 3600), at(start + 3 * 3600))]
    devices = [{"device": d, "dead": False} for d in "abcd"]
    out = _score_alerts(faults, alerts, devices, {}, 4, start, end, {"report_interval_s": 900})
    assert out["alert_recall"]["offline"] == 0.5
    assert out["alert_episodes_excluded_unobservable"]["offline"] == 2
    assert out["false_alerts_by_kind"]["offline"] == 0
    assert out["alert_recall"]["fire"] is None  # nothing injected: no recall, not 1.0
