"""A service's timeout is shorter than the time its downstream call chain may take to answer.

Why: a caller of S gives up after S's `timeout`. If S waits on a callee that may legitimately take
longer (the callee's own timeout, or its retries, or the longest chain below it), S keeps working
for a caller that is gone: the request fails with a 504 at the edge while the work below still
runs, and retries at the edge pile more work on top. The worst-case answer time of a callee C is
W(C): its `timeout` if set, else (attempts + 1) x perTryTimeout if it retries with a per-try
timeout, else the longest W of its own callees. A cycle in the call graph, or a call over TCP
(which has no request timeout), counts as unknown.

Example:
    services:
      - name: frontend
        traffic: { timeout: 2s }          # frontend (2s) -> cart -> db (5s)
        calls: [{ service: cart }]
      - name: cart
        calls: [{ service: db }]
      - name: db
        traffic: { timeout: 5s }

Fix: raise the caller's timeout above the chain's worst case, or lower the timeouts (or retries)
further down so that the chain answers in time.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import duration_seconds

from ..index import ServiceInfo
from .base import Finding, RuleContext
from .walk import CallGraph, Path, seconds

CODE = "MC110"
NAME = "timeout-budget"
SEVERITY = "warning"
SCOPE = "mesh"

SHOWN_HOPS = 6

_Wait = tuple[float, int | None, int, int]
"""The worst-case answer time of a service, and why: (seconds, the callee that determines it (None
when the service bounds it itself), the service at the end of that chain, its number of hops).
A plain tuple, and the labels are written only for a finding: every service of the mesh gets one."""


def _retry_bound(info: ServiceInfo) -> float | None:
    """The time within which a service without a timeout answers by its retries, if they bound it."""
    r = info.traffic_value("retries")
    if r is not None and r.attempts > 0 and r.per_try_timeout:
        return (r.attempts + 1) * duration_seconds(r.per_try_timeout)
    return None


def _own_label(info: ServiceInfo) -> str:
    """`db (5s)`: the service and what bounds it (its timeout, else its retries)."""
    traffic = info.traffic
    if traffic.timeout:
        return f"{info.key} ({traffic.timeout})"
    r = traffic.retries
    assert r is not None
    return f"{info.key} ({r.attempts + 1} x {r.per_try_timeout})"


def _label(node: int, graph: CallGraph, waits: list[_Wait | None]) -> str:
    """`db (5s)` when the service bounds its answer time itself, else just its name."""
    wait = waits[node]
    assert wait is not None
    return _own_label(graph.nodes[node]) if wait[1] is None else graph.nodes[node].name


def _slowest(node: int, graph: CallGraph, waits: list[_Wait | None]) -> _Wait | None:
    """The callee that may take longest to answer (callees on a cycle back to us, or called over
    TCP, are unknown)."""
    best: _Wait | None = None
    via = 0
    for callee, http in zip(graph.callees[node], graph.http[node], strict=True):
        if not http:
            continue  # a TCP connection has no request timeout: unknown
        wait = waits[callee]
        if wait is not None and (best is None or wait[0] > best[0]):
            best, via = wait, callee
    if best is None:
        return None
    return (best[0], via, best[2], best[3] + 1)


def _describe(start: str, first: int, graph: CallGraph, waits: list[_Wait | None]) -> str:
    parts = [start]
    node: int | None = first
    while node is not None and len(parts) < SHOWN_HOPS:
        parts.append(_label(node, graph, waits))
        wait = waits[node]
        assert wait is not None
        node = wait[1]
    if node is not None:  # elide the middle of a long chain, keep where the time is spent
        rest = waits[node]
        assert rest is not None
        if rest[1] is None:
            parts.append(_label(node, graph, waits))
        else:
            parts += [f"... ({rest[3]} more)", _own_label(graph.nodes[rest[2]])]
    return " -> ".join(parts)


def check(ctx: RuleContext) -> Iterator[Finding]:
    graph = CallGraph.of(ctx.index)
    waits: list[_Wait | None] = [None] * len(graph.nodes)
    late: list[tuple[int, float, _Wait]] = []
    nodes = graph.nodes
    for node in graph.postorder():
        info = nodes[node]
        below = _slowest(node, graph, waits)
        # what bounds the service's answer time itself (`_own_label`): its timeout, else its retries;
        # its fields read one by one (`traffic_value`), as every service of the mesh gets one
        written = info.traffic_value("timeout")
        timeout = duration_seconds(written) if written else None
        own = timeout if timeout is not None else _retry_bound(info)
        if timeout is not None and below is not None and timeout < below[0] - 1e-9 and info.speaks_http:
            late.append((node, timeout, below))  # a TCP-only service's timeout: Istio ignores it (MC115)
        waits[node] = (own, None, node, 0) if own is not None else below
    for node, timeout, below in sorted(late, key=lambda item: item[0]):
        info = graph.nodes[node]
        via = below[1]
        assert via is not None
        own_traffic = info.model.traffic
        if own_traffic is not None and "timeout" in own_traffic.model_fields_set:
            path: Path = (*info.path, "traffic", "timeout")
            where = ""
        else:
            path = (*info.path, "name")
            where = " (from spec.defaults.traffic.timeout)"
        text = _describe(f"{info.key} ({info.traffic.timeout})", via, graph, waits)
        yield Finding(
            path,
            f"service '{info.key}' times out after {seconds(timeout)}{where}, but its calls may take "
            f"{seconds(below[0])} to answer: {text}",
            f"raise the timeout of '{info.key}' to at least {seconds(below[0])}, "
            f"or shorten the timeouts or retries below it",
        )
