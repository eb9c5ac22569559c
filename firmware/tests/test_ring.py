import os

from ring import SLOT, Ring
from util import eq, tmpdir


def _append(ring, seq, boot=3, fl=0):
    ring.st_drop = getattr(ring, "st_drop", 0) + ring.make_room()
    return ring.append(boot, seq, 0, 600 + seq, 5000, 315, 3900, -70, fl, ring.st_drop)


class PowerCut(Exception):
    pass


class CutOpener:
    """Opens files normally; the ``cut_at``-th write keeps only ``keep`` bytes, then the power goes."""

    def __init__(self, cut_at, keep):
        self.writes = 0
        self.cut_at = cut_at
        self.keep = keep

    def __call__(self, path, mode):
        f = open(path, mode)
        return CutFile(f, self) if "+" in mode else f


class CutFile:
    def __init__(self, f, opener):
        self.f = f
        self.o = opener

    def write(self, data):
        self.o.writes += 1
        if self.o.writes == self.o.cut_at:
            self.f.write(memoryview(data)[: self.o.keep])
            self.f.close()
            raise PowerCut()
        return self.f.write(data)

    def read(self, n=-1):
        return self.f.read(n)

    def readinto(self, b):
        return self.f.readinto(b)

    def seek(self, o, w=0):
        return self.f.seek(o, w)

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()


def _drain(ring):
    seqs = []
    while True:
        rec = ring.oldest_record()
        if rec is None:
            return seqs
        seqs.append(rec[2])
        ring.mark_sent(rec[0])


def test_new_ring_is_preallocated_and_empty():
    path = tmpdir() + "/ring.bin"
    ring = Ring(path, 16, open)
    eq(ring.capacity, 16)
    eq(os.stat(path)[6], 16 * SLOT, "file size")
    eq(ring.live, 0)
    eq(ring.oldest_record(), None)
    eq(ring.max_boot, -1)
    ring.close()
    ring.close()  # twice is fine


def test_oldest_first_and_survives_reopen():
    path = tmpdir() + "/ring.bin"
    ring = Ring(path, 16, open)
    for seq in range(5):
        _append(ring, seq)
    rec = ring.oldest_record()
    eq(rec, (0, 3, 0, 0, 600, 5000, 315, 3900, -70, 0, 0), "record fields")
    ring.mark_sent(rec[0])
    ring.close()
    ring = Ring(path, 16, open)  # reboot
    eq(ring.live, 4)
    eq(ring.next, 5)
    eq(ring.max_boot, 3)
    eq(_drain(ring), [1, 2, 3, 4])
    ring.close()
    ring = Ring(path, 16, open)
    eq(ring.live, 0)
    eq(ring.next, 5, "record numbers are never reused")


def test_full_ring_drops_oldest_and_counts():
    path = tmpdir() + "/ring.bin"
    ring = Ring(path, 8, open)
    for seq in range(11):
        _append(ring, seq)
    eq(ring.st_drop, 3)
    eq(ring.live, 8)
    ring.close()
    ring = Ring(path, 8, open)
    eq(_drain(ring), list(range(3, 11)))


def test_capacity_comes_from_the_file():
    path = tmpdir() + "/ring.bin"
    Ring(path, 8, open).close()
    ring = Ring(path, 64, open)
    eq(ring.capacity, 8)


def _power_cut_during(n_before, keep):
    path = tmpdir() + "/ring.bin"
    opener = CutOpener(n_before + 1, keep)
    ring = Ring(path, 16, opener)
    for seq in range(n_before):
        _append(ring, seq)
    try:
        _append(ring, n_before)
    except PowerCut:
        pass
    else:
        raise AssertionError("no power cut")
    return path


def test_power_cut_mid_write_loses_only_the_torn_record():
    for keep in (0, 1, 2, 7, 17, 35, 36, 39):
        path = _power_cut_during(5, keep)
        ring = Ring(path, 16, open)  # next boot
        eq(ring.live, 5, "complete records after a cut at byte %d" % keep)
        eq(ring.next, 5, "the torn slot is reused")
        _append(ring, 100)
        eq(_drain(ring), [0, 1, 2, 3, 4, 100], "cut at byte %d" % keep)


def test_power_cut_over_a_sent_slot_after_wrapping():
    path = tmpdir() + "/ring.bin"
    ring = Ring(path, 4, open)
    for seq in range(6):
        _append(ring, seq)
        rec = ring.oldest_record()
        ring.mark_sent(rec[0])
    _append(ring, 6)
    _append(ring, 7)
    ring.close()
    opener = CutOpener(1, 20)
    ring = Ring(path, 4, opener)
    try:
        _append(ring, 8)
    except PowerCut:
        pass
    ring = Ring(path, 4, open)
    eq(_drain(ring), [6, 7])
    eq(ring.next, 8)


def test_power_cut_while_marking_sent():
    path = tmpdir() + "/ring.bin"
    ring = Ring(path, 8, open)
    for seq in range(3):
        _append(ring, seq)
    ring.close()
    opener = CutOpener(1, 1)  # the 2-byte magic write is torn
    ring = Ring(path, 8, opener)
    rec = ring.oldest_record()
    try:
        ring.mark_sent(rec[0])
    except PowerCut:
        pass
    ring = Ring(path, 8, open)
    eq(_drain(ring), [1, 2], "a torn 'sent' mark counts as sent (it was acknowledged)")
