"""Mosquitto password-file hashes, made in Python so no password is put on a command line.

Mosquitto 2 stores ``user:$7$<iterations>$<salt b64>$<hash b64>``: PBKDF2 with
HMAC-SHA512, a 12-byte salt and a 64-byte key, standard base64 -- exactly what
``mosquitto_passwd`` writes (it uses 101 iterations; the broker reads the count
from each line, so more are accepted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 1000
"""Ten times mosquitto_passwd's default: still fast enough for a fleet reconnecting at once."""
_SALT_BYTES = 12
_KEY_BYTES = 64


def new_password() -> str:
    """A random password: URL-safe (it travels inside mqtt:// URLs), 144 bits."""
    return secrets.token_urlsafe(18)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The ``$7$`` hash of ``password`` for a Mosquitto password file."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${iterations}${salt_b64}${base64.b64encode(key).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (as the broker checks it)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    salt = base64.b64decode(parts[3])
    want = base64.b64decode(parts[4])
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), len(want))
    return hmac.compare_digest(got, want)
