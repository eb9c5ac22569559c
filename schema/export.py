"""Export every model as a JSON Schema file under ``schema/jsonschema/``.

The exported files are what non-Python parties (firmware authors, the city's
data platform, Grafana panel writers) read, so they are committed and a test
fails when they drift from the models. Output is deterministic (sorted keys,
two-space indent, trailing newline) so regenerating produces no diff unless a
model changed. Run ``python -m wastewatch.schema.export`` after changing a model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from wastewatch.schema.alerts import Alert
from wastewatch.schema.bins import BinRegistration
from wastewatch.schema.broker import BrokerEvent
from wastewatch.schema.city import Depot, LandfillStreamDensity, Truck, Zone
from wastewatch.schema.config import DeviceConfig
from wastewatch.schema.dlq import DeadLetter
from wastewatch.schema.events import CollectionEvent
from wastewatch.schema.landfill import LandfillDelivery, LandfillSite
from wastewatch.schema.routes import RoutePlan, RoutePlanV2
from wastewatch.schema.status import DeviceStatus
from wastewatch.schema.telemetry import DeviceTelemetry

__all__ = [
    "JSONSCHEMA_DIR",
    "JSON_SCHEMA_DIALECT",
    "MODELS",
    "SCHEMA_ID_PREFIX",
    "main",
    "model_examples",
    "render_all",
    "render_schema",
    "write_all",
]

JSONSCHEMA_DIR: Final = Path(__file__).resolve().parent / "jsonschema"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX: Final = "urn:wastewatch:schema:"

MODELS: Final[dict[str, type[BaseModel]]] = {
    "device_telemetry.v1": DeviceTelemetry,
    "device_status.v1": DeviceStatus,
    "device_config.v1": DeviceConfig,
    "bin_registration.v1": BinRegistration,
    "collection_event.v1": CollectionEvent,
    "alert.v1": Alert,
    "landfill_delivery.v1": LandfillDelivery,
    "landfill_site.v1": LandfillSite,
    "route_plan.v1": RoutePlan,
    "route_plan.v2": RoutePlanV2,
    "dead_letter.v1": DeadLetter,
    "broker_event.v1": BrokerEvent,
    "zone.v1": Zone,
    "depot.v1": Depot,
    "truck.v1": Truck,
    "landfill_stream_density.v1": LandfillStreamDensity,
}
"""Export stem -> model. The stem is also ``KafkaTopic.value_model``."""


def model_examples(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The whole-message examples a model declares in ``json_schema_extra``.

    They double as documentation and as test fixtures for every consumer.
    """
    extra = model.model_config.get("json_schema_extra")
    if not isinstance(extra, dict):
        return []
    examples = extra.get("examples", [])
    if not isinstance(examples, list):
        return []
    return [example for example in examples if isinstance(example, dict)]


def render_schema(stem: str, model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of one model, as the wire sees it (aliases, input mode)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_ID_PREFIX}{stem}"
    schema["title"] = f"{model.__name__} ({stem})"
    return schema


def render_all() -> dict[str, str]:
    """File name -> file text for every model, byte-for-byte what is committed."""
    return {
        f"{stem}.json": json.dumps(
            render_schema(stem, model), indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
        for stem, model in sorted(MODELS.items())
    }


def write_all(out_dir: Path = JSONSCHEMA_DIR) -> list[Path]:
    """Write every schema file, and delete stale ``*.json`` left by a removed model.

    Only changed files are rewritten, so timestamps (and make) stay quiet.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = render_all()
    written: list[Path] = []
    for name, text in rendered.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    for stale in sorted(out_dir.glob("*.json")):
        if stale.name not in rendered:
            stale.unlink()
    return written


def check(out_dir: Path = JSONSCHEMA_DIR) -> list[str]:
    """Names of files that are missing, stale or different; empty when in sync."""
    rendered = render_all()
    present = {path.name for path in out_dir.glob("*.json")}
    problems = sorted(present - rendered.keys())
    for name, text in rendered.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            problems.append(name)
    return sorted(problems)


def main(argv: list[str] | None = None) -> int:
    """``python -m wastewatch.schema.export [--check] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m wastewatch.schema.export", description=__doc__)
    parser.add_argument("--out", type=Path, default=JSONSCHEMA_DIR, help="output folder")
    parser.add_argument(
        "--check", action="store_true", help="only report drift; exit 1 if any file differs"
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    if args.check:
        problems = check(out_dir)
        for name in problems:
            print(f"out of date: {out_dir / name}", file=sys.stderr)
        return 1 if problems else 0
    for path in write_all(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
