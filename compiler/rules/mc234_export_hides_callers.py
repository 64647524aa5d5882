"""A service's `exportTo` hides its routing from a namespace that calls it, or cannot be written.

Why: `exportTo` decides which namespaces' proxies see the service's VirtualService and
DestinationRule. A declared caller in a namespace left out ignores the service's routing (its
split, routes, timeouts, headers and CORS) and calls the plain Service; a gateway whose pods run in
a namespace left out cannot resolve the subsets it routes to, and its requests fail with 503.
`*` already means every namespace, and Istio rejects it next to other entries.

Example:
    services:
      - name: api
        namespace: web
        traffic: { exportTo: ["."] }
      - name: admin
        namespace: ops
        calls: [{ service: api }]           # ops does not see api's routing

Fix: use `exportTo: callers` (meshc derives the namespaces from the declared callers and
gateways), or add the namespaces.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC234"
NAME = "export-hides-callers"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.index.services.values():
        wanted = info.traffic_value("export_to")  # one field of every service: no merged model
        if wanted is None or wanted == "callers":
            continue
        own = info.model.traffic is not None and info.model.traffic.export_to is not None
        path = (*info.path, "traffic", "exportTo") if own else ("spec", "defaults", "traffic", "exportTo")
        where = f"`exportTo` of service '{info.key}'" + ("" if own else " (from spec.defaults.traffic)")
        if "*" in wanted:
            if len(set(wanted)) > 1:
                yield Finding(path, f"{where} lists `*` with other namespaces", "keep `*` alone")
            continue
        seen = {info.namespace if ns == "." else ns for ns in wanted}
        needed: dict[str, str] = {}
        for edge in info.callers:
            needed.setdefault(edge.caller.namespace, f"its caller '{edge.caller.key}'")
        for gateway, _, _ in info.gateway_routes:
            needed.setdefault(gateway.workload.namespace, f"the pods of gateway '{gateway.name}'")
        for ns, who in sorted(needed.items()):
            if ns not in seen:
                yield Finding(
                    path,
                    f"{where} leaves out namespace '{ns}' of {who}: proxies there do not see the "
                    "service's routing",
                    f"add `{ns}`, or write `exportTo: callers`",
                )
