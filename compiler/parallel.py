"""The pipeline with the semantic rules forked beside lowering, for a big mesh; what the CLI runs.

`run` takes the arguments of `meshc.compiler.pipeline.run` and has its outcome exactly: the same
result, the same diagnostics, the same failures. From PARALLEL_SERVICES services on (and where
forking is safe, see `workers`), `check_semantics` runs in a forked child while this process goes
on with the policies, lowering and the checks of the output; below, it is `pipeline.run`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshc.spec.diagnostics import Diagnostic, SpecError, has_errors

from . import outdir, pipeline, workers
from .emit import OutputError
from .pipeline import Checked, Compilation, Parsed, Steps, Verified

if TYPE_CHECKING:
    from .buildcache import BuildCache
    from .units import UnitKeys

PARALLEL_SERVICES = 2_000
"""From this many services on, the semantic rules run in a forked child while this process goes on
with the later steps (lowering; for `meshc validate`, the self-check): on two CPUs, a 10,000-service
mesh waits ~0.3-0.9 s for the rules instead of ~1.5-2 s."""


def _strategy(parsed: Parsed) -> Callable[..., Compilation]:
    return _speculatively if rules_beside_lowering(parsed) else Steps.compile


def run(
    path: str | Path, *, cache: BuildCache | None = None, output: Path | None = None, **options: Any
) -> Compilation:
    """`pipeline.run` (same arguments), with the rules beside lowering for a big mesh and, for a
    compile into the big tree the cache describes, that tree listed while the spec is parsed
    (`scanning_early`): the same outcome."""
    with scanning_early(cache, output):
        return pipeline.run(path, cache=cache, output=output, strategy=_strategy, **options)


@contextmanager
def scanning_early(cache: BuildCache | None, output: Path | None) -> Iterator[None]:
    """`scan_early` for the block, unless the cache has an early scan already (`run` inside the
    CLI's block: the CLI starts it before the spec's models fill the heap, once a read-ahead child
    has parsed the spec; see `cli._compile_with`). Whoever starts it closes it (the child is reaped
    on every path)."""
    early = scan_early(cache, output) if cache is None or cache.early_scan is None else None
    try:
        yield
    finally:
        if early is not None:
            assert cache is not None
            cache.early_scan = None
            early.close()


def scan_early(cache: BuildCache | None, output: Path | None) -> outdir.EarlyScan | None:
    """For a compile into the big tree the cache's index describes: its folders listed from now
    on, in a forked child, while this process reads the spec (`outdir.EarlyScan`, which the write
    takes from `cache.early_scan`)."""
    if cache is None or output is None or len(cache.tree) < outdir.EARLY_SCAN_FILES:
        return None
    target = os.path.realpath(Path(output).absolute())
    if cache.tree_target != target or not cache.tree_folders or not workers.can_fork():
        return None
    try:
        cache.early_scan = outdir.EarlyScan(target, cache.tree_folders, cache.tree_marker_ns)
    except OSError:  # no fork now (memory, process limits): the write lists them itself
        return None
    return cache.early_scan


def rules_beside_lowering(parsed: Parsed) -> bool:
    return len(parsed.index.services) >= PARALLEL_SERVICES and workers.can_fork()


class _RulesSaidNo(Exception):
    """The gate of a staged output stays shut: the rules rejected the spec (or failed)."""


class _Rules:
    """The forked rules: joined once, by the output's gate or at the end, whichever comes first."""

    def __init__(self, child: workers.Forked[_RuleOutcome], strict: bool, cache: BuildCache | None) -> None:
        self.child = child
        self.strict = strict
        self.cache = cache
        self.outcome: _RuleOutcome | workers.WorkerFailed | None = None
        self.interrupted: BaseException | None = None
        """What interrupted the wait (Ctrl-C): raised again, the child is never waited for twice."""
        self.waited = 0.0
        """Seconds this process spent waiting for the child."""

    def join(self) -> _RuleOutcome | workers.WorkerFailed:
        if self.interrupted is not None:
            raise self.interrupted
        if self.outcome is None:
            start = time.perf_counter()
            try:
                self.outcome = self.child.join()
            except workers.WorkerFailed as exc:
                self.outcome = exc
            except BaseException as exc:
                self.interrupted = exc
                raise
            finally:
                self.waited += time.perf_counter() - start
            rows = None if isinstance(self.outcome, workers.WorkerFailed) else self.outcome[1]
            if rows is not None and self.cache is not None:
                self.cache.keep_findings(rows)  # before the output's gate lets the cache be saved
        return self.outcome

    def gate(self) -> None:
        """Lets a staged output in only when the rules accept the spec."""
        outcome = self.join()
        if isinstance(outcome, workers.WorkerFailed) or has_errors(outcome[0], strict=self.strict):
            raise _RulesSaidNo


