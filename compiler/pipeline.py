"""The pipeline: named stages, listed once in `STAGES`, each taking and filling a `Compilation`.

load -> check_structure -> check_semantics -> check_policies -> lower_resources ->
check_unique_objects -> self_check -> verify_output. Callers that need a prefix use the named
tuples (`PARSE_STAGES`, `MODEL_STAGES`, `STAGES_AFTER_LOAD`, `UNCHECKED_STAGES`), never a slice.
Parsing happens once at the edge (load + structure); everything after works on typed, immutable
data. A stage stops the pipeline by raising `SpecError` (the user's input is wrong) or
`CompilerBug` (meshc is wrong).

For a big mesh (PARALLEL_SERVICES) the semantic rules run in a forked child beside lowering and
self-check; the outcome is the sequential one (see `_run_speculatively`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from meshc.spec.diagnostics import Diagnostic, SpecError, has_errors
from meshc.spec.loader import LoadedSpec, load_spec
from meshc.spec.models import Mesh
from meshc.spec.structure import parse_mesh

from . import workers
from .emit import OutputRejected, write_tree
from .gcpause import gc_paused
from .index import MeshIndex
from .lower import Manifest, lower
from .rules import RuleContext, run_rules


class CompilerBug(Exception):
    """The compiled output failed its self-check: a bug in meshc, never the user's fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Compilation:
    path: str | Path
    strict: bool = False
    loaded: LoadedSpec | None = None
    mesh: Mesh | None = None
    index: MeshIndex | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    policies: tuple[Path, ...] = ()
    """CUE policy files or directories to unify the spec with (`meshc validate --policy`)."""

    @property
    def failed(self) -> bool:
        return has_errors(self.diagnostics, strict=self.strict)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(m.kind for m in self.manifests).items()))


def load(c: Compilation) -> None:
    if c.loaded is None:  # callers reading from git hand in sources they already loaded
        c.loaded = load_spec(c.path)


def check_structure(c: Compilation) -> None:
    assert c.loaded is not None
    c.mesh = parse_mesh(c.loaded)
    c.index = MeshIndex(c.mesh)


def check_semantics(c: Compilation) -> None:
    assert c.mesh is not None and c.index is not None and c.loaded is not None
    c.diagnostics.extend(run_rules(RuleContext(c.mesh, c.index), c.loaded.source))
    if c.failed:
        raise SpecError(c.diagnostics)


def check_policies(c: Compilation) -> None:
    """Organisation guardrails written in CUE; every violation is a diagnostic (none: a no-op)."""
    if not c.policies:
        return
    assert c.loaded is not None
    from meshc.spec.cue.policy import check_policies as run_policies

    c.diagnostics.extend(run_policies(c.loaded, c.policies))
    if c.failed:
        raise SpecError(c.diagnostics)


def lower_resources(c: Compilation) -> None:
    assert c.index is not None
    c.manifests = lower(c.index)


def check_unique_objects(c: Compilation) -> None:
    """The invariant that no two compiled objects share a kind, namespace and name (per cluster).

    Applying two such objects keeps only the last, silently (a service's ALLOW policy replacing
    the namespace's allow-nothing policy opens the namespace). The rules (MC150) reject every spec
    whose names collide; one that still gets here is a meshc bug, so nothing is written.
    """
    first: dict[tuple[str, str, str, str], Manifest] = {}
    problems = []
    for m in c.manifests:
        key = (m.cluster or "", m.kind, m.namespace or "", m.name)
        earlier = first.setdefault(key, m)
        if earlier is not m:
            where = f" in cluster {m.cluster}" if m.cluster else ""
            sources = f"{earlier.owner or 'the mesh'} and {m.owner or 'the mesh'}"
            problems.append(f"{m.ref}{where}: compiled twice (from {sources})")
    if problems:
        raise compiler_bug(problems)


def self_check(c: Compilation) -> None:
    problems = self_check_problems(c.manifests)
    if problems:
        raise compiler_bug(problems)


def self_check_problems(manifests: Sequence[Manifest]) -> list[str]:
    """Every schema, CEL and metadata problem of `manifests`, one line each (none: all valid)."""
    from .selfcheck import check_resources  # imported here: loading CRD schemas is not free

    problems = check_resources([m.body for m in manifests])
    return [f"{manifests[p.index].ref}: {p.path}: {p.message}" for p in problems]


def verify_output(c: Compilation) -> None:
    """The behaviour verifier (compiler/verify, docs/verify.md): probes generated from the spec run
    against a model of what Istio does with the compiled resources. Output that lets an undeclared
    caller in, keeps a declared one out, routes elsewhere than the spec says or touches what the
    spec does not own is a meshc bug: CompilerBug (exit 3, nothing written). Advisory probes (a
    limit of Istio the spec can only avoid, see probes.Expect) never fail a compile."""
    assert c.index is not None
    from .verify import verify  # imported here: the model is only loaded by commands that lower

    report = verify(c.index, c.manifests)
    if report.bugs:
        raise compiler_bug([f"verify: {r.probe.key}: {r.reason}" for r in report.bugs])


def compiler_bug(problems: list[str]) -> CompilerBug:
    return CompilerBug(problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else []))


