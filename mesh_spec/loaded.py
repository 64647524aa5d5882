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
    _data: dict[str, Any] | None
    """The data (`data`); None when only its `json` was handed over."""
    source: SourceMap
    digests: tuple[bytes, ...] | None = None
    """A content digest of each entry of `spec.services`, when whoever parsed the data worked them
    out there (meshc's read-ahead, beside its parse: `meshc.compiler.units.service_digests`);
    None otherwise."""
    json: bytes | None = None
    """The data as JSON, when whoever parsed it handed it over so (meshc's read-ahead): validated
    from these bytes (`meshc.spec.structure.parse_mesh`), the data itself is made only if something
    asks for it (a 10,000-service spec's ~55 MB of dicts and lists, ~0.1 s)."""
    outside_services: tuple[bytes, int] | None = None
    """With `json`: the data but `spec.services` as JSON (`meshc.compiler.units.outside_services`)
    and the number of services, which the build cache's keys are made of."""
    services: tuple[Any, ...] | None = None
    """With `json`: the models of `spec.services` (`meshc.spec.models.Service`), when whoever handed
    the JSON over validated them already (meshc's read-ahead, batch by batch as the child sent
    them: `meshc.spec.structure.validate_services`); None otherwise, or when one was rejected."""

    @property
    def data(self) -> dict[str, Any]:
        """The spec's plain data (made from `json` the first time, when it was handed over so)."""
        if self._data is None:
            import orjson

            assert self.json is not None
            object.__setattr__(self, "_data", orjson.loads(self.json))
            assert self._data is not None
        return self._data


__all__ = ["LoadedSpec"]
