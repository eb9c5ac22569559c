"""Hypothesis strategies for the devices' payloads, shared by the schema, wire and ingest tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from wastewatch.schema.common import DEVICE_ID_PATTERN

LATEST_TS = 4_102_444_800
"""2100-01-01 00:00 UTC: the latest event time the payloads draw by default."""

device_ids = st.from_regex(DEVICE_ID_PATTERN.replace("$", r"\Z"), fullmatch=True)
int32 = st.integers(0, 2**31 - 1)


def telemetry_payloads(
    *, max_ts: int = LATEST_TS, signed_zeros: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ``DeviceTelemetry`` payloads by their wire keys, optional keys left out at random.

    ``signed_zeros``: fill and temperature also draw 0.0 and -0.0 (and fill 1.0) often,
    as their edges are where a text and a parsed number can disagree.
    """
    fill = st.floats(0.0, 1.0)
    t_c = st.floats(-40.0, 150.0)
    if signed_zeros:
        fill = st.sampled_from([0.0, -0.0, 1.0]) | fill
        t_c = st.sampled_from([0.0, -0.0]) | t_c
    return st.fixed_dictionaries(
        {
            "v": st.just(1),
            "id": device_ids,
            "boot": int32,
            "seq": int32,
            "ts": st.integers(0, max_ts),
            "d_mm": st.none() | st.integers(0, 20_000),
            "fill": st.none() | fill,
        },
        optional={
            "t_c": st.none() | t_c,
            "bat_mv": st.none() | st.integers(0, 5000),
            "rssi": st.none() | st.integers(-127, 0),
            "fl": st.integers(0, 0xFFFF),
            "drop": int32,
        },
    )
