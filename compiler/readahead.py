"""A big spec parsed by a forked child while this process opens the build cache.

A recompile at 10,000 services spends ~0.26 s reading the build cache's index and ~0.3 s parsing
the spec's YAML, one after the other, on one CPU of two. `start` reads the spec file and forks a
child that parses it (the loader's fast path, `meshc.spec.loader.parse_fast`); the child hands the
data back as JSON, with a digest of each service (`units.service_digests`) and the JSON of the rest
(`units.outside_services`), which the build cache's keys are made of. The models are validated
straight from that JSON (`LoadedSpec.json`, `meshc.spec.structure.parse_mesh`): the data itself is
never made in this process unless something asks for it (0.1 s and ~55 MB at 10,000 services,
when it was handed back marshalled). Data that is not plain JSON as it is (a key that is a number,
an integer beyond 64 bits) is handed back marshalled, as it was. Anything unusual (a directory,
CUE, a file the fast path refuses, a failed child) goes the usual way, `load_sources`, with the
bytes read here: the result is always what `load_spec` gives for the same bytes.
"""

from __future__ import annotations

import dataclasses
import marshal
from functools import partial
from pathlib import Path

from meshc.spec.diagnostics import SpecError
from meshc.spec.loaded import LoadedSpec
from meshc.spec.loader import is_cue_spec, load_sources, merge_documents, parse_fast, read_text
from meshc.spec.source import SourceFile, SourceMap

from . import workers
from .units import handover, service_digests

AHEAD_BYTES = 1 << 20
"""Specs from this size on are parsed ahead (a 10,000-service spec is ~8 MB; below ~1 MB the parse
costs less than a fork)."""


class ReadAhead:
    """The spec file `name` (its bytes read) being parsed by a forked child. Call `load` or
    `close` once, on every path: it reaps the child."""

    def __init__(self, name: str, raw: bytes, text: str) -> None:
        self.name, self.raw = name, raw
        self._text = text
        self.work = workers.BestEffort(partial(_parsed, text))

    def load(self) -> LoadedSpec:
        """The spec as `load_spec` loads it (SpecError as it raises), with the `digests` of its
        services when the child worked them out and, when it handed the data back as JSON, that
        `json` (the data is then made only if something asks for it: `LoadedSpec.data`)."""
        payload = self.work.result()
        found = marshal.loads(payload) if payload is not None else None
        if found is None:
            return load_sources([(self.name, self.raw)])
        source = SourceFile(self.name, text=self._text)
        if found[0] == "json":
            _, json, digests, outside = found
            return LoadedSpec(None, SourceMap([source]), digests, json, outside)
        _, data, digests = found
        loaded = merge_documents([(source, data)])
        return dataclasses.replace(loaded, digests=digests)

    def ready(self) -> bool:
        """Whether `load` would not wait for the child."""
        return self.work.ready()

    def close(self) -> None:
        self.work.close()


def _parsed(text: str) -> bytes | None:
    """In the child: the fast path's plain data as JSON, its services' digests and the JSON of the
    rest (`units.service_digests`, `units.outside_services`: worked out here, they spare both
    processes of a compile a pass over the data), marshalled; None: the careful path decides."""
    data = parse_fast(text)
    if data is None:
        return None
    found = handover(data)
    if found is not None:
        return marshal.dumps(("json", *found))
    return marshal.dumps(("data", data, service_digests(data)))  # not plain JSON as it is


def start(spec: str) -> ReadAhead | None:
    """Parse the spec file at `spec` ahead, if it is a big YAML file and forking is safe here; None
    otherwise (and on any problem reading it: `load_spec` then reports it)."""
    path = Path(spec)
    try:
        if not path.is_file() or path.stat().st_size < AHEAD_BYTES or is_cue_spec(path):
            return None
        if not workers.can_fork():
            return None
        raw = path.read_bytes()
        text = read_text(raw, spec)
        return ReadAhead(spec, raw, text)
    except (OSError, SpecError):
        return None
