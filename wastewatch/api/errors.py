"""Errors of the HTTP API that stop it from starting; each says what to change."""

from __future__ import annotations


class ApiError(Exception):
    """Root of the API's own errors."""


class ApiConfigError(ApiError):
    """The API cannot run as configured (no reader DSN, a role that can write, ...)."""
