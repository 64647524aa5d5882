"""A gateway route whose requests cannot get one of the service's own routes.

Why: a gateway route applies the service's traffic policy (`policy: service`, the default): each
of the service's routes becomes a rule of the gateway whose match is the gateway route's AND the
service route's, with the service route's path read after the gateway route's `rewrite`. Istio's
match cannot say every such AND: a regex and another condition on the path (unless what the regex
must start with rules the pair out), a regex on a path the gateway route rewrites, or a regex and
another condition on one header, query parameter, claim or method. meshc will not silently drop
the service route (ingress requests would skip its canary or its fault) nor guess. Conditions
that can never hold together (`/admin` and `/api/*`) simply leave that service route out.

Example:
    services:
      - name: catalog
        traffic:
          routes:
            - match: [{ path: { regex: "^/v2/.*" } }]
              to: v2
    gateways:
      - name: public
        routes:
          - match: [{ path: { regex: "^/[a-z]+/items$" } }]   # both match the path by regex
            to: { service: catalog }

Fix: match the gateway route by prefix (or exactly), or give the gateway route `policy: none`
(its requests then get the service's split and the route's own timeout only).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lower.gateway_policy import inexpressible
from .base import Finding, RuleContext
from .walk import route_label

CODE = "MC183"
NAME = "gateway-policy-inexpressible"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for g, gateway in enumerate(ctx.mesh.spec.gateways):
        for i, route in enumerate(gateway.routes):
            info = index.resolve(route.to.service)
            if route.policy != "service" or info is None or index.gateway_route_is_http(route) is not True:
                continue
            if route.to.port is None and len(info.ports) == 1:
                port: int | None = info.ports[0].number
            else:
                port = route.to.port
            rewrite = route.rewrite.uri if route.rewrite is not None else None
            for k, own in enumerate(info.traffic.routes):
                found = inexpressible(route.match, own.match, rewrite, port)
                if found is not None:
                    yield Finding(
                        ("spec", "gateways", g, "routes", i),
                        f"{route_label(route.name, i)} of gateway '{gateway.name}' cannot apply "
                        f"{route_label(own.name, k)} of service '{info.key}': {found.reason}",
                        "match the gateway route by prefix or exactly, or set `policy: none` on it "
                        "(the service's routes then do not apply to its requests)",
                    )
