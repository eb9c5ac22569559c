"""The two modes: ``replay`` (event time, as fast as the broker takes it) and ``live``.

This is where the pure engine meets the clock and the network.

* **Replay** advances the engine an hour of event time at a time, hands each
  hour's messages to :class:`~wastewatch.workbench.simulators.publish.PublisherPool` (worker
  processes, routed by device) and reports progress. Readings carry their
  event time (``ts`` in the past, which the bridge accepts; it refuses only
  readings more than an hour in the future).
* **Live** maps wall time to event time (``start + elapsed * speed``) and, every
  tick, publishes what the engine produced for that stretch, from one process.
  The first ``real_clients`` devices each get their own MQTT connection with
  their status topic as last will: an offline episode cuts that connection
  without DISCONNECT (the broker publishes the will) and the device reconnects
  when the episode ends. The other devices share a small pool of connections
  (a gateway-like fan-in), which is what lets one process carry 10,000 bins.

Every connection is a :class:`~wastewatch.workbench.simulators.publish.Sender`: when the broker
restarts, each one reconnects with back-off and re-sends what it had not got a
PUBACK for, and the run carries on (live mode falls behind the clock meanwhile
and catches up).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from wastewatch.workbench.simulators.devices import Emission
from wastewatch.workbench.simulators.engine import Simulation
from wastewatch.workbench.simulators.errors import PublishError
from wastewatch.workbench.simulators.publish import MqttTarget, PublisherPool, Sender

__all__ = ["LiveOptions", "Progress", "run_live", "run_replay", "write_dump"]

Progress = Callable[[str], None]


def write_dump(out: IO[bytes], messages: list[Emission]) -> None:
    """One JSON line per message: publish time, topic, retained, payload (embedded as is)."""
    for t, topic, payload, retain, _ in messages:
        out.write(
            b'{"t":%d,"topic":"%s","retained":%s,"payload":%s}\n'
            % (t, topic.encode(), b"true" if retain else b"false", payload)
        )


def run_replay(
    sim: Simulation,
    *,
    target: MqttTarget | None,
    publishers: int,
    client_prefix: str,
    progress: Progress,
    dump: Path | None = None,
) -> dict[str, Any]:
    """Run the whole window; publish (unless ``target`` is None) and return the totals."""
    start, end = sim.options.start, sim.options.end
    assert end is not None
    wall0 = time.perf_counter()
    pool = PublisherPool(target, client_prefix, publishers) if target is not None else None
    generated = 0
    last_report = 0.0
    dump_file = dump.open("wb") if dump is not None else None
    try:
        if pool is not None:
            pool.start()
        t = start
        while t < end:
            t = min(t + 3600, end)
            batch = sim.advance(t)
            generated += len(batch)
            if dump_file is not None:
                write_dump(dump_file, batch)
            if pool is not None:
                pool.send(batch)
                pool.poll()
            now = time.perf_counter()
            if now - last_report >= 2.0 or t >= end:
                last_report = now
                acked = pool.acked() if pool is not None else 0
                progress(
                    f"replay {100 * (t - start) / (end - start):5.1f}%  "
                    f"{generated:,} messages generated, {acked:,} acked, "
                    f"{generated / max(now - wall0, 1e-9):,.0f}/s"
                )
        generated_s = time.perf_counter() - wall0
        published = acked = 0
        if pool is not None:
            progress("waiting for the last PUBACKs")
            published, acked = pool.finish()
    finally:
        if pool is not None:
            pool.close()
        if dump_file is not None:
            dump_file.close()
    wall = time.perf_counter() - wall0
    summary = sim.finish(
        {"mode": "replay", "messages_published": published, "messages_acked": acked}
    )
    reconnects = pool.reconnects if pool is not None else 0
    if pool is not None and acked != generated:
        raise PublishError(
            f"only {acked:,} of {generated:,} messages got a PUBACK; the broker may be "
            "overloaded or its queue limits reached"
        )
    return {
        **summary,
        "messages": generated,
        "published": published,
        "acked": acked,
        "reconnects": reconnects,
        "generate_s": round(generated_s, 2),
        "wall_s": round(wall, 2),
        "messages_per_s": round(generated / wall, 1) if wall else None,
    }


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How live mode paces and connects."""

    speed: float = 1.0
    real_clients: int = 20
    pool_connections: int = 4
    duration_s: float | None = None
    tick_s: float = 0.2
    client_prefix: str = "ww-sim"
    max_lead_s: float | None = None
    """Never run event time further ahead of the wall clock than this (0: catch up with
    the clock at ``speed``, then run in real time); None: no limit."""


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def run_live(
    sim: Simulation, target: MqttTarget, opts: LiveOptions, progress: Progress
) -> dict[str, Any]:
    """Publish in (scaled) real time until ``duration_s`` or SIGINT/SIGTERM; the totals."""
    pool = [
        Sender(target, f"{opts.client_prefix}-pool{i}", name=f"pool connection {i}")
        for i in range(max(1, opts.pool_connections))
    ]
    real_n = min(opts.real_clients, len(sim.devices))
    real = [
        Sender(target, dev.device_id, will=(dev.status_topic, b'{"state":"offline"}'))
        for dev in sim.devices[:real_n]
    ]
    senders = pool + real
    try:
        for sender in senders:
            sender.start()
    except PublishError:
        for sender in senders:
            sender.close()
        raise
    stop = _Stop()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    start = sim.now  # the window's start, or where a caller advanced the engine to
    wall0 = time.monotonic()
    cpu0 = time.process_time()
    generated = 0
    worst_tick = 0.0
    lag_s = 0.0
    last_report = wall0
    try:
        while not stop.requested:
            tick0 = time.monotonic()
            elapsed = tick0 - wall0
            if opts.duration_s is not None and elapsed >= opts.duration_s:
                break
            due = start + int(elapsed * opts.speed)
            if opts.max_lead_s is not None:
                due = min(due, int(time.time() + opts.max_lead_s))
            batch = sim.advance(due)
            generated += len(batch)
            for _, topic, payload, retain, key in batch:
                if 0 <= key < real_n:
                    _device_publish(real[key], topic, payload, retain)
                else:
                    pool[(key if key >= 0 else 0) % len(pool)].publish(topic, payload, retain)
            for sender in senders:
                sender.service(0)  # a cut device waits for its outage to end
            spent = time.monotonic() - tick0
            worst_tick = max(worst_tick, spent)
            expected = start + (time.monotonic() - wall0) * opts.speed
            if opts.max_lead_s is not None:
                expected = min(expected, time.time() + opts.max_lead_s)
            lag_s = max(0.0, expected - sim.now)
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                progress(
                    f"live: {generated:,} messages, event time +{sim.now - start:,} s, "
                    f"{generated / max(last_report - wall0, 1e-9):,.1f}/s"
                )
            time.sleep(max(0.0, opts.tick_s - spent))
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for sender in senders:
            with contextlib.suppress(PublishError):
                sender.drain()
        acked = sum(s.acked for s in senders)
        published = sum(s.published for s in senders)
        reconnects = sum(s.reconnects for s in senders)
        for sender in senders:
            sender.close()
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    summary = sim.finish({"mode": "live", "speed": opts.speed})
    return {
        **summary,
        "messages": generated,
        "published": published,
        "acked": acked,
        "reconnects": reconnects,
        "wall_s": round(wall, 2),
        "messages_per_s": round(generated / wall, 1) if wall else None,
        "cpu_share": round(cpu / wall, 3) if wall else None,
        "worst_tick_s": round(worst_tick, 3),
        "lag_s": round(lag_s, 1),
    }


def _device_publish(sender: Sender, topic: str, payload: bytes, retain: bool) -> None:
    """A realistic client: its own connection, cut on an outage, re-made at the next
    message after it (which first re-sends what the cut left unacknowledged)."""
    if b'"reason":"connection_lost"' in payload:
        sender.cut()  # Mosquitto publishes the last will for us
        return
    sender.publish(topic, payload, retain)
