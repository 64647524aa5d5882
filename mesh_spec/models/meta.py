"""What a spec field means, declared once on the field itself.

A field says what it is with `Annotated[<type>, FieldMeta(...)]`:

    timeout: Annotated[Duration | None, FieldMeta("resilience", http_only=True)] = None

The index, the rules, the review differ and the tests read these declarations through the helpers
below instead of keeping their own lists of field names, so a new field is wired by its model
declaration (plus its lowering and fixtures). `FieldMeta` is a plain frozen dataclass: pydantic keeps
it in `model_fields[name].metadata` and leaves it out of the JSON Schema. The camelCase name is the
pydantic alias (`wire_name`), never a second table. The readers are cached: models are immutable
classes, and the review asks per service. See docs/fields.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel

ReviewCategory = Literal[
    "services", "edges", "traffic", "resilience", "public", "egress", "security", "telemetry", "workload"
]
"""The section of `meshc review` where a change to the field is reported (the review renderer has a
title for each in `compiler/review/intent/base.py` CATEGORIES, in the same order)."""

ReviewStyle = Literal["value", "custom", "none"]
"""How the review diff shows a change: `value`: generically, `<name>: <before> → <after>` (nothing
to write in the differ); `custom`: a differ module handles the field by name (and lists it in its
`CUSTOM_FIELDS`); `none`: not reviewed."""


@dataclass(frozen=True, slots=True)
class FieldMeta:
    category: ReviewCategory
    """Review section of the field."""
    http_only: bool = False
    """Only HTTP routing can apply it (Envoy's TCP proxy has no such setting): defaults of it do not
    reach services without HTTP ports, and MC115 warns when a TCP-only service sets it."""
    review: ReviewStyle = "value"
    """How the review diff reports a change (see `ReviewStyle`)."""


def field_meta(model: type[BaseModel], name: str) -> FieldMeta | None:
    """The `FieldMeta` declared on `model.name`, or None."""
    info = model.model_fields[name]
    return next((m for m in info.metadata if isinstance(m, FieldMeta)), None)


@cache
def meta_fields(model: type[BaseModel]) -> tuple[tuple[str, FieldMeta], ...]:
    """Every field of `model` that declares a `FieldMeta`, in declaration order."""
    found = ((name, field_meta(model, name)) for name in model.model_fields)
    return tuple((name, meta) for name, meta in found if meta is not None)


@cache
def http_only_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Fields of `model` that only HTTP routing applies, in declaration order."""
    return tuple(name for name, meta in meta_fields(model) if meta.http_only)


@cache
def review_value_fields(model: type[BaseModel]) -> tuple[tuple[str, FieldMeta], ...]:
    """Fields of `model` the review diff reports generically (`review="value"`)."""
    return tuple((name, meta) for name, meta in meta_fields(model) if meta.review == "value")


@cache
def wire_name(model: type[BaseModel], name: str) -> str:
    """The field's name in YAML/JSON and Istio (`connection_pool` -> `connectionPool`)."""
    return model.model_fields[name].alias or name
