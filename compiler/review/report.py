"""Compile two revisions of a spec and compare them: the `Report` every output format renders."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from meshc.spec.diagnostics import Diagnostic, SpecError

from .. import parallel
from ..pipeline import Compilation
from .gitsource import Revision
from .graph import Graph, build_graph, merge
from .intent import IntentDiff, diff_intent
from .resources import ResourceDiff, diff_manifests
from .view import MeshView, build_views


class RevisionInvalid(Exception):
    """One side of the comparison does not compile; carries which side and its diagnostics."""

    def __init__(self, side: str, revision: Revision, error: SpecError) -> None:
        super().__init__(f"{side} ({revision.label}) does not compile")
        self.side = side
        self.revision = revision
        self.diagnostics: list[Diagnostic] = error.diagnostics
        self.usage = error.usage


def compile_revision(revision: Revision, side: str) -> Compilation | None:
    """The compiled spec at `revision`, None when the spec does not exist there."""
    if revision.sources is None:
        return None
    try:
        return parallel.run(revision.path, loaded=revision.load())
    except SpecError as exc:
        raise RevisionInvalid(side, revision, exc) from None


@dataclass(slots=True)
class Report:
    spec: str
    base: Revision
    head: Revision
    intent: IntentDiff
    resources: ResourceDiff
    graph: Graph
    base_invalid: list[Diagnostic] = field(default_factory=list)
    """Errors of a base that did not compile (with `--allow-invalid-base`: compared as empty)."""
    warnings: list[Diagnostic] = field(default_factory=list)
    """Warnings of the head revision."""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        out = []
        if self.base_invalid:
            out.append(
                f"the base ({self.base.label}) does not compile ({len(self.base_invalid)} errors); "
                "the head is compared with an empty mesh"
            )
        elif not self.base.exists:
            out.append(f"the spec does not exist at the base ({self.base.label}): everything is new")
        if not self.head.exists:
            out.append(f"the spec does not exist at the head ({self.head.label}): everything is removed")
        return out

    @property
    def has_risks(self) -> bool:
        return bool(self.intent.risks)

    @property
    def empty(self) -> bool:
        return not self.intent.changes and not self.resources.total and not self.intent.risks


def compare(spec: str, base: Revision, head: Revision, *, allow_invalid_base: bool = False) -> Report:
    """Compile both revisions and diff them. Raises `RevisionInvalid` for a side that does not compile
    (the base only when `allow_invalid_base` is false)."""
    # Like the pipeline: two compiled meshes are millions of small acyclic objects that the cyclic
    # collector would rescan again and again while the second one is built and compared.
    collect = gc.isenabled()
    gc.disable()
    try:
        return _compare(spec, base, head, allow_invalid_base)
    finally:
        if collect:
            gc.enable()


def _compare(spec: str, base: Revision, head: Revision, allow_invalid_base: bool) -> Report:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    base_invalid: list[Diagnostic] = []
    try:
        old = compile_revision(base, "base")
    except RevisionInvalid as exc:
        if not allow_invalid_base or exc.usage:
            raise
        old, base_invalid = None, exc.diagnostics
    timings["compile_base"] = time.perf_counter() - start
    start = time.perf_counter()
    new = compile_revision(head, "head")
    timings["compile_head"] = time.perf_counter() - start
    start = time.perf_counter()
    old_view, new_view = build_views(old.index if old else None, new.index if new else None)
    intent = diff_intent(old_view, new_view)
    resources = diff_manifests(old.manifests if old else [], new.manifests if new else [])
    graph = merge(_graph(old_view), _graph(new_view))
    timings["diff"] = time.perf_counter() - start
    return Report(
        spec=spec,
        base=base,
        head=head,
        intent=intent,
        resources=resources,
        graph=graph,
        base_invalid=base_invalid,
        warnings=[d for d in new.diagnostics if d.severity != "error"] if new else [],
        timings=timings,
    )


def _graph(view: MeshView | None) -> Graph | None:
    return build_graph(view) if view is not None else None
