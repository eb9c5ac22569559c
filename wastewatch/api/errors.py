"""Errors of the HTTP API that stop it from starting; each says what to change."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class ApiError(WastewatchError):
    """Root of the API's own errors."""


class ApiConfigError(ApiError):
    """The API cannot run as configured (no reader DSN, a role that can write, ...)."""
