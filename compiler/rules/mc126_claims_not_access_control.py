"""A gateway route matches on JWT claims, but requests without them reach the same service anyway.

Why: claims in `match` only choose a route. A request whose token lacks the claim falls through
to the next route that matches it; when that route sends it to the same service (typically a
broader path prefix), any holder of a valid token reaches what the claims route looked like it
reserved: an "admin" route matching `role: admin` followed by a catch-all `/api/` route to the
same backend lets every logged-in user call the admin paths. `requireClaims` states the claims as
access control: the gateway denies requests to the route's hosts and paths without them, before
any route is chosen. Likewise `requireClaims` on a gateway without `jwt` can never hold (no token
is validated there), so every request to the route is denied.

Example:
    routes:
      - name: admin-api
        match: [{ path: { prefix: /api/admin/ }, claims: { role: { exact: admin } } }]
        to: { service: api }
      - name: api
        match: [{ path: { prefix: /api/ } }]      # non-admins land here, on the same service
        to: { service: api }

Fix: add `requireClaims: { role: [admin] }` to the claims route so that the gateway enforces the
claim; if other users may reach the service anyway, drop the claims match. For `requireClaims`
without `jwt`: add `jwt` to the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import GatewayRoute, Match, StringMatch

from .base import Finding, RuleContext
from .walk import route_label

CODE = "MC126"
NAME = "claims-not-access-control"
SEVERITY = "error"
SCOPE = "mesh"


def _paths_meet(a: StringMatch | None, b: StringMatch | None) -> bool:
    """Whether some path matches both (a regex is assumed not to, to avoid false alarms)."""
    if a is None or b is None:
        return True
    if a.regex is not None or b.regex is not None:
        return False
    if a.exact is not None and b.exact is not None:
        return a.exact == b.exact
    if a.exact is not None:
        return a.exact.startswith(b.prefix or "")
    if b.exact is not None:
        return b.exact.startswith(a.prefix or "")
    pa, pb = a.prefix or "", b.prefix or ""
    return pa.startswith(pb) or pb.startswith(pa)


def _conflict(a: dict[str, StringMatch], b: dict[str, StringMatch]) -> bool:
    """Both require the same header (or query parameter) to be different exact values. Other
    conditions on headers keep nobody out: the caller chooses its headers."""
    return any(
        a[k].exact is not None and b[k].exact is not None and a[k].exact != b[k].exact
        for k in sorted(set(a) & set(b))
    )


def _catches(later: Match, claimed: Match) -> bool:
    """Whether a request that matches `claimed` except for its claims can match `later`."""
    if later.claims:
        return False  # the later route is gated by claims of its own
    if later.port is not None and claimed.port is not None and later.port != claimed.port:
        return False
    method = {"m": later.method} if later.method else {}
    if _conflict(method, {"m": claimed.method} if claimed.method else {}):
        return False
    if _conflict(later.headers, claimed.headers) or _conflict(later.query, claimed.query):
        return False
    return _paths_meet(later.path, claimed.path)


def _hosts_meet(a: GatewayRoute, b: GatewayRoute) -> bool:
    return not a.hosts or not b.hosts or bool(set(a.hosts) & set(b.hosts)) or "*" in a.hosts + b.hosts


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        label_of = {i: f"{route_label(r.name, i)} of gateway '{gw.name}'" for i, r in enumerate(gw.routes)}
        for i, route in enumerate(gw.routes):
            path = ("spec", "gateways", gi, "routes", i)
            if route.require_claims and gw.jwt is None:
                yield Finding(
                    (*path, "requireClaims"),
                    f"{label_of[i]} requires JWT claims, but the gateway validates no token, so every "
                    "request to it is denied",
                    "add `jwt` to the gateway",
                )
            if gw.jwt is None or route.require_jwt is False:
                continue  # MC112: the claims match never holds here
            for j, alternative in enumerate(route.match):
                unguarded = sorted(set(alternative.claims) - set(route.require_claims))
                if not unguarded:
                    continue
                catcher = next(
                    (
                        k
                        for k in range(i + 1, len(gw.routes))
                        if index.resolve(gw.routes[k].to.service) is index.resolve(route.to.service)
                        and _hosts_meet(gw.routes[k], route)
                        and (
                            not gw.routes[k].match
                            or any(_catches(m, alternative) for m in gw.routes[k].match)
                        )
                    ),
                    None,
                )
                if catcher is None:
                    continue
                claims = ", ".join(unguarded)
                yield Finding(
                    (*path, "match", j, "claims"),
                    f"{label_of[i]} matches on JWT claims ({claims}), but requests without them fall "
                    f"through to {label_of[catcher]}, which sends them to the same service "
                    f"'{route.to.service}': the claims choose a route, they do not restrict access",
                    f"add `requireClaims` for {claims} to the route so the gateway denies requests "
                    "without them, or drop the claims match",
                )
