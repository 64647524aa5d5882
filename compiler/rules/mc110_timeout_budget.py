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
from dataclasses import dataclass

from meshc.spec.models import duration_seconds

from ..index import ServiceInfo
from .base import Finding, RuleContext
from .walk import CallGraph, Path, seconds

CODE = "MC110"
NAME = "timeout-budget"
SEVERITY = "warning"
SCOPE = "mesh"

SHOWN_HOPS = 6


@dataclass(frozen=True, slots=True)
class _Wait:
    """The worst-case answer time of a service, and why."""

    seconds: float
    label: str
    """`db (5s)` when the service bounds it itself, else just its name."""
    via: int | None
    """The callee that determines it (None when the service bounds it itself)."""
    end: str
    """The label of the last service on the chain."""
    hops: int


def _timeout(info: ServiceInfo) -> float | None:
    timeout = info.traffic.timeout
    return duration_seconds(timeout) if timeout else None


def _own_bound(info: ServiceInfo) -> _Wait | None:
    timeout = _timeout(info)
    if timeout is not None:
        label = f"{info.key} ({info.traffic.timeout})"
        return _Wait(timeout, label, None, label, 0)
    r = info.traffic.retries
    if r is not None and r.attempts > 0 and r.per_try_timeout:
        label = f"{info.key} ({r.attempts + 1} x {r.per_try_timeout})"
        return _Wait((r.attempts + 1) * duration_seconds(r.per_try_timeout), label, None, label, 0)
    return None


def _slowest(node: int, graph: CallGraph, waits: list[_Wait | None]) -> _Wait | None:
    """The callee that may take longest to answer (callees on a cycle back to us, or called over
    TCP, are unknown)."""
    best: tuple[int, _Wait] | None = None
    for callee, http in zip(graph.callees[node], graph.http[node], strict=True):
        wait = waits[callee] if http else None  # a TCP connection has no request timeout: unknown
        if wait is not None and (best is None or wait.seconds > best[1].seconds):
            best = (callee, wait)
    if best is None:
        return None
    callee, wait = best
    return _Wait(wait.seconds, graph.nodes[node].name, callee, wait.end, wait.hops + 1)


def _describe(start: str, first: int, waits: list[_Wait | None]) -> str:
    parts = [start]
    node: int | None = first
    while node is not None and len(parts) < SHOWN_HOPS:
        wait = waits[node]
        assert wait is not None
        parts.append(wait.label)
        node = wait.via
    if node is not None:  # elide the middle of a long chain, keep where the time is spent
        rest = waits[node]
        assert rest is not None
        parts += [rest.label] if rest.via is None else [f"... ({rest.hops} more)", rest.end]
    return " -> ".join(parts)


def check(ctx: RuleContext) -> Iterator[Finding]:
    graph = CallGraph.of(ctx.index)
    waits: list[_Wait | None] = [None] * len(graph.nodes)
    late: list[tuple[int, float, _Wait]] = []
    for node in graph.postorder():
        info = graph.nodes[node]
        below = _slowest(node, graph, waits)
        timeout = _timeout(info) if info.http_ports else None  # TCP-only: Istio ignores it (MC115)
        if timeout is not None and below is not None and timeout < below.seconds - 1e-9:
            late.append((node, timeout, below))
        waits[node] = _own_bound(info) or below
    for node, timeout, below in sorted(late, key=lambda item: item[0]):
        info = graph.nodes[node]
        assert below.via is not None
        own_traffic = info.model.traffic
        if own_traffic is not None and "timeout" in own_traffic.model_fields_set:
            path: Path = (*info.path, "traffic", "timeout")
            where = ""
        else:
            path = (*info.path, "name")
            where = " (from spec.defaults.traffic.timeout)"
        text = _describe(f"{info.key} ({info.traffic.timeout})", below.via, waits)
        yield Finding(
            path,
            f"service '{info.key}' times out after {seconds(timeout)}{where}, but its calls may take "
            f"{seconds(below.seconds)} to answer: {text}",
            f"raise the timeout of '{info.key}' to at least {seconds(below.seconds)}, "
            f"or shorten the timeouts or retries below it",
        )
