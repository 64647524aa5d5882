"""A gateway routes to a service that requires its own JWT, but the token never reaches it.

Why: a gateway with `jwt` validates the token and, unless `forwardOriginalToken: true`, removes it
from the request it forwards (Istio's default). A service with `security.jwt` then sees no token:
every request on the route is refused. A gateway validating another issuer's tokens than the
service accepts fails the same way (the service answers 401 to the forwarded token).

Example:
    services:
      - name: api
        security:
          jwt: { issuers: [{ issuer: https://auth.example.com, jwksUri: ... }] }
    gateways:
      - name: public
        jwt: { issuer: https://auth.example.com, jwksUri: ... }    # strips the token
        routes: [{ to: { service: api } }]

Fix: set `forwardOriginalToken: true` on the gateway's `jwt`, and let the service accept the
gateway's issuer.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC194"
NAME = "token-not-forwarded"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for g, gateway in sorted(index.gateways.values(), key=lambda item: item[0]):
        jwt = gateway.jwt
        if jwt is None:
            continue
        for r, route in enumerate(gateway.routes):
            target = index.resolve(route.to.service)
            security = target.model.security if target is not None else None
            own = security.jwt if security is not None else None
            if target is None or own is None or not (own.required or own.require_claims):
                continue
            if not jwt.forward_original_token:
                yield Finding(
                    ("spec", "gateways", g, "routes", r, "to", "service"),
                    f"service '{target.key}' requires a JWT, but gateway '{gateway.name}' removes the token "
                    "it validated (no `forwardOriginalToken`): every request on this route is refused",
                    "set `forwardOriginalToken: true` on the gateway's `jwt`",
                )
            elif jwt.issuer not in {i.issuer for i in own.issuers}:
                yield Finding(
                    ("spec", "gateways", g, "routes", r, "to", "service"),
                    f"gateway '{gateway.name}' admits tokens of {jwt.issuer}, which service '{target.key}' "
                    "does not accept: every request on this route is refused (401)",
                    f"add {jwt.issuer} to the issuers of '{target.key}'",
                )
