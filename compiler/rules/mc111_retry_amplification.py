"""Retries multiply along a call path: one request at the edge can become more than 10 at the bottom.

Why: every hop retries on its own. When the caller of B retries 2 times and B's caller of C
retries 2 times, one failing request to A becomes 3 x 3 = 9 requests to C. The product of
(attempts + 1) over the hops of a path is the worst-case fan-out, and it hits precisely when the
bottom service is already struggling: a retry storm that turns a slow database into an outage.
meshc warns when the product exceeds `THRESHOLD` (10) on some path from a path start (a service
that nothing calls, or that a gateway route targets). For each service the largest `attempts` of
its rules counts (calls over TCP are not retried); a cycle in the call graph is not followed twice.

Example:
    services:
      - name: web
        calls: [{ service: api }]
      - name: api
        traffic: { retries: { attempts: 3 } }    # x4
        calls: [{ service: db }]
      - name: db
        traffic: { retries: { attempts: 2 } }    # x3: web -> api -> db makes 12 requests

Fix: retry at one layer only (usually the one closest to the caller), or lower `attempts` deeper
in the graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..index import ServiceInfo
from .base import Finding, RuleContext
from .walk import CallGraph

CODE = "MC111"
NAME = "retry-amplification"
SEVERITY = "warning"
SCOPE = "mesh"

THRESHOLD = 10
"""Warn when one request may become more than this many requests at some service below."""
CAP = 10**9
"""Products are capped here (and reported as "more than") to keep the arithmetic cheap."""
SHOWN_HOPS = 6


def _factor(info: ServiceInfo) -> int:
    """1 + the largest `attempts` among the service's rules: the most tries a call to it may make."""
    retries = info.traffic_value("retries")  # two fields of every service: no merged model
    most = retries.attempts if retries else 0
    for route in info.traffic_value("routes"):
        if route.retries is not None and route.retries.attempts > most:
            most = route.retries.attempts
    return 1 + most


@dataclass(frozen=True, slots=True)
class _Worst:
    product: int
    """The largest product of the factors of the hops on a path below the service."""
    via: int | None
    """The next hop of that path."""
    end: int | None
    """Where that path ends (the service that receives `product` requests)."""
    hops: int


_NONE = _Worst(1, None, None, 0)


def check(ctx: RuleContext) -> Iterator[Finding]:
    graph = CallGraph.of(ctx.index)
    factor = [_factor(info) for info in graph.nodes]
    worst: list[_Worst | None] = [None] * len(graph.nodes)
    for node in graph.postorder():
        best = _NONE
        for callee, http in zip(graph.callees[node], graph.http[node], strict=True):
            below = worst[callee]
            if below is None:
                continue  # a back-edge of a cycle: already counted on this path
            product = min(CAP, (factor[callee] if http else 1) * below.product)  # TCP: no retries
            if product > best.product:
                best = _Worst(product, callee, callee if below.end is None else below.end, below.hops + 1)
        worst[node] = best
    for node, info in enumerate(graph.nodes):
        w = worst[node]
        assert w is not None
        if w.product <= THRESHOLD or w.end is None or (info.callers and not info.gateway_routes):
            continue
        more = "more than " if w.product >= CAP else ""
        yield Finding(
            (*info.path, "name"),
            f"one request to '{info.key}' can become {more}{w.product} requests to "
            f"'{graph.nodes[w.end].name}' through retries: {_describe(graph, node, worst, factor)}",
            f"retry at one layer only, or lower `attempts` below '{info.key}' "
            f"(more than {THRESHOLD} tries per request is a retry storm)",
        )


def _describe(graph: CallGraph, start: int, worst: list[_Worst | None], factor: list[int]) -> str:
    def hop(node: int) -> str:
        name = graph.nodes[node].name
        return f"{name} (x{factor[node]})" if factor[node] > 1 else name

    def at(node: int) -> _Worst:
        w = worst[node]
        assert w is not None
        return w

    parts = [graph.nodes[start].name]
    node = at(start).via
    while node is not None and len(parts) < SHOWN_HOPS:
        parts.append(hop(node))
        node = at(node).via
    if node is not None:  # elide the middle of a long path, keep its end
        w = at(node)
        parts += [f"... ({w.hops} more)", hop(w.end)] if w.end is not None else [hop(node)]
    return " -> ".join(parts)
