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

from meshc.spec.models import Match, StringMatch

from ..lower.gateway_policy import inexpressible
from .base import Finding, RuleContext
from .walk import route_label

CODE = "MC183"
NAME = "gateway-policy-inexpressible"
SEVERITY = "error"
SCOPE = "mesh"

_MAPS = ("headers", "query", "claims")


def _regex(a: StringMatch, b: StringMatch) -> bool:
    return a.regex is not None or b.regex is not None


def may_be_inexpressible(gateway: Match | None, service: Match | None, rewrite: str | None) -> bool:
    """Whether `gateway_policy.combine` may find the two matches inexpressible: only where both set
    one condition (the path, the method, one header, query parameter or claim) and one of them by
    regex, or where the service route matches a path the gateway route rewrites. False is certain;
    it spares `combine` for most of the routes of a large mesh (tests/test_rule_fast_paths.py)."""
    if service is None:
        return False
    if service.path is not None and (
        rewrite or (gateway is not None and gateway.path is not None and _regex(gateway.path, service.path))
    ):
        return True
    if gateway is None:
        return False
    if gateway.method is not None and service.method is not None and _regex(gateway.method, service.method):
        return True
    for field in _MAPS:
        theirs: dict[str, StringMatch] = getattr(gateway, field)
        if theirs:
            for key, value in getattr(service, field).items():
                other = theirs.get(key)
                if other is not None and _regex(other, value):
                    return True
    return False


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    every: list[Match | None] = [None]
    for g, gateway in enumerate(ctx.mesh.spec.gateways):
        for i, route in enumerate(gateway.routes):
            info = index.resolve(route.to.service)
            if route.policy != "service" or info is None or index.gateway_route_is_http(route) is not True:
                continue
            declared = info.model.ports  # a port's number is the declared one: nothing to resolve
            if route.to.port is None and len(declared) == 1:
                port: int | None = declared[0].port
            else:
                port = route.to.port
            rewrite = route.rewrite.uri if route.rewrite is not None else None
            for k, own in enumerate(info.traffic_value("routes")):
                if not any(
                    may_be_inexpressible(a, b, rewrite)
                    for a in route.match or every
                    for b in own.match or every
                ):
                    continue
                found = inexpressible(route.match, own.match, rewrite, port)
                if found is not None:
                    yield Finding(
                        ("spec", "gateways", g, "routes", i),
                        f"{route_label(route.name, i)} of gateway '{gateway.name}' cannot apply "
                        f"{route_label(own.name, k)} of service '{info.key}': {found.reason}",
                        "match the gateway route by prefix or exactly, or set `policy: none` on it "
                        "(the service's routes then do not apply to its requests)",
                    )
