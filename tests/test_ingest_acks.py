"""`wastewatch.ingest.acks.InOrderAcks`: PUBACKs leave in arrival order (MQTT 4.6.0-2), whatever
order Kafka acknowledges in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wastewatch.ingest.acks import InOrderAcks, Slot


def mids_to_ack(released: list[Slot]) -> list[int]:
    """What the bridge does with a released prefix: PUBACK QoS 1+ only (QoS 0 has no ack)."""
    return [slot.mid for slot in released if slot.qos > 0]


def test_in_order_completion_releases_each_slot_at_once() -> None:
    acks = InOrderAcks()
    slots = [acks.arrived(mid, 1) for mid in (10, 11, 12)]
    for slot in slots:
        assert acks.complete(slot) == [slot]
    assert len(acks) == 0


def test_a_late_first_message_holds_back_the_rest() -> None:
    acks = InOrderAcks()
    first, second, third = (acks.arrived(mid, 1) for mid in (1, 2, 3))
    assert acks.complete(third) == []
    assert acks.complete(second) == []
    assert acks.pending_mids() == [1, 2, 3]
    assert [s.mid for s in acks.complete(first)] == [1, 2, 3]
    assert acks.pending_mids() == []


def test_pending_mids_are_oldest_first_and_shrink_from_the_front() -> None:
    acks = InOrderAcks()
    slots = [acks.arrived(mid, 1) for mid in (7, 8, 9, 10)]
    acks.complete(slots[0])
    acks.complete(slots[2])
    assert acks.pending_mids() == [8, 9, 10]
    assert len(acks) == 3


def test_qos0_slots_are_released_in_order_but_not_acked() -> None:
    acks = InOrderAcks()
    a = acks.arrived(1, 1)
    b = acks.arrived(0, 0)  # paho gives QoS 0 messages mid 0
    c = acks.arrived(2, 1)
    assert acks.complete(b) == []  # QoS 0 still waits its turn: it is part of the order
    released = acks.complete(a)
    assert released == [a, b]
    assert mids_to_ack(released) == [1]
    assert mids_to_ack(acks.complete(c)) == [2]


def test_reused_mids_are_tracked_per_slot() -> None:
    """paho's mids wrap at 65535, so two messages in flight can share a mid."""
    acks = InOrderAcks()
    old = acks.arrived(5, 1)
    new = acks.arrived(5, 1)
    assert acks.complete(new) == []
    assert acks.complete(old) == [old, new]


def test_completing_a_slot_twice_releases_nothing_more() -> None:
    acks = InOrderAcks()
    a, b = acks.arrived(1, 1), acks.arrived(2, 1)
    assert acks.complete(a) == [a]
    assert acks.complete(a) == []
    assert acks.pending_mids() == [2]
    assert acks.complete(b) == [b]


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    qos=st.lists(st.sampled_from([0, 1, 1, 1]), min_size=1, max_size=40),
)
def test_acks_follow_arrival_order_whatever_the_completion_order(
    data: st.DataObject, qos: list[int]
) -> None:
    acks = InOrderAcks()
    slots = [acks.arrived(mid, q) for mid, q in enumerate(qos, start=1)]
    order = data.draw(st.permutations(range(len(slots))), label="completion order")
    done: set[int] = set()
    released: list[Slot] = []
    for index in order:
        got = acks.complete(slots[index])
        done.add(index)
        released.extend(got)
        # exactly the longest completed prefix has been released, never more
        prefix = 0
        while prefix in done:
            prefix += 1
        assert released == slots[:prefix]
        assert acks.pending_mids() == [s.mid for s in slots[prefix:]]
        assert len(acks) == len(slots) - prefix
    assert released == slots
    assert mids_to_ack(released) == [s.mid for s in slots if s.qos > 0]
