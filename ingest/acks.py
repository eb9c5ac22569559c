"""PUBACKs in arrival order, whatever order Kafka acknowledges in.

MQTT 4.6.0-2 requires a client to send PUBACKs in the order the PUBLISH
packets arrived.  Kafka acknowledges per partition, so records of different
devices complete out of order; this ledger releases a message's ack only when
every message that arrived before it is complete too.  Pure logic: the bridge
calls it from one asyncio thread.
"""

from __future__ import annotations

from collections import deque


class Slot:
    """One received message awaiting its Kafka acknowledgement."""

    __slots__ = ("done", "mid", "qos")

    def __init__(self, mid: int, qos: int) -> None:
        self.mid = mid
        self.qos = qos
        self.done = False


class InOrderAcks:
    """A FIFO of slots; `complete` returns the mids that may be acked now, in order."""

    def __init__(self) -> None:
        self._queue: deque[Slot] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def arrived(self, mid: int, qos: int) -> Slot:
        slot = Slot(mid, qos)
        self._queue.append(slot)
        return slot

    def complete(self, slot: Slot) -> list[Slot]:
        """Mark ``slot`` done; pop and return the done prefix (QoS 0 included, skip acking it)."""
        slot.done = True
        ready: list[Slot] = []
        queue = self._queue
        while queue and queue[0].done:
            ready.append(queue.popleft())
        return ready

    def pending_mids(self) -> list[int]:
        """Mids not yet released, oldest first (for shutdown reports)."""
        return [s.mid for s in self._queue]
