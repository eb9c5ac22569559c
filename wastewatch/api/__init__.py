"""The planners' read-only HTTP API (`wastewatch api`): FastAPI on the reader role.

``app.create_app`` builds the application; ``db`` holds the connection pool
(read-only role, read-only transactions, a statement timeout); ``deps`` the
shared parameters, checks and the optional bearer token; ``ngsi`` the FIWARE
NGSI-LD WasteContainer export; ``models`` the documented response shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.api.app import create_app
    from wastewatch.api.db import preflight

__all__ = ["create_app", "preflight"]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
