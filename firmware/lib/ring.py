"""Store and forward: a bounded ring of readings in one flash file.

Every reading is written here *before* the radio goes on (a brown-out during a
Wi-Fi transmit burst is the likeliest power cut) and marked sent only after its
PUBACK, so nothing the broker did not acknowledge is ever forgotten.

File format (``ring.bin``, little endian, ``capacity`` slots of 40 bytes; the
file size fixes the capacity)::

    off size field
     0  2   magic    0x5752 "RW" = live (not yet acknowledged), 0x5357 "WS" = sent,
                     anything else = empty or torn
     2  4   rec_no   record number, +1 per reading, never reused; slot = rec_no % capacity
     6  4   boot     boot counter          10  4  seq     sequence in that boot
    14  4   ts       seconds since 1970, 0 = clock unset
    18  2   d_mm     int16, -32768 = null  20  2  fill    1/10000, -32768 = null
    22  2   t_dc     0.1 °C, null -32768   24  2  bat_mv  -32768 = null
    26  2   rssi     dBm, -32768 = null    28  2  fl      flag bits (BUFFERED is added when sent)
    30  4   drop     readings dropped since boot, as of this one
    34  2   padding
    36  4   crc32 of bytes 2..36 (not the magic, so marking sent is a 2-byte write)

A power cut in the middle of writing a slot leaves a slot whose CRC does not
match: on the next boot it is skipped (only that reading is lost) and its
position is reused.  Live records always form one run of record numbers
``[oldest, next)``, sent oldest first; when the ring is full the oldest live
record is overwritten and counted as dropped.
"""

import struct

from compat import crc32
from micropython import const
from wwerr import FLASH, WWError

SLOT = const(40)
LIVE = const(0x5752)
SENT = const(0x5357)
_BODY = "<IIIIhhhhhHI"  # bytes 2..36, after the magic
_CRC_AT = const(36)

MYPY = False
if MYPY:  # annotations only; MicroPython has no typing module
    from hal import FlashFile, Opener

    Record = tuple[int, int, int, int, int, int, int, int, int, int, int]


class Ring:
    """The ring file, open for the length of one wake."""

    def __init__(self, path: str, capacity: int, opener: "Opener") -> None:
        self._buf = bytearray(SLOT)
        self._mv = memoryview(self._buf)
        self._f = _open(path, capacity, opener)
        self.capacity = self._f.seek(0, 2) // SLOT
        self.next = 0
        self.oldest = 0
        self.live = 0
        self.torn = 0
        self.max_boot = -1
        self._scan()

    def _read(self, slot: int) -> int:
        # Slot contents into self._buf; returns its magic if intact, else 0.
        self._f.seek(slot * SLOT)
        if self._f.readinto(self._buf) != SLOT:
            return 0
        magic = self._buf[0] | self._buf[1] << 8
        if magic != LIVE and magic != SENT:
            return 0
        crc = struct.unpack_from("<I", self._buf, _CRC_AT)[0]
        if crc32(self._mv[2:_CRC_AT]) & 0xFFFFFFFF != crc:
            return 0
        return int(magic)

    def _rec_no(self) -> int:
        return int(struct.unpack_from("<I", self._buf, 2)[0])

    def _scan(self) -> None:
        top = -1
        oldest = -1
        for slot in range(self.capacity):
            magic = self._read(slot)
            if not magic:
                if self._buf[0] | self._buf[1]:
                    self.torn += 1
                continue
            rec_no = self._rec_no()
            boot = int(struct.unpack_from("<I", self._buf, 6)[0])
            self.max_boot = max(self.max_boot, boot)
            top = max(top, rec_no)
            if magic == LIVE:
                self.live += 1
                if oldest < 0 or rec_no < oldest:
                    oldest = rec_no
        self.next = top + 1
        self.oldest = oldest if oldest >= 0 else self.next

    def make_room(self) -> int:
        """Free the slot for the next record: 1 if a live (unsent) record had to be dropped."""
        slot = self.next % self.capacity
        if self._read(slot) == LIVE:
            self.live -= 1
            self.oldest = self._rec_no() + 1
            return 1
        return 0

    def append(self, boot: int, seq: int, ts: int, d: int, fill: int, t: int, bat: int, rssi: int, fl: int, drop: int) -> int:
        """Write one reading (call make_room() first); returns its record number."""
        rec_no = self.next
        buf = self._buf
        buf[0] = LIVE & 0xFF
        buf[1] = LIVE >> 8
        struct.pack_into(_BODY, buf, 2, rec_no, boot, seq, ts, d, fill, t, bat, rssi, fl, drop)
        buf[34] = 0
        buf[35] = 0
        struct.pack_into("<I", buf, _CRC_AT, crc32(self._mv[2:_CRC_AT]) & 0xFFFFFFFF)
        self._write(rec_no % self.capacity, self._mv)
        self.next = rec_no + 1
        if self.live == 0:
            self.oldest = rec_no
        self.live += 1
        self.max_boot = max(self.max_boot, boot)
        return rec_no

    def oldest_record(self) -> "Record | None":
        """The oldest unsent reading as (rec_no, boot, seq, ts, d, fill, t, bat, rssi, fl, drop).

        Skips torn or already sent slots inside the live run.
        """
        while self.oldest < self.next:
            if self._read(self.oldest % self.capacity) == LIVE and self._rec_no() == self.oldest:
                rec: Record = struct.unpack_from(_BODY, self._buf, 2)
                return rec
            self.oldest += 1
        self.live = 0
        return None

    def mark_sent(self, rec_no: int) -> None:
        """The broker acknowledged ``rec_no`` (the oldest): flip its magic to SENT."""
        self._buf[0] = SENT & 0xFF
        self._buf[1] = SENT >> 8
        self._write(rec_no % self.capacity, self._mv[0:2])
        self.oldest = rec_no + 1
        self.live = max(self.live - 1, 0)

    def _write(self, slot: int, data: memoryview) -> None:
        try:
            self._f.seek(slot * SLOT)
            self._f.write(data)
            self._f.flush()
        except OSError as exc:
            raise WWError(FLASH, "ring write: %s" % exc)

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._f is not None:
            self._f.close()
            self._f = None  # type: ignore[assignment]


def _open(path: str, capacity: int, opener: "Opener") -> "FlashFile":
    # Existing file: opened in place.  New one: zero-filled to its full size
    # first, so a slot write never extends the file.
    try:
        return opener(path, "r+b")
    except OSError:
        pass
    try:
        f = opener(path, "wb")
        zeros = bytes(SLOT)
        for _ in range(capacity):
            f.write(zeros)
        f.close()
        return opener(path, "r+b")
    except OSError as exc:
        raise WWError(FLASH, "cannot create %s: %s" % (path, exc))
