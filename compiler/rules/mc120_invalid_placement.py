"""A placement names a cluster the spec does not declare, or places a workload on no cluster.

Why: `placement` decides which clusters of a multi-cluster mesh run a service's workloads and
serve a gateway. A misspelt cluster name would silently drop the workload from the cluster you
meant (meshc only emits resources for declared clusters), and an empty placement runs it nowhere
while callers still route to it.

Example:
    clusters:
      - { name: east, network: net-east, region: us-east1 }
    services:
      - name: reviews
        placement: [east, wset]       # `west` is not declared

Fix: correct the cluster name, declare the cluster under `spec.clusters`, or drop `placement` to
run everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.suggest import Suggester, did_you_mean

from .base import Finding, RuleContext
from .walk import Path

CODE = "MC120"
NAME = "invalid-placement"
SEVERITY = "error"
SCOPE = "mesh"


def _placements(ctx: RuleContext) -> Iterator[tuple[Path, list[str], str]]:
    spec = ctx.mesh.spec
    if spec.defaults.placement is not None:
        yield ("spec", "defaults", "placement"), spec.defaults.placement, "the defaults"
    for i, svc in enumerate(spec.services):
        if svc.placement is not None:
            yield ("spec", "services", i, "placement"), svc.placement, f"service '{svc.name}'"
    for i, gw in enumerate(spec.gateways):
        if gw.placement is not None:
            yield ("spec", "gateways", i, "placement"), gw.placement, f"gateway '{gw.name}'"


def check(ctx: RuleContext) -> Iterator[Finding]:
    clusters = sorted(ctx.index.clusters)
    listed = ", ".join(clusters[:10]) + (f" and {len(clusters) - 10} more" if len(clusters) > 10 else "")
    declared = f"declared clusters: {listed}" if clusters else "the spec declares no `clusters`"
    suggester = Suggester(clusters)
    for path, names, owner in _placements(ctx):
        if not names:
            yield Finding(
                path,
                f"the placement of {owner} is empty, so what it places runs nowhere",
                "list at least one cluster, or remove `placement` to run on every cluster",
            )
        for k, name in enumerate(names):
            if name in ctx.index.clusters:
                continue
            yield Finding(
                (*path, k),
                f"the placement of {owner} names unknown cluster '{name}'",
                did_you_mean(suggester.suggest(name), declared),
            )
