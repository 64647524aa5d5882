"""The spec's JSON Schema, generated from the models (one source of truth) and committed.

`mesh_spec/mesh.schema.json` is what editors use (`# yaml-language-server: $schema=...`); a test
fails when it drifts from the models. Regenerate with `meshc schema > mesh_spec/mesh.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import Mesh

SCHEMA_PATH = Path(__file__).with_name("mesh.schema.json")
SCHEMA_ID = "https://meshc.dev/schema/v1alpha1/mesh.schema.json"


def mesh_schema() -> dict[str, Any]:
    schema = Mesh.model_json_schema(by_alias=True, mode="validation")
    _strip_titles(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _strip_titles(node: Any) -> None:
    # pydantic derives a title from every field name ("Consecutive5Xxerrors"): noise in editors.
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for sub in props.values():
                if isinstance(sub, dict):
                    sub.pop("title", None)
        for value in node.values():
            _strip_titles(value)
    elif isinstance(node, list):
        for value in node:
            _strip_titles(value)


def schema_text() -> str:
    return json.dumps(mesh_schema(), indent=2, sort_keys=True) + "\n"
