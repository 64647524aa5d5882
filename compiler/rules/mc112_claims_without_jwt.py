"""A route matches on JWT `claims` where no validated JWT can be present.

Why: Istio matches claims through the `@request.auth.claims.*` pseudo-headers, which are filled
only where a RequestAuthentication validated the token: at a gateway with `jwt`. In a service's
own routes (sidecar to sidecar), on a gateway without `jwt`, or on a gateway route that opts out
with `requireJwt: false` (requests may come without a token), the match silently never holds and
the requests fall through to the next rule, typically the one without the restriction.

Example:
    gateways:
      - name: public                     # no `jwt:`
        routes:
          - match: [{ claims: { group: { exact: admin } } }]
            to: { service: admin, port: 8080 }

Fix: add `jwt` to the gateway (and keep `requireJwt` on for the route), or move the claims match
from the service's routes to a route of a gateway that validates JWTs.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC112"
NAME = "claims-without-jwt"
SEVERITY = "error"
SCOPE = "namespace"


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        for i, route in enumerate(traffic.routes):
            for j, match in enumerate(route.match):
                if match.claims:
                    yield Finding(
                        (*base, "routes", i, "match", j, "claims"),
                        f"{route_label(route.name, i)} of {owner} matches on JWT claims, but claims are "
                        "only validated at a gateway with `jwt`; between services the match never holds",
                        "match on claims in a route of a gateway that has `jwt`",
                    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic` and the gateways."""
    yield from _blocks(defaults_traffic(ctx))
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        for i, groute in enumerate(gw.routes):
            if gw.jwt is None:
                why = f"gateway '{gw.name}' has no `jwt`, so no token is validated"
                hint = "add `jwt` to the gateway, or match on something else"
            elif groute.require_jwt is False:
                why = "the route sets `requireJwt: false`, so requests may come without a token"
                hint = "remove `requireJwt: false`, or drop the claims match"
            else:
                continue
            label = f"{route_label(groute.name, i)} of gateway '{gw.name}'"
            for j, match in enumerate(groute.match):
                if match.claims:
                    yield Finding(
                        ("spec", "gateways", gi, "routes", i, "match", j, "claims"),
                        f"{label} matches on JWT claims, but {why}",
                        hint,
                    )
