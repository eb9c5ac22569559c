"""The processors' root error and the few subclasses callers act on.

Library errors (psycopg, aiokafka, urllib) are converted at the boundary with
``raise ... from exc`` so that the CLI can print one sentence instead of a
traceback, and so that callers catch one family.
"""

from __future__ import annotations

from wastewatch.errors import WastewatchError

__all__ = ["ConfigError", "ProcessorError", "StoreError", "WebhookError"]


class ProcessorError(WastewatchError):
    """Root of every error raised by ``processors``."""


class ConfigError(ProcessorError, ValueError):
    """A setting or argument cannot work (unknown processor name, bad diversion share)."""


class StoreError(ProcessorError):
    """The database refused or could not be reached; the message says which step."""


class WebhookError(ProcessorError):
    """A webhook delivery failed after every retry."""
