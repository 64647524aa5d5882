"""The pipeline with the semantic rules forked beside lowering, for a big mesh; what the CLI runs.

`run` takes the arguments of `meshc.compiler.pipeline.run` and has its outcome exactly: the same
result, the same diagnostics, the same failures. From PARALLEL_SERVICES services on (and where
forking is safe, see `workers`), `check_semantics` runs in a forked child while this process goes
on with the policies, lowering and the checks of the output; below, it is `pipeline.run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from meshc.spec.diagnostics import Diagnostic, SpecError, has_errors

from . import pipeline, workers
from .pipeline import Checked, Compilation, Parsed, Steps, Verified

PARALLEL_SERVICES = 2_000
"""From this many services on, the semantic rules run in a forked child while this process goes on
with the later steps (lowering; for `meshc validate`, the self-check): on two CPUs, a 10,000-service
mesh waits ~0.3-0.9 s for the rules instead of ~1.5-2 s."""


def _strategy(parsed: Parsed) -> Callable[..., Compilation]:
    return _speculatively if rules_beside_lowering(parsed) else Steps.compile


run = partial(pipeline.run, strategy=_strategy)
"""`pipeline.run` (same arguments), with the rules beside lowering for a big mesh (same outcome)."""


def rules_beside_lowering(parsed: Parsed) -> bool:
    return len(parsed.index.services) >= PARALLEL_SERVICES and workers.can_fork()


def _speculatively(
    steps: Steps, parsed: Parsed, *, strict: bool, policies: Sequence[Path], schemas: bool, behaviour: bool
) -> Compilation:
    """`check_semantics` in a child, the later steps here at the same time, with the sequential
    outcome.

    The later steps assume a spec the rules accepted; on a spec they reject, whatever those steps
    did (results, diagnostics, even a crash) is dropped and the rules' SpecError is raised, exactly
    as if they had never run.
    """
    if steps.progress is not None:
        steps.progress("check_semantics")
    plan = steps.rule_plan(parsed)
    start, earlier = time.perf_counter(), sum(steps.timings.values())
    rules = workers.Forked(partial(_rule_findings, parsed, plan))
    failure: BaseException | None = None
    later: list[Diagnostic] = []
    verified: Verified | None = None
    try:
        later = steps.policies(parsed, policies, strict=strict)
        verified = steps.lower_and_verify(parsed, schemas=schemas, behaviour=behaviour)
    except BaseException as exc:  # decided below, once the rules have spoken
        failure = exc
    try:
        findings, rows, seconds = rules.join()
    except workers.WorkerFailed as exc:
        if failure is not None and not isinstance(failure, Exception):
            raise failure from None  # Ctrl-C reached both processes: an interruption, not a bug
        raise RuntimeError(f"the semantic rules failed in their worker process:\n{exc.message}") from None
    if failure is not None and not isinstance(failure, Exception):
        raise failure
    waited = time.perf_counter() - start - (sum(steps.timings.values()) - earlier)
    steps.timings["check_semantics"] = seconds
    steps.timings["rules_wait"] = waited
    if rows is not None and steps.cache is not None:
        steps.cache.keep_findings(rows)
    if has_errors(findings, strict=strict):
        raise SpecError(pipeline.merged(findings))
    if isinstance(failure, SpecError):  # a later step's own diagnostics, now with the rules' too
        raise SpecError(pipeline.merged(findings, failure.diagnostics), usage=failure.usage) from None
    if failure is not None:
        raise failure
    assert verified is not None  # no failure: the later steps all ran
    return Compilation(Checked(parsed, [*findings, *later]), verified, steps.timings)


def _rule_findings(
    parsed: Parsed, plan: pipeline.RulePlan | None
) -> tuple[list[Diagnostic], dict[str, list[pipeline.FindingRow]] | None, float]:
    """What `check_semantics` finds, the local findings for the build cache (with a `plan`), and
    how long it took (run in the child)."""
    start = time.perf_counter()
    if plan is None:
        return pipeline.rule_findings(parsed), None, time.perf_counter() - start
    findings, rows = pipeline.rule_results(parsed, plan)
    return findings, rows, time.perf_counter() - start
