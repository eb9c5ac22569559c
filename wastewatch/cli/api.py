"""`wastewatch api --port P [--host H]`: the planners' read-only HTTP API (uvicorn).

Reads only through ``WW_DB_READER_DSN`` and refuses to start when that role can
write; ``WW_API_TOKEN`` set = every /v1 request needs the bearer token.  Runs
until SIGTERM/SIGINT; OpenAPI at ``/openapi.json``, interactive docs at ``/docs``.
"""

from __future__ import annotations

import argparse
import asyncio

from wastewatch.cli.options import Subparsers, add_action


def register(sub: Subparsers) -> None:
    p = add_action(
        sub,
        "api",
        run,
        "the planners' read-only HTTP API (FastAPI)",
        description="Serves /v1/bins, /v1/bins/{id}, /v1/bins/{id}/readings, /v1/collections, "
        "/v1/history, /v1/alerts, /v1/landfill, /v1/landfill/what-if, /v1/routes/{date}, "
        "/v1/ngsi-ld/WasteContainer through the read-only database role. "
        "OpenAPI: /openapi.json.",
    )
    p.add_argument("--host", default=None, help="address (default WW_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default WW_API_PORT, 18080)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from wastewatch.api import create_app, preflight
    from wastewatch.core import load_settings

    parser: argparse.ArgumentParser = args.parser
    settings = load_settings()
    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    if not 1 <= port <= 65535:
        parser.error(f"--port: {port} is not a port (1..65535)")
    app = create_app(settings)
    # the same checks the app's start-up makes, here so a failure is one line (an ApiError
    # for the CLI to print), not uvicorn's traceback: the database answers, and the role
    # is read-only
    asyncio.run(preflight(app.state.db.dsn))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    server.run()
    # uvicorn reports a failed start-up (port taken, lifespan error) by not starting.
    return 0 if server.started else 1
