"""Run the real node on the MicroPython unix port with a simulated board; see USAGE.

The usage text is a constant, not this docstring: MicroPython keeps no
docstrings, and ``__doc__`` is undefined there.
"""

import json
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/lib")

import node  # noqa: E402
import store  # noqa: E402
from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms  # noqa: E402
from hal_sim import SimHal  # noqa: E402
from wwerr import WWError  # noqa: E402

USAGE = """Run the real node on the MicroPython unix port with a simulated board.

    micropython firmware/host_run.py --broker HOST:PORT --device-id ID --readings N
        [--city C] [--state-dir DIR] [--scenario FILE] [--username U --password P]
        [--ca PEM_FILE] [--interval-s S] [--pace-ms MS] [--drain-s S] [--ring-capacity N]
    micropython firmware/host_run.py --config wastewatch.json --readings N [...]
    micropython firmware/host_run.py --help

``--config`` reads a board's ``wastewatch.json`` (as ``wastewatch devices
provision`` writes it: broker, credentials, CA certificate, calibration); the
other options override it.  ``--ca`` connects with TLS, verifying the broker
with that CA certificate.

Each wake builds a fresh ``Node`` (as a deep-sleep reset would) and runs
``Node.wake()``; the simulated deep sleep returns at once.  The run stops when
N readings have been recorded for publishing, then keeps trying to empty the
flash buffer for up to ``--drain-s`` seconds, prints a JSON summary line and
exits 0.  The state directory stands in for flash: run again with the same
directory and the node cold-boots (new boot number) with its buffer intact.
Exit status 2 = bad arguments, 75 = simulated power cut (scenario); --help
prints this and exits 0.
"""

_OPTIONS = (
    "--config",
    "--ca",
    "--broker",
    "--device-id",
    "--readings",
    "--city",
    "--state-dir",
    "--scenario",
    "--username",
    "--password",
    "--interval-s",
    "--pace-ms",
    "--drain-s",
    "--ring-capacity",
)


def _usage(msg: str) -> None:
    print("host_run: " + msg)
    print(USAGE)
    sys.exit(2)


def parse_args(argv: "list[str]") -> "dict[str, str]":
    """``--name value`` pairs; every option takes a value."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        key = argv[i]
        if key in ("--help", "-h"):
            print(USAGE)
            sys.exit(0)
        if key not in _OPTIONS or i + 1 >= len(argv):
            _usage("unknown option or missing value: " + key)
        opts[key[2:]] = argv[i + 1]
        i += 2
    required = ("readings",) if "config" in opts else ("broker", "device-id", "readings")
    for key in required:
        if key not in opts:
            _usage("--%s is required" % key)
    return opts


def _read_text(path: str) -> str:
    with open(path) as f:
        text: str = f.read()
    return text


def local_config(opts: "dict[str, str]") -> "dict[str, object]":
    """The equivalent of the board's wastewatch.json: ``--config``'s, then the options."""
    doc: dict[str, object] = {
        "city": "kalasin",
        "calibration": {"mounting_height_mm": 1050, "usable_depth_mm": 800, "dead_zone_mm": 250},
    }
    if "config" in opts:
        loaded: object = json.loads(_read_text(opts["config"]))
        if not isinstance(loaded, dict):
            _usage("--config must hold a JSON object")
            return {}
        doc.update(loaded)
    doc["wifi"] = {"ssid": "sim", "password": "sim"}
    section = doc.get("broker", {})
    broker: dict[str, object] = dict(section) if isinstance(section, dict) else {}
    if "broker" in opts:
        host, _, port = opts["broker"].rpartition(":")
        broker["host"] = host or "127.0.0.1"
        broker["port"] = int(port)
    if "username" in opts:
        broker["username"] = opts["username"]
    if "password" in opts:
        broker["password"] = opts["password"]
    if "ca" in opts:
        broker["tls"] = True
        broker["ca"] = _read_text(opts["ca"])
    doc["broker"] = broker
    if "device-id" in opts:
        doc["device_id"] = opts["device-id"]
    if "city" in opts:
        doc["city"] = opts["city"]
    if "interval-s" in opts:
        interval = int(opts["interval-s"])
        doc["report_interval_s"] = interval
        doc["nearly_full_interval_s"] = min(300, interval)
        doc["heartbeat_interval_s"] = max(3600, interval)
    if "ring-capacity" in opts:
        doc["ring_capacity"] = int(opts["ring-capacity"])
    return doc


def load_scenario(path: "str | None") -> "dict[str, object]":
    """The scenario file, or a bin filling up 60 mm per wake and being emptied."""
    if path is None:
        return {"distance_mm": [1000 - 60 * i for i in range(12)]}
    with open(path) as f:
        doc: object = json.load(f)
    if not isinstance(doc, dict):
        _usage("scenario must be a JSON object")
        return {}
    return doc


def main() -> None:
    opts = parse_args(sys.argv[1:])
    local = local_config(opts)
    root = opts.get("state-dir", "/tmp/wastewatch-fw-" + str(local.get("device_id", "node")))
    store.ensure_dir(root)
    hal = SimHal(load_scenario(opts.get("scenario")), int(opts.get("pace-ms", "0")))
    wanted = int(opts["readings"])
    recorded = sent = wakes = 0
    pending = 0
    boot = -1
    while recorded < wanted and wakes < 100 * wanted + 100:
        n = node.Node(hal, node.load_settings(local, root, hal.open_flash), root)
        sleep_s = n.wake()
        wakes += 1
        recorded += n.recorded
        sent += n.sent
        pending = n.pending()
        boot = n.st.boot
        print("wake %d boot %d seq %d recorded %d sent %d pending %d drop %d" % (wakes, boot, n.st.seq, recorded, sent, pending, n.st.drop))
        hal.deep_sleep(sleep_s * 1000)
    deadline = ticks_add(ticks_ms(), int(float(opts.get("drain-s", "10")) * 1000))
    while pending and ticks_diff(deadline, ticks_ms()) > 0:
        sleep_ms(200)
        n = node.Node(hal, node.load_settings(local, root, hal.open_flash), root)
        n.drain()
        sent += n.sent
        pending = n.pending()
        print("drain sent %d pending %d" % (sent, pending))
    summary = {"wakes": wakes, "recorded": recorded, "sent": sent, "pending": pending, "boot": boot}
    print("summary " + json.dumps(summary))


try:
    main()
except WWError as exc:
    print("host_run failed: %s" % exc.detail)
    sys.exit(1)
