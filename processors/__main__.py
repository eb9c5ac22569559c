"""``python -m processors [--only NAMES]``: the same as ``wastewatch process``."""

from __future__ import annotations

import argparse
import asyncio

from wastewatch.core import configure, load_settings
from wastewatch.processors.service import parse_only, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors", description="stream processors")
    parser.add_argument("--only", default=None, help="comma-separated processor names")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, parse_only(args.only)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
