"""What users write: the mesh spec's models, its loading with source positions, and its JSON Schema."""

from .diagnostics import Diagnostic, SpecError
from .loader import LoadedSpec, load_sources, load_spec
from .models import Mesh
from .source import SourceMap
from .structure import parse_mesh

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