Stage = Callable[[Compilation], None]
PARSE_STAGES: tuple[Stage, ...] = (load, check_structure)
"""The spec as the typed model and its index, no rules: what rule fixtures and model tests need."""
MODEL_STAGES: tuple[Stage, ...] = (*PARSE_STAGES, check_semantics)
"""The checked model, not lowered: what `meshc graph` draws."""
STAGES: tuple[Stage, ...] = (
    *MODEL_STAGES,
    check_policies,
    lower_resources,
    check_unique_objects,
    self_check,
    verify_output,
)
"""The whole compilation, in order."""
STAGES_AFTER_LOAD = tuple(s for s in STAGES if s is not load)
"""STAGES for a spec loaded beforehand and handed to `run(..., loaded=...)` (timed apart)."""
UNCHECKED_STAGES = tuple(s for s in STAGES if s is not self_check)
"""STAGES but the self-check, for a compilation `write_checked` writes (it checks on the way): the
verifier then runs before the self-check, and both must pass before anything is written."""


def run(
    path: str | Path,
    *,
    strict: bool = False,
    stages: tuple[Stage, ...] = STAGES,
    progress: Callable[[str], None] | None = None,
    loaded: LoadedSpec | None = None,
    policies: tuple[Path, ...] = (),
) -> Compilation:
    """Run `stages` in order. Raises SpecError (with every diagnostic so far) or CompilerBug."""
    c = Compilation(path, strict=strict, loaded=loaded, policies=policies)
    with gc_paused():
        _run_stages(c, stages, progress)
    return c


def _run_stages(c: Compilation, stages: tuple[Stage, ...], progress: Callable[[str], None] | None) -> None:
    for i, stage in enumerate(stages):
        if stage is check_semantics and _rules_beside_lowering(c):
            _run_speculatively(c, stages[i + 1 :], progress)
            return
        _run_stage(c, stage, progress)


def _run_stage(c: Compilation, stage: Stage, progress: Callable[[str], None] | None) -> None:
    if progress is not None:
        progress(stage.__name__)
    start = time.perf_counter()
    try:
        stage(c)
    except SpecError as exc:
        merged = {d: None for d in (*c.diagnostics, *exc.diagnostics)}
        raise SpecError(sorted(merged, key=lambda d: d.sort_key), usage=exc.usage) from None
    finally:
        c.timings[stage.__name__] = time.perf_counter() - start


PARALLEL_SERVICES = 2_000
"""From this many services on, the semantic rules run in a forked child while this process goes on
with the later stages (lowering; for `meshc validate`, the self-check): on two CPUs, a 10,000-service
mesh waits ~0.3-0.9 s for the rules instead of ~1.5-2 s."""


def _rules_beside_lowering(c: Compilation) -> bool:
    return c.index is not None and len(c.index.services) >= PARALLEL_SERVICES and workers.can_fork()


def _run_speculatively(
    c: Compilation, later: tuple[Stage, ...], progress: Callable[[str], None] | None
) -> None:
    """`check_semantics` in a child, `later` here at the same time, with the sequential outcome.

    The later stages assume a spec the rules accepted; on a spec they reject, whatever those stages
    did (results, diagnostics, even a crash) is dropped and the rules' SpecError is raised, exactly
    as if they had never run.
    """
    if progress is not None:
        progress(check_semantics.__name__)
    before = list(c.diagnostics)
    start = time.perf_counter()
    rules = workers.Forked(partial(_semantic_findings, c))
    failure: BaseException | None = None
    try:
        for stage in later:
            _run_stage(c, stage, progress)
    except BaseException as exc:  # decided below, once the rules have spoken
        failure = exc
    try:
        findings, seconds = rules.join()
    except workers.WorkerFailed as exc:
        if failure is not None and not isinstance(failure, Exception):
            raise failure from None  # Ctrl-C reached both processes: an interruption, not a bug
        raise RuntimeError(f"the semantic rules failed in their worker process:\n{exc.message}") from None
    if failure is not None and not isinstance(failure, Exception):
        raise failure
    c.timings[check_semantics.__name__] = seconds
    c.timings["rules_wait"] = time.perf_counter() - start - sum(c.timings.get(s.__name__, 0.0) for s in later)
    if has_errors([*before, *findings], strict=c.strict):
        c.diagnostics = sorted({d: None for d in (*before, *findings)}, key=lambda d: d.sort_key)
        c.manifests = []
        raise SpecError(c.diagnostics)
    c.diagnostics = [*before, *findings, *c.diagnostics[len(before) :]]
    if isinstance(failure, SpecError):  # a later stage's own diagnostics, now with the rules' too
        raise SpecError(sorted({d: None for d in c.diagnostics}, key=lambda d: d.sort_key)) from None
    if failure is not None:
        raise failure


def _semantic_findings(c: Compilation) -> tuple[list[Diagnostic], float]:
    """What `check_semantics` would add to the diagnostics (run in the child)."""
    assert c.mesh is not None and c.index is not None and c.loaded is not None
    start = time.perf_counter()
    findings = run_rules(RuleContext(c.mesh, c.index), c.loaded.source)
    return findings, time.perf_counter() - start


def write_checked(c: Compilation, output: Path) -> None:
    """Write a compilation run with UNCHECKED_STAGES to `output` (atomically, see emit.write_tree),
    self-checking it on the way, as `meshc compile -o DIR` does.

    The self-check runs in the processes that write the files (one per CPU for a big mesh), each on
    its own share before writing any of it: one pass over the output instead of two, and the check
    spread over the CPUs. A problem anywhere and nothing is written: CompilerBug, as from the
    `self_check` stage. Raises emit.OutputError when the directory cannot be written.
    """
    start = time.perf_counter()
    try:
        with gc_paused():
            write_tree(c.manifests, output, check=self_check_problems)
    except OutputRejected as exc:
        raise compiler_bug(exc.problems) from None
    finally:
        c.timings["self_check+write"] = time.perf_counter() - start


def compile_mesh(path: str | Path, *, strict: bool = False) -> list[Manifest]:
    """Library entry point: the manifests of a valid spec (raises SpecError / CompilerBug)."""
    return run(path, strict=strict).manifests
