"""`wastewatch.ingest.log_budget`: how many dead-letter log lines the bridge writes (pure, fake
clock),
and the real bridge using it on a burst of bad messages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pipeline_helpers import own_city, publish_all
from wastewatch.core.settings import Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.log_budget import LogBudget, Suppressed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(clock: FakeClock, **kw: float) -> LogBudget:
    args: dict[str, float] = {"per_key": 3, "per_window": 10, "window_s": 60.0} | kw
    return LogBudget(
        per_key=int(args["per_key"]),
        per_window=int(args["per_window"]),
        window_s=args["window_s"],
        clock=clock,
    )


def test_one_device_gets_per_key_lines_per_window() -> None:
    clock = FakeClock()
    b = budget(clock)
    verdicts = [b.admit("kls-bin-0001") for _ in range(1000)]
    assert [log for log, _ in verdicts] == [True] * 3 + [False] * 997
    assert all(summary is None for _, summary in verdicts), "the window has not ended yet"


def test_a_flooding_device_does_not_silence_the_others() -> None:
    clock = FakeClock()
    b = budget(clock)
    for _ in range(500):
        b.admit("flood")
    assert b.admit("quiet")[0] is True


def test_all_devices_together_get_per_window_lines() -> None:
    clock = FakeClock()
    b = budget(clock)
    logged = sum(b.admit(f"dev-{i}")[0] for i in range(100))
    assert logged == 10


def test_the_first_dead_letter_after_the_window_brings_the_summary() -> None:
    clock = FakeClock()
    b = budget(clock)
    for i in range(50):
        b.admit("a" if i % 2 else "b")
    for _ in range(7):
        b.admit("c")
    clock.now += 59.75
    assert b.admit("a") == (False, None)
    clock.now += 0.5
    log, summary = b.admit("a")
    assert log is True, "a new window: the device may log again"
    assert summary == Suppressed(letters=44 + 4 + 1, keys=3, keys_capped=False, seconds=60.25)
    assert str(summary) == (
        "suppressed 49 dead letters from 3 devices in the last 60 s "
        "(ww_bridge_dead_letters_total counts every one; waste.dlq.v1 keeps them)"
    )


def test_no_summary_when_nothing_was_suppressed() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.admit("a")
    clock.now += 3600
    assert b.admit("a") == (True, None)


def test_flush_returns_the_current_windows_summary_once() -> None:
    clock = FakeClock()
    b = budget(clock, per_key=1)
    b.admit("a")
    b.admit("a")
    clock.now += 5
    assert b.flush() == Suppressed(letters=1, keys=1, keys_capped=False, seconds=5.0)
    assert b.flush() is None
    assert b.admit("a")[0] is True, "flush starts a new window"


def test_distinct_keys_are_counted_up_to_a_cap() -> None:
    clock = FakeClock()
    b = LogBudget(per_key=1, per_window=1, window_s=60, clock=clock, max_tracked=100)
    for i in range(1000):
        b.admit(f"topic-{i}")
    summary = b.flush()
    assert summary is not None
    assert (summary.letters, summary.keys, summary.keys_capped) == (999, 100, True)
    assert "from 100+ devices" in str(summary)


def test_zero_per_key_logs_nothing_but_still_summarises() -> None:
    clock = FakeClock()
    b = budget(clock, per_key=0)
    assert not any(b.admit("a")[0] for _ in range(5))
    summary = b.flush()
    assert summary is not None
    assert summary.letters == 5


@pytest.mark.parametrize(
    "kw",
    [{"per_key": -1}, {"per_window": -1}, {"window_s": 0}, {"window_s": -5}],
)
def test_nonsense_limits_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        budget(FakeClock(), **kw)


events = st.lists(
    st.tuples(st.sampled_from([f"dev-{i}" for i in range(6)]), st.floats(0, 40)),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(events=events, per_key=st.integers(0, 4), per_window=st.integers(0, 12))
def test_every_dead_letter_is_logged_or_summarised_within_the_limits(
    events: list[tuple[str, float]], per_key: int, per_window: int
) -> None:
    clock = FakeClock()
    b = LogBudget(per_key=per_key, per_window=per_window, window_s=60, clock=clock)
    window_start = clock.now
    logged_in_window: Counter[str] = Counter()
    logged = summarised = 0
    for key, step in events:
        clock.now += step
        log, summary = b.admit(key)
        if summary is not None:
            summarised += summary.letters
            assert summary.keys >= 1
            assert summary.seconds >= 60
        if clock.now - window_start >= 60:
            window_start, logged_in_window = clock.now, Counter()
        if log:
            logged += 1
            logged_in_window[key] += 1
        assert logged_in_window[key] <= per_key
        assert sum(logged_in_window.values()) <= per_window
    last = b.flush()
    summarised += 0 if last is None else last.letters
    assert logged + summarised == len(events)


# --- the bridge --------------------------------------------------------------------------------


def dead_letters(bridge: Bridge, reason: str) -> float:
    value = bridge.metrics.registry.get_sample_value(
        "ww_bridge_dead_letters_total", {"reason": reason}
    )
    return value or 0.0


async def eventually(check: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_burst_of_dead_letters_logs_a_few_lines_and_counts_every_one(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    tag, city, base, port = own_city(settings, "dlq")
    window_s = 8.0
    limits = {
        "dead_letter_log_per_device": 2,
        "dead_letter_log_per_window": 5,
        "dead_letter_log_window_s": window_s,
    }
    test_settings = base.model_copy(update={"ingest": base.ingest.model_copy(update=limits)})
    burst = 150
    caplog.set_level(logging.INFO, logger="wastewatch.ingest.bridge")
    window_start = time.monotonic()  # the bridge's first window starts when it is built
    async with Bridge(test_settings) as bridge:
        noisy = f"ww/{city}/bins/{tag}-bin-00/telemetry"
        await asyncio.to_thread(
            publish_all, port, noisy, [b"not json %d" % i for i in range(burst)]
        )
        quiet = f"ww/{city}/bins/{tag}-bin-01/telemetry"
        await asyncio.to_thread(publish_all, port, quiet, [b"{}"])
        await eventually(lambda: dead_letters(bridge, "invalid") >= 1)
        in_one_window = time.monotonic() - window_start < window_s
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dead letter")]
        per_device = Counter(line.split(" from ")[1].split(":")[0] for line in lines)
        assert dead_letters(bridge, "not_json") == burst, "every dead letter is counted"
        assert in_one_window, "the machine was too slow for one window: run again"
        assert per_device == {noisy: 2, quiet: 1}, lines

        # The window ends; the next dead letter brings its summary, and logs again.
        await asyncio.sleep(window_start + window_s + 0.2 - time.monotonic())
        await asyncio.to_thread(publish_all, port, noisy, [b"still not json"])
        await eventually(lambda: dead_letters(bridge, "not_json") >= burst + 1)
    summaries = [r for r in caplog.records if "suppressed" in r.getMessage()]
    assert [r.levelno for r in summaries] == [logging.WARNING]
    assert (
        summaries[0]
        .getMessage()
        .startswith(f"suppressed {burst - 2} dead letters from 1 device in the last ")
    )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dead letter")]
    assert len(lines) == 2 + 1 + 1, lines
