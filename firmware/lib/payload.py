"""The JSON the node sends: ``device_telemetry.v1`` and ``device_status.v1`` (see schema/).

Compact, short keys, every telemetry key present (``null`` when unknown), and
integers written as integers: the bridge validates in pydantic strict mode, where
``612.0`` is not an int.  Fixed-point values are formatted from integers, so
the text is exact (fill ``0.4200``, temperature ``-3.5``).
"""

from measure import NULL

_TELEMETRY = (
    '{"v":1,"id":"%s","boot":%d,"seq":%d,"ts":%d,"d_mm":%s,"fill":%s,'
    '"t_c":%s,"bat_mv":%s,"rssi":%s,"fl":%d,"drop":%d}'
)


def _int(value: int) -> str:
    return "null" if value == NULL else "%d" % value


def _fixed(value: int, digits: int) -> str:
    # value / 10**digits with exactly ``digits`` decimals.
    if value == NULL:
        return "null"
    scale = 10**digits
    sign = "-" if value < 0 else ""
    value = abs(value)
    return "%s%d.%0*d" % (sign, value // scale, digits, value % scale)


def telemetry(device_id: str, rec: "Record", extra_flags: int) -> bytes:
    """Telemetry payload for a ring record (rec_no, boot, seq, ts, d, fill, t, bat, rssi, fl, drop)."""
    _, boot, seq, ts, d, fill, t, bat, rssi, fl, drop = rec
    text = _TELEMETRY % (
        device_id,
        boot,
        seq,
        ts,
        _int(d),
        _fixed(fill, 4),
        _fixed(t, 1),
        _int(bat),
        _int(rssi),
        fl | extra_flags,
        drop,
    )
    return text.encode()


def status(state: str, device_id: str, fw: str, boot: int, reason: str, ts: int) -> bytes:
    """Status payload; ``ts`` 0 (clock unset) is left out, as in a last will."""
    text = '{"v":1,"state":"%s","id":"%s","fw":"%s","boot":%d,"reason":"%s"' % (state, device_id, fw, boot, reason)
    if ts > 0:
        text += ',"ts":%d' % ts
    return (text + "}").encode()


MYPY = False
if MYPY:  # annotations only
    from ring import Record
