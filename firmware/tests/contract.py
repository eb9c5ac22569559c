"""Print what the firmware produces for inputs chosen by the CPython contract test.

    micropython firmware/tests/contract.py REQUEST.json

The request holds telemetry records, status arguments, (distance, calibration)
triples and server config documents; the answer (one JSON line) holds the
payloads, fill levels (1/10000), which configs the firmware accepts, and the
flag bit values, for ``tests/test_firmware_units.py`` to check against
``schema/``.
"""

import json
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../lib")

import flags  # noqa: E402
import measure  # noqa: E402
import payload  # noqa: E402
import settings  # noqa: E402
from wwerr import WWError  # noqa: E402


def _accepts(doc: object) -> bool:
    s = settings.Settings()
    try:
        return isinstance(doc, dict) and s.apply_server(doc)
    except WWError:
        return False


with open(sys.argv[1]) as f:
    req = json.load(f)
print(
    json.dumps(
        {
            "flags": {name: value for name, value in flags.NAMES},
            "telemetry": [payload.telemetry(r[0], tuple(r[1]), r[2]).decode() for r in req["telemetry"]],
            "status": [payload.status(*a).decode() for a in req["status"]],
            "fill": [measure.fill_e4(d, m, u) for d, m, u in req["fill"]],
            "configs": [_accepts(doc) for doc in req["configs"]],
        }
    )
)
