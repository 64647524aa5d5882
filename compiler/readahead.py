"""A big spec parsed by a forked child while this process opens the build cache.

A recompile at 10,000 services spends ~0.2 s reading the build cache's index and ~0.35 s parsing
the spec's YAML, one after the other, on one CPU of two. `start` reads the spec file and forks a
child that parses it (the loader's fast path, `meshc.spec.loader.parse_fast`) and hands the data
back as JSON (`workers.Streamed`): first what is around the services (`units.handover_head`, with
the JSON of the data but its services, which the build cache's keys are made of), then the
services in batches with a digest of each (`units.handover_batches`), then an end mark. This
process validates each batch as it comes (`meshc.spec.structure.validate_services`) while the
child dumps the next: at 10,000 services the models are ready ~0.1 s sooner than when the JSON
came whole. `LoadedSpec.services` holds them, `parse_mesh` validates the rest around them; a batch
it rejects leaves the whole to be validated as usual, for the usual diagnostics. The data itself is
never made in this process unless something asks for it (`LoadedSpec.data`, from the JSON: ~55 MB
of dicts and lists at 10,000 services). Data that is not plain JSON as it is (a key that is a
number, an integer beyond 64 bits) is handed back marshalled, as it was. Anything unusual (a
directory, CUE, a file the fast path refuses, a failed or killed child) goes the usual way,
`load_sources`, with the bytes read here: the result is always what `load_spec` gives for the
same bytes.
"""

from __future__ import annotations

import dataclasses
import marshal
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from meshc.spec.diagnostics import SpecError
from meshc.spec.loaded import LoadedSpec
from meshc.spec.loader import is_cue_spec, load_sources, merge_documents, parse_fast, read_text
from meshc.spec.source import SourceFile, SourceMap

from . import workers
from .units import HandoverHead, handover_batches, handover_head, handover_json, service_digests

AHEAD_BYTES = 1 << 20
"""Specs from this size on are parsed ahead (a 10,000-service spec is ~8 MB; below ~1 MB the parse
costs less than a fork)."""


class ReadAhead:
    """The spec file `name` (its bytes read) being parsed by a forked child. Call `load` or
    `close` once, on every path: it reaps the child."""

    def __init__(self, name: str, raw: bytes, text: str) -> None:
        self.name, self.raw = name, raw
        self._text = text
        self.work = workers.Streamed(partial(_parsed, text))

    def load(self) -> LoadedSpec:
        """The spec as `load_spec` loads it (SpecError as it raises), with the `digests` of its
        services when the child worked them out and, when it handed the data back as JSON, that
        `json` (the data is then made only if something asks for it: `LoadedSpec.data`) and the
        models of its services (`LoadedSpec.services`), validated batch by batch as they came."""
        try:
            frames = self.work.frames()
            first = next(frames, None)
            found = marshal.loads(first) if first is not None else None
            loaded = None
            if found is not None:
                source = SourceFile(self.name, text=self._text)
                if found[0] == "json":
                    loaded = _from_json(source, found[1:], frames)
                else:
                    loaded = _from_data(source, found[1:])
        finally:
            self.work.close()
        return loaded if loaded is not None else load_sources([(self.name, self.raw)])

    def ready(self) -> bool:
        """Whether the child has begun to hand the spec over (or has ended): `load` would not wait
        for its parse. The batches after the first may still be on their way."""
        return self.work.ready()

    def wait(self) -> None:
        """Wait until `ready`: the child has parsed the spec (or has ended)."""
        self.work.wait()

    def close(self) -> None:
        self.work.close()


def _from_data(source: SourceFile, found: tuple[Any, ...]) -> LoadedSpec:
    data, digests = found
    loaded = merge_documents([(source, data)])
    return dataclasses.replace(loaded, digests=digests)


def _from_json(source: SourceFile, head: HandoverHead, frames: Iterator[bytes]) -> LoadedSpec | None:
    """The spec from the child's JSON: its services validated batch by batch as they come (the
    child dumps the next batches meanwhile), until one is rejected (then `parse_mesh` validates the
    whole as usual, for the usual diagnostics); None if the child stopped before its last frame."""
    from meshc.spec.structure import validate_services

    _, _, rest, count = head
    chunks: list[bytes] = []
    digests: list[bytes] = []
    services: list[Any] | None = []
    for frame in frames:
        found = marshal.loads(frame)
        if found[0] == "batch":
            chunks.append(found[1])
            digests += found[2]
            if services is not None:
                batch = validate_services(found[1])
                if batch is None:
                    services = None
                else:
                    services.extend(batch)
        elif found[0] == "data":  # a service that is not plain JSON as it is
            return _from_data(source, found[1:])
        else:  # "end"
            if len(digests) != count:
                return None
            return LoadedSpec(
                None,
                SourceMap([source]),
                tuple(digests),
                handover_json(head, chunks),
                (rest, count),
                None if services is None else tuple(services),
            )
    return None


def _parsed(text: str, send: Callable[[bytes], None]) -> None:
    """In the child: the fast path's plain data handed over as JSON, each frame marshalled: what
    is around the services (`units.handover_head`), the services in batches with their digests
    (`units.handover_batches`: worked out here, they spare both processes of a compile a pass over
    the data), an end mark. A first frame of None: the careful path decides; data that is not
    plain JSON as it is (found at any frame): the data itself, with the digests if it has them."""
    data = parse_fast(text)
    if data is None:
        send(marshal.dumps(None))
        return
    head = handover_head(data)
    if head is None:
        send(marshal.dumps(("data", data, service_digests(data))))
        return
    send(marshal.dumps(("json", *head)))
    try:
        for chunk, digests in handover_batches(data["spec"]["services"]):
            send(marshal.dumps(("batch", chunk, digests)))
    except (TypeError, orjson.JSONEncodeError):
        send(marshal.dumps(("data", data, service_digests(data))))
        return
    send(marshal.dumps(("end",)))


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
