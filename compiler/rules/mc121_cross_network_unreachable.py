"""A call or gateway route crosses networks to clusters that do not expose their services.

Why: in a multi-network mesh a caller reaches a service on another network only through that
cluster's east-west gateway, which meshc sets up only for clusters with `exposeServices: true`.
When every cluster running the callee is on another network and none of them exposes its
services, the caller's sidecar has no endpoint to send to and the call fails with 503 `no healthy
upstream`, in one cluster only, which makes it easy to miss in a staging environment.

Example:
    clusters:
      - { name: east, network: net-east, region: us-east1 }
      - { name: west, network: net-west, region: us-west1, exposeServices: false }
    services:
      - name: frontend
        placement: [east]
        calls: [{ service: ratings }]     # ratings runs only in west, which exposes nothing
      - name: ratings
        placement: [west]

Fix: set `exposeServices: true` on a cluster running the callee, or also place the callee on a
cluster in the caller's network.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import MeshIndex
from .base import Finding, RuleContext
from .walk import focused

CODE = "MC121"
NAME = "cross-network-unreachable"
SEVERITY = "error"
SCOPE = "namespace"


def _stranded(index: MeshIndex, sources: list[str], targets: list[str]) -> list[str]:
    """The source clusters from which no target cluster is reachable (same network, or exposed)."""
    clusters = index.clusters
    return [
        s
        for s in sources
        if not any(clusters[t].network == clusters[s].network or clusters[t].expose_services for t in targets)
    ]


def _explain(
    index: MeshIndex, who: str, stranded: list[str], targets: list[str], callee: str
) -> tuple[str, str]:
    clusters = index.clusters
    where = ", ".join(f"'{s}' ({clusters[s].network})" for s in stranded)
    runs = ", ".join(f"'{t}' ({clusters[t].network})" for t in targets)
    plural = "s" if len(stranded) > 1 else ""
    return (
        f"{who} on cluster{plural} {where} cannot reach '{callee}': it runs only on {runs}, "
        "on another network and without `exposeServices`",
        f"set `exposeServices: true` on {' or '.join(repr(t) for t in targets)}, or also place '{callee}' "
        f"on a cluster of network {clusters[stranded[0]].network}",
    )


def _one_network(index: MeshIndex) -> bool:
    return len({c.network for c in index.clusters.values()}) < 2


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The calls of the services."""
    index = ctx.index
    if _one_network(index):
        return
    for info in focused(ctx):
        sources = index.placement(info)
        for j, call in enumerate(info.model.calls):
            callee = index.resolve(call.service)
            targets = index.placement(callee) if callee is not None else []
            stranded = _stranded(index, sources, targets) if targets else []
            if stranded:
                what, hint = _explain(index, f"service '{info.key}'", stranded, targets, call.service)
                yield Finding((*info.path, "calls", j), what, hint)


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The routes of the gateways."""
    index = ctx.index
    if _one_network(index):
        return
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        sources = index.gateway_placement(gw)
        for ri, route in enumerate(gw.routes):
            target = index.resolve(route.to.service)
            targets = index.placement(target) if target is not None else []
            stranded = _stranded(index, sources, targets) if targets else []
            if stranded:
                what, hint = _explain(index, f"gateway '{gw.name}'", stranded, targets, route.to.service)
                yield Finding(("spec", "gateways", gi, "routes", ri, "to"), what, hint)
