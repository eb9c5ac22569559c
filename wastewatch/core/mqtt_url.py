"""The broker address in ``WW_MQTT_URL``, parsed once for the bridge, the simulator and the
benchmarks alike."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wastewatch.errors import WastewatchError


class MqttUrlError(WastewatchError, ValueError):
    """``WW_MQTT_URL`` is not ``mqtt://[user:password@]host:port`` (or ``mqtts://``)."""


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """Host, port, credentials and TLS choice of an MQTT broker."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    """CA certificate (PEM) to verify the broker with; None: the system's CAs."""

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
            raise MqttUrlError(
                f"cannot use MQTT URL {redact(url)!r}: expected mqtt://[user:password@]host:port "
                "(mqtts:// for TLS); check WW_MQTT_URL"
            )
        tls = parts.scheme in {"mqtts", "ssl"}
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=ca_file,
        )

    def __str__(self) -> str:
        """The address for logs and messages: user name, never the password."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "<an MQTT URL that cannot be parsed>"
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def derived_client_id(prefix: str, secret: str) -> str:
    """``<prefix>-<20 hex>``: a client id fixed per deployment, unguessable without ``secret``.

    For the bridge: a guessable id (``ww-bridge``) let any account that may choose its
    client id take over the bridge's persistent session and the readings queued in it.
    """
    digest = hashlib.sha256(b"wastewatch client id\0" + prefix.encode() + b"\0" + secret.encode())
    return f"{prefix}-{digest.hexdigest()[:20]}"
