"""A gateway route limits what the gateway may call on its service, but another route undoes it.

Why: `to.methods` and `to.paths` become the service's ALLOW rule for the gateway's identity. The
service sees that identity, not the route a request came by: every route of the gateway (and of
gateways running as the same account) to the same service port is one edge, and the service
admits the union of what they allow. A route without conditions, or with others, to the same port
therefore lets the gateway send what this route's conditions exclude.

Example:
    routes:
      - match: [{ path: { prefix: /admin } }]
        to: { service: api, methods: [GET] }     # meant: read-only admin
      - match: [{ path: { prefix: / } }]
        to: { service: api }                     # ...but this route admits every method

Fix: give every route to that service port the conditions (the union is then what they say), or
route the restricted part to another port or service.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import same_edge_routes
from .base import Finding, RuleContext

CODE = "MC198"
NAME = "gateway-edge-widened"
SEVERITY = "warning"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for g, gateway in sorted(index.gateways.values(), key=lambda item: item[0]):
        for r, route in enumerate(gateway.routes):
            if index.resolve(route.to.service) is None:
                continue
            for field in ("methods", "paths"):
                own: list[str] = getattr(route.to, field)
                if not own:
                    continue
                wider = [
                    other
                    for other in same_edge_routes(index, gateway, route)
                    if other is not route and not set(getattr(other.to, field) or ["*"]) <= set(own)
                ]
                if wider:
                    names = ", ".join(
                        sorted({f"'{o.name}'" if o.name else "an unnamed route" for o in wider})
                    )
                    yield Finding(
                        ("spec", "gateways", g, "routes", r, "to", field),
                        f"`to.{field}` of this route to '{route.to.service}' is widened by {names} to "
                        "the same port: the service tells the gateway's routes apart by nothing, so it "
                        f"admits their {field} too",
                        f"give the other routes to that port the same `to.{field}`, or use another port",
                    )
