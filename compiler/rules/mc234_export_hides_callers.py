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
from .walk import Path, once_per_place

CODE = "MC234"
NAME = "export-hides-callers"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    # A problem of `spec.defaults.traffic.exportTo` is reported once, at that setting, for every
    # service it affects (a 10,000-service mesh would otherwise get thousands of errors on one line).
    inherited: list[tuple[Path, str, str, str]] = []
    for path, service, message, hint, own in _problems(ctx):
        if own:
            yield Finding(path, message, hint)
        else:
            inherited.append((path, service, message, hint))
    yield from once_per_place(inherited)


def _problems(ctx: RuleContext) -> Iterator[tuple[Path, str, str, str, bool]]:
    """(where, the service, message, hint, whether the service writes its own `exportTo`)."""
    for info in ctx.index.services.values():
        wanted = info.traffic_value("export_to")  # one field of every service: no merged model
        if wanted is None or wanted == "callers":
            continue
        own = info.model.traffic is not None and info.model.traffic.export_to is not None
        path = (*info.path, "traffic", "exportTo") if own else ("spec", "defaults", "traffic", "exportTo")
        where = f"`exportTo` of service '{info.key}'" + ("" if own else " (from spec.defaults.traffic)")
        if "*" in wanted:
            if len(set(wanted)) > 1:
                yield path, info.key, f"{where} lists `*` with other namespaces", "keep `*` alone", own
            continue
        seen = {info.namespace if ns == "." else ns for ns in wanted}
        needed: dict[str, str] = {}
        for edge in info.callers:
            needed.setdefault(edge.caller.namespace, f"its caller '{edge.caller.key}'")
        for gateway, _, _ in info.gateway_routes:
            needed.setdefault(gateway.workload.namespace, f"the pods of gateway '{gateway.name}'")
        for ns, who in sorted(needed.items()):
            if ns not in seen:
                message = (
                    f"{where} leaves out namespace '{ns}' of {who}: proxies there do not see the "
                    "service's routing"
                )
                yield path, info.key, message, f"add `{ns}`, or write `exportTo: callers`", own
