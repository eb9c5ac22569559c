"""The security package's errors: one root, messages a person can act on."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class SecurityError(WastewatchError):
    """Root of the package's errors; the message says what is wrong and what to do."""


class BadInputError(SecurityError, ValueError):
    """An argument (device id, city, host name) is not acceptable; exit 2 at the CLI."""


class UnknownDeviceError(BadInputError):
    """The device is not provisioned in this registry."""

    def __init__(self, device_id: str, registry: str) -> None:
        super().__init__(f"device {device_id!r} is not provisioned in {registry}")
        self.device_id = device_id
