import flags
import payload
from measure import NULL
from util import eq


def test_telemetry_exact_text():
    rec = (0, 17, 4242, 1767225600, 612, 4200, 315, 3870, -71, 0, 0)
    eq(
        payload.telemetry("kls-bin-0001", rec, 0),
        b'{"v":1,"id":"kls-bin-0001","boot":17,"seq":4242,"ts":1767225600,"d_mm":612,"fill":0.4200,'
        b'"t_c":31.5,"bat_mv":3870,"rssi":-71,"fl":0,"drop":0}',
    )


def test_nulls_negative_and_buffered():
    rec = (9, 3, 0, 0, NULL, 10000, -35, NULL, NULL, flags.OVERFULL | flags.CLOCK_UNSET, 12)
    eq(
        payload.telemetry("kls-bin-0002", rec, flags.BUFFERED),
        b'{"v":1,"id":"kls-bin-0002","boot":3,"seq":0,"ts":0,"d_mm":null,"fill":1.0000,'
        b'"t_c":-3.5,"bat_mv":null,"rssi":null,"fl":161,"drop":12}',
    )
    rec = (9, 3, 0, 0, 0, NULL, -5, 0, 0, 0, 0)
    assert b'"fill":null,"t_c":-0.5' in payload.telemetry("abc", rec, 0)


def test_status():
    eq(
        payload.status("online", "kls-bin-0001", "0.1.0", 17, "boot", 0),
        b'{"v":1,"state":"online","id":"kls-bin-0001","fw":"0.1.0","boot":17,"reason":"boot"}',
    )
    assert payload.status("offline", "x-1", "0.1.0", 1, "sleep", 1767225600).endswith(b',"ts":1767225600}')
