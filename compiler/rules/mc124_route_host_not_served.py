"""A gateway route names a host that none of the gateway's servers serves.

Why: a gateway route applies only to requests for hosts that the gateway listens for. A route
restricted to `hosts: [admin.example.com]` on a gateway whose servers serve `shop.example.com`
never receives a request: Istio accepts the VirtualService and silently drops the host, so the
route is dead and the endpoint you meant to expose is not reachable.

Example:
    gateways:
      - name: public
        hosts: [shop.example.com]
        servers: [{ port: 80, protocol: http }]
        routes:
          - hosts: [admin.example.com]      # not served by any server
            to: { service: admin }

Fix: add the host to the gateway (`hosts`, or the `hosts` of a server), or correct the route's
host.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import HostClaims, normal_host, route_label

CODE = "MC124"
NAME = "route-host-not-served"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        if not gw.servers or not any(r.hosts for r in gw.routes):
            continue  # no servers: MC117
        served: HostClaims[str] = HostClaims()
        names: dict[str, None] = {}
        for server in gw.servers:
            for host in server.hosts or gw.hosts:
                served.add(normal_host(host), host)
                names.setdefault(host, None)
        for ri, route in enumerate(gw.routes):
            for h, host in enumerate(route.hosts):
                if served.overlap(normal_host(host)) is None:
                    shown = ", ".join(list(names)[:5]) + (" ..." if len(names) > 5 else "")
                    label = f"{route_label(route.name, ri)} of gateway '{gw.name}'"
                    yield Finding(
                        ("spec", "gateways", gi, "routes", ri, "hosts", h),
                        f"{label} is restricted to host '{host}', which no server of the gateway serves "
                        f"({shown or 'no hosts'})",
                        "add the host to the gateway's `hosts` (or a server's), or correct it",
                    )
