"""What a loader hands to validation: the spec's plain data and the map back to its source files.

Both loaders produce it (YAML in `meshc.spec.loader`, CUE in `meshc.spec.cue.spec`); it lives apart
from either so that the CUE adapter does not import the YAML loader that dispatches to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .source import SourceMap


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    data: dict[str, Any]
    source: SourceMap
    digests: tuple[bytes, ...] | None = None
    """A content digest of each entry of `spec.services`, when whoever parsed the data worked them
    out there (meshc's read-ahead, beside its parse: `meshc.compiler.units.service_digests`);
    None otherwise."""


__all__ = ["LoadedSpec"]