def _speculatively(
    steps: Steps,
    parsed: Parsed,
    *,
    strict: bool,
    policies: Sequence[Path],
    schemas: bool,
    behaviour: bool,
    output: Path | None = None,
) -> Compilation:
    """`check_semantics` in a child, the later steps here at the same time, with the sequential
    outcome.

    The later steps assume a spec the rules accepted; on a spec they reject, whatever those steps
    did (results, diagnostics, even a crash) is dropped and the rules' SpecError is raised, exactly
    as if they had never run. With an `output` directory, its new files are staged meanwhile too,
    and swapped in only once the rules have accepted the spec (the gate of `emit.write_tree`).
    """
    if steps.progress is not None:
        steps.progress("check_semantics")
    # The units' keys before the fork (as `Steps.compile` has them before the rules): both
    # processes need them, the child for the rules' plan and this one for lowering. Worked out
    # after the fork, each process would work them out and pay copy-on-write faults for them.
    keys = steps.unit_keys(parsed)
    rules = _Rules(workers.Forked(partial(_rule_findings, parsed, steps.cache, keys)), strict, steps.cache)
    failure: BaseException | None = None
    later: list[Diagnostic] = []
    verified: Verified | None = None
    try:
        later = steps.policies(parsed, policies, strict=strict)
        verified = steps.lower_and_verify(parsed, schemas=schemas, behaviour=behaviour)
        if output is not None:
            waited = rules.waited
            steps.write(verified, output, rules.gate)
            steps.timings["self_check+write"] -= rules.waited - waited
    except BaseException as exc:  # decided below, once the rules have spoken
        failure = exc
    outcome = rules.join()
    if isinstance(outcome, workers.WorkerFailed):
        if failure is not None and not isinstance(failure, Exception):
            raise failure from None  # Ctrl-C reached both processes: an interruption, not a bug
        raise RuntimeError(f"the semantic rules failed in their worker process:\n{outcome.message}") from None
    if failure is not None and not isinstance(failure, Exception):
        raise failure
    findings, _, seconds = outcome
    steps.timings["check_semantics"] = seconds
    steps.timings["rules_wait"] = rules.waited
    if has_errors(findings, strict=strict):
        raise SpecError(pipeline.merged(findings))
    assert not isinstance(failure, _RulesSaidNo)  # the rules accepted the spec
    if isinstance(failure, SpecError):  # a later step's own diagnostics, now with the rules' too
        raise SpecError(pipeline.merged(findings, failure.diagnostics), usage=failure.usage) from None
    if isinstance(failure, OutputError):  # the spec was accepted: its warnings still count
        failure.diagnostics = [*findings, *later]
    if failure is not None:
        raise failure
    assert verified is not None  # no failure: the later steps all ran
    return Compilation(Checked(parsed, [*findings, *later]), verified, steps.timings)


_RuleOutcome = tuple[list[Diagnostic], "dict[str, list[pipeline.FindingRow]] | None", float]
"""The rules' diagnostics, their local findings for the build cache (with a plan) and their seconds."""


def _rule_findings(parsed: Parsed, cache: BuildCache | None, keys: UnitKeys | None) -> _RuleOutcome:
    """What `check_semantics` finds, the local findings for the build cache (with the `cache` and
    the units' `keys`: the rules then look again only at the units whose key changed), and how long
    it took (run in the child)."""
    start = time.perf_counter()
    if keys is None or cache is None:
        return pipeline.rule_findings(parsed), None, time.perf_counter() - start
    findings, rows = pipeline.rule_results(parsed, pipeline.plan_rules(parsed, keys, cache))
    return findings, rows, time.perf_counter() - start
