"""A CORS policy that lets any web site make credentialed calls, or whose origins never match.

Why: with `allowCredentials: true` the browser sends the user's cookies and `Authorization` with a
cross-origin request and lets the calling page read the answer. Envoy answers an allowed origin
with that very origin, so an origin pattern that admits any site (`exact: "*"`, `regex: ".*"`,
`prefix: "https://"`) lets every web page the user visits act as the user and read the result
(an error). An `Origin` header is `scheme://host[:port]`: an origin written with a path or a
trailing slash, or without a scheme, never matches, and a policy with no `allowOrigins` allows no
origin at all (warnings). Istio requires a `maxAge` of at least 1ms (an error).

Example:
    cors:
      allowOrigins: [{ regex: ".*" }]
      allowCredentials: true                    # any site acts as the logged-in user

Fix: list the origins of your own front ends (`exact: "https://shop.example.com"`), or drop
`allowCredentials`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshc.spec.models import Cors, StringMatch, Traffic, duration_seconds

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, match_kind, route_label, service_traffic

CODE = "MC233"
NAME = "cors-policy"
SEVERITY = "error"
SCOPE = "namespace"

FOREIGN_ORIGINS = ("https://attacker.invalid", "http://attacker.invalid:8080")
"""Origins no spec means to trust: a pattern admitting one of them admits any site."""
_ORIGIN = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s]+$")


def admits(sm: StringMatch, origin: str) -> bool:
    kind = match_kind(sm)
    if kind is None:
        return False  # MC118
    how, value = kind
    if how == "exact":
        return value in ("*", origin)
    if how == "prefix":
        return origin.startswith(value)
    try:
        return re.fullmatch(value, origin) is not None
    except re.error:
        return False  # not Python syntax (RE2 differs in details): judged by Istio's validation


def _policy(cors: Cors, base: Path, where: str) -> Iterator[Finding]:
    if not cors.allow_origins:
        yield Finding(
            (*base, "cors"),
            f"the CORS policy of {where} lists no `allowOrigins`: no browser origin is allowed",
            "list the origins of your front ends, or remove `cors`",
            severity="warning",
        )
    if cors.max_age is not None and duration_seconds(cors.max_age) < 0.001:
        yield Finding(
            (*base, "cors", "maxAge"),
            f"the CORS policy of {where} has maxAge {cors.max_age}: Istio requires at least 1ms",
            "give a positive duration such as `24h`, or remove `maxAge`",
        )
    for k, sm in enumerate(cors.allow_origins):
        path = (*base, "cors", "allowOrigins", k)
        if cors.allow_credentials and any(admits(sm, o) for o in FOREIGN_ORIGINS):
            yield Finding(
                path,
                f"the CORS policy of {where} allows credentials from any origin: every web site the "
                "user visits can call it with the user's cookies and read the answer",
                'list your own origins exactly (`exact: "https://app.example.com"`), or drop '
                "`allowCredentials`",
            )
        kind = match_kind(sm)
        if kind is not None and kind[0] == "exact" and kind[1] != "*" and not _ORIGIN.match(kind[1]):
            yield Finding(
                path,
                f"origin {kind[1]!r} in the CORS policy of {where} never matches: a browser's "
                "Origin is `scheme://host[:port]`, with no path or trailing slash",
                "write it as `https://host` (with a port if not the default)",
                severity="warning",
            )


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        if traffic.cors is not None:
            yield from _policy(traffic.cors, base, owner)
        for i, route in enumerate(traffic.routes):
            if route.cors is not None:
                where = f"{route_label(route.name, i)} of {owner}"
                yield from _policy(route.cors, (*base, "routes", i), where)


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
