"""The spec's JSON Schema, generated from the models (one source of truth) and committed.

`mesh_spec/mesh.schema.json` is what editors use (`# yaml-language-server: $schema=...`); a test
fails when it drifts from the models. Regenerate with `meshc schema > mesh_spec/mesh.schema.json`.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .models import Mesh

SCHEMA_PATH = Path(__file__).with_name("mesh.schema.json")
SCHEMA_ID = "https://meshc.dev/schema/v1alpha1/mesh.schema.json"


def mesh_schema() -> dict[str, Any]:
    schema = Mesh.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithFieldDocstrings)
    _strip_titles(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


class _WithFieldDocstrings(GenerateJsonSchema):
    """A field's docstring (the string literal under it in the class body) is its description,
    unless `Field(description=...)` gave one: what pydantic's `use_attribute_docstrings` does, here
    at schema time only (the models leave it off so that importing them stays cheap)."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        properties = json_schema.get("properties")
        if isinstance(properties, dict) and issubclass(cls, BaseModel):
            docs = _field_docstrings(cls)
            for name, info in sorted(cls.model_fields.items()):
                prop = properties.get(info.alias or name)
                if isinstance(prop, dict) and name in docs and info.description is None:
                    prop.setdefault("description", docs[name])
        return json_schema


def _field_docstrings(cls: type) -> dict[str, str]:
    """Attribute docstrings of `cls` and its bases (the nearest class wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, following in itertools.pairwise(body):
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if (
                isinstance(target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[target.id] = inspect.cleandoc(following.value.value)
    return docs


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
