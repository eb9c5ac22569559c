"""Run firmware unit tests on MicroPython:  micropython firmware/tests/run.py TMPDIR test_ring ...

Each ``test_*`` function of the named modules is called with no arguments;
``tmpdir()`` in ``util`` gives a fresh directory under TMPDIR.  Prints one
``ok``/``FAIL`` line per test and exits 1 if any failed.
"""

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../lib")
sys.path.insert(0, _HERE)

import util  # noqa: E402


def main() -> int:
    util.BASE = sys.argv[1]
    failed = 0
    passed = 0
    for name in sys.argv[2:]:
        module = __import__(name)
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            try:
                getattr(module, attr)()
            except Exception as exc:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL %s.%s: %s %s" % (name, attr, type(exc).__name__, exc))
                sys.print_exception(exc)  # type: ignore[attr-defined]
            else:
                passed += 1
                print("ok %s.%s" % (name, attr))
    print("passed %d failed %d" % (passed, failed))
    return 1 if failed or not passed else 0


sys.exit(main())
