"""What users write: the mesh spec's models, its loading with source positions, and its JSON Schema.

The names below are loaded on first use (PEP 562): importing a submodule, such as the loader that
`meshc compile` runs in a child forked before the models are imported (`compiler.readahead`),
does not import the pydantic models with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagnostics import Diagnostic, SpecError
    from .loader import LoadedSpec, load_sources, load_spec
    from .models import Mesh
    from .source import SourceMap
    from .structure import parse_mesh

_WHERE = {
    "Diagnostic": "diagnostics",
    "SpecError": "diagnostics",
    "LoadedSpec": "loader",
    "load_sources": "loader",
    "load_spec": "loader",
    "Mesh": "models",
    "SourceMap": "source",
    "parse_mesh": "structure",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Diagnostic",
    "LoadedSpec",
    "Mesh",
    "SourceMap",
    "SpecError",
    "load_sources",
    "load_spec",
    "parse_mesh",
]
