"""Small files in flash, written so that a power cut leaves the old or the new one.

``write_atomic`` writes ``<path>.tmp`` and renames it over ``path`` (a rename is
atomic on littlefs and POSIX); a reader never sees half a file.  The boot
counter lives here: it is raised and saved before the first reading of a boot
is recorded, so (device, boot, seq) never repeats, even if the counter file is
lost (the ring's highest boot number is a floor).
"""

import json
import os

from wwerr import FLASH, WWError

MYPY = False
if MYPY:  # annotations only
    from hal import Opener


def write_atomic(path: str, data: bytes, opener: "Opener") -> None:
    """Replace ``path`` with ``data`` all at once."""
    tmp = path + ".tmp"
    try:
        f = opener(tmp, "wb")
        try:
            f.write(data)
            f.flush()
        finally:
            f.close()
        try:
            os.rename(tmp, path)
        except OSError:  # FAT cannot rename over an existing file
            os.remove(path)
            os.rename(tmp, path)
    except OSError as exc:
        raise WWError(FLASH, "write %s: %s" % (path, exc))


def read_json(path: str, opener: "Opener") -> "dict[str, object] | None":
    """The JSON object in ``path``; None when missing or unreadable (treated as absent)."""
    try:
        f = opener(path, "rb")
    except OSError:
        return None
    try:
        doc = json.loads(f.read())
    except ValueError:
        return None
    finally:
        f.close()
    return doc if isinstance(doc, dict) else None


def next_boot(root: str, floor: int, opener: "Opener") -> int:
    """Raise and save the boot counter; ``floor`` is the highest boot seen in the ring."""
    doc = read_json(root + "/boot.json", opener)
    last = doc.get("boot", -1) if doc else -1
    if not isinstance(last, int):
        last = -1
    boot = max(last, floor) + 1
    write_atomic(root + "/boot.json", b'{"boot":%d}' % boot, opener)
    return boot


def ensure_dir(path: str) -> None:
    """Create ``path`` (one level) if missing."""
    try:
        os.stat(path)
    except OSError:
        os.mkdir(path)
