"""The committed JSON Schema files agree with the models, and the examples with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from wastewatch.schema.export import JSONSCHEMA_DIR, MODELS, model_examples, render_all

REGENERATE = "run `.venv/bin/python -m wastewatch.schema.export` and commit schema/jsonschema/"
MODEL_ITEMS = sorted(MODELS.items())


def _committed(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((JSONSCHEMA_DIR / name).read_text(encoding="utf-8"))
    return loaded


def test_same_set_of_files() -> None:
    committed = {path.name for path in Path(JSONSCHEMA_DIR).glob("*.json")}
    expected = set(render_all())
    assert committed == expected, (
        f"schema/jsonschema/ is out of date (missing {sorted(expected - committed)}, "
        f"stale {sorted(committed - expected)}): {REGENERATE}"
    )


@pytest.mark.parametrize("name", sorted(render_all()))
def test_file_text_matches_models(name: str) -> None:
    path = JSONSCHEMA_DIR / name
    assert path.exists(), f"{path} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render_all()[name], (
        f"{path} differs from the model: {REGENERATE}"
    )


@pytest.mark.parametrize(("stem", "model"), MODEL_ITEMS, ids=[stem for stem, _ in MODEL_ITEMS])
def test_examples_validate_against_exported_schema(stem: str, model: type[Any]) -> None:
    schema = _committed(f"{stem}.json")
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    examples = model_examples(model)
    assert examples
    for example in examples:
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{stem} example fails its JSON Schema: {errors}"


@pytest.mark.parametrize(
    "changes",
    [{"fill": 1.5}, {"id": "Not An Id"}, {"v": 2}, {"extra": True}, {"fl": 70000}],
)
def test_exported_telemetry_schema_rejects_bad_payloads(changes: dict[str, Any]) -> None:
    # Firmware authors validate against the file, not the model: it must be as strict.
    schema = _committed("device_telemetry.v1.json")
    example = {**model_examples(MODELS["device_telemetry.v1"])[0], **changes}
    assert not Draft202012Validator(schema).is_valid(example)


def test_last_will_validates_against_exported_status_schema() -> None:
    assert Draft202012Validator(_committed("device_status.v1.json")).is_valid({"state": "offline"})
