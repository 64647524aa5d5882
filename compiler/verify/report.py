"""`meshc verify` output: a reachability matrix (text) or the same as data (JSON), each failing
probe with the chain of resources that decided it."""

from __future__ import annotations

from typing import Any

from .check import Report, Result
from .refs import REFS


def _cell(results: list[Result]) -> str:
    if any(not r.ok for r in results):
        return "!"
    allowed = [r for r in results if r.decision == "allow"]
    if len(allowed) == len(results):
        return "A"
    return "a" if allowed else "."


def matrix(report: Report, limit: int = 60) -> list[str]:
    """Rows: callers; columns: callees. A all probes allowed, . all denied, a some (e.g. a port or
    method outside the declared edge), ! a probe contradicts the spec."""
    cells: dict[tuple[str, str], list[Result]] = {}
    for r in report.results:
        if r.probe.kind in ("edge", "non-edge", "least-privilege", "egress"):
            cells.setdefault((r.probe.source, r.probe.target), []).append(r)
    sources = sorted({s for s, _ in cells})
    targets = sorted({t for _, t in cells})
    if len(sources) > limit or len(targets) > limit:
        return [
            f"(matrix left out: {len(sources)} callers x {len(targets)} callees;"
            " see the failures and --format json)"
        ]
    width = max((len(s) for s in sources), default=0)
    lines = [" " * width + "  " + " ".join(f"{i % 100:>2}" for i in range(len(targets)))]
    for s in sources:
        row = " ".join(f"{_cell(cells[(s, t)]) if (s, t) in cells else ' ':>2}" for t in targets)
        lines.append(f"{s:<{width}}  {row}")
    lines.append("columns: " + ", ".join(f"{i}={t}" for i, t in enumerate(targets)))
    lines.append("A allowed, . denied, a partly (undeclared port/method/path denied), ! contradicts the spec")
    return lines


def text(report: Report) -> str:
    out = matrix(report)
    out.append("")
    for r in report.failures:
        out.append(f"{'WARN' if r.probe.expect.advisory else 'FAIL'} {r.probe.key}")
        out.append(f"  {r.reason}")
        for step in r.chain:
            out.append(f"    {step.resource}: {step.says}  [{step.ref}]")
    out.append(summary(report))
    return "\n".join(out) + "\n"


def summary(report: Report) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    sample = (
        f"; undeclared pairs: {report.undeclared_pairs}, sampled"
        if report.sampled
        else f"; undeclared pairs: {report.undeclared_pairs}, all probed"
    )
    edges = f"; declared edges probed: {report.edges_probed} of {report.edges}"
    advisory = len(report.failures) - len(report.bugs)
    failed = f"{len(report.bugs)}" + (f" (+{advisory} advisory)" if advisory else "")
    return f"{len(report.results)} probes ({counts}), {failed} failed{edges}{sample}; {report.seconds:.3f}s"


def result_json(r: Result) -> dict[str, Any]:
    return {
        "kind": r.probe.kind,
        "source": r.probe.source,
        "target": r.probe.target,
        "detail": r.probe.detail,
        "ok": r.ok,
        "advisory": r.probe.expect.advisory,
        "decision": r.decision,
        "reason": r.reason,
        "landed": dict(r.landed),
        "chain": [{"resource": s.resource, "says": s.says, "ref": REFS[s.ref]} for s in r.chain],
    }


def as_json(report: Report, *, all_results: bool) -> dict[str, Any]:
    chosen = report.results if all_results else report.failures
    return {
        "ok": not report.bugs,
        "probes": len(report.results),
        "advisory": len(report.failures) - len(report.bugs),
        "failed": len(report.bugs),
        "counts": report.counts,
        "declaredEdges": report.edges,
        "declaredEdgesProbed": report.edges_probed,
        "undeclaredPairs": report.undeclared_pairs,
        "sampled": report.sampled,
        "results": [result_json(r) for r in chosen],
    }
