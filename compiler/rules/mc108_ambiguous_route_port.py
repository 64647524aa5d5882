"""A gateway route targets a service with several ports without saying which (`to.port`).

Why: the gateway's VirtualService must name the destination port when the service exposes more
than one; Istio rejects a destination without a port in that case, or, when it does not, Envoy
picks a port you did not choose.

Example:
    services:
      - name: shop
        ports: [{ port: 8080, protocol: http }, { port: 9090, protocol: grpc }]
    gateways:
      - name: public
        routes:
          - to: { service: shop }          # 8080 or 9090?

Fix: set `to.port` to the service port the gateway should send the traffic to.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC108"
NAME = "ambiguous-route-port"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        for ri, route in enumerate(gw.routes):
            target = index.resolve(route.to.service)
            if route.to.port is not None or target is None or len(target.ports) < 2:
                continue
            ports = ", ".join(f"{p.number} ({p.name})" for p in target.ports)
            yield Finding(
                ("spec", "gateways", gi, "routes", ri, "to"),
                f"gateway '{gw.name}' routes to service '{target.key}', which has several ports, "
                "without choosing one",
                f"set `to.port` to one of: {ports}",
            )
