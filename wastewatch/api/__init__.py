"""The planners' read-only HTTP API (`wastewatch api`): FastAPI on the reader role.

``app.create_app`` builds the application; ``db`` holds the connection pool
(read-only role, read-only transactions, a statement timeout); ``deps`` the
shared parameters, checks and the optional bearer token; ``ngsi`` the FIWARE
NGSI-LD WasteContainer export; ``models`` the documented response shapes.
"""
