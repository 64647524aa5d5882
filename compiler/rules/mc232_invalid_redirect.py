"""A redirect that a browser cannot follow, or that sends it back where it came from.

Why: Istio answers with the status given in `redirectCode`, and only 301, 302, 303, 307 and 308
are redirects (another 3xx, or a 200, leaves the client with no new location to follow). `scheme`
is `http` or `https`. A `uri` is a path and starts with `/`. A redirect that changes none of
`uri`, `authority`, `scheme` or `port` sends the client to the same URL again, and the same rule
answers it again: a redirect loop.

Example:
    routes:
      - match: [{ path: { prefix: /old } }]
        redirect: { uri: new, redirectCode: 300 }   # not a path; 300 is not a redirect code

Fix: use one of 301 (permanent), 302, 303, 307 (temporary, keeps the method) or 308 (permanent,
keeps the method); write the path with a leading `/`.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC232"
NAME = "invalid-redirect"
SEVERITY = "error"
SCOPE = "namespace"

REDIRECT_CODES = (301, 302, 303, 307, 308)
SCHEMES = ("http", "https")


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        for i, route in enumerate(traffic.routes):
            r = route.redirect
            if r is None:
                continue
            path = (*base, "routes", i, "redirect")
            label = f"the redirect of {route_label(route.name, i)} of {owner}"
            if r.redirect_code is not None and r.redirect_code not in REDIRECT_CODES:
                yield Finding(
                    (*path, "redirectCode"),
                    f"{label} answers {r.redirect_code}, which is not a redirect status",
                    "use 301, 302, 303, 307 or 308",
                )
            if r.scheme is not None and r.scheme not in SCHEMES:
                yield Finding((*path, "scheme"), f"{label} has scheme {r.scheme!r}", "use `http` or `https`")
            if r.uri is not None and not r.uri.startswith("/"):
                yield Finding(
                    (*path, "uri"),
                    f"{label} has uri {r.uri!r}, which is not a path",
                    f"start it with `/` (`/{r.uri}`)",
                )
            if r.uri is None and r.authority is None and r.scheme is None and r.port is None:
                yield Finding(
                    path,
                    f"{label} changes nothing: the client is sent to the same URL, and the same rule "
                    "redirects it again",
                    "set `uri`, `authority`, `scheme` or `port`",
                )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
