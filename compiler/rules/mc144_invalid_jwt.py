"""A JWT issuer, JWKS URI, audience or token header (of a gateway or a service) is not usable.

Why: `jwt` compiles to a RequestAuthentication whose `jwksUri` Istio requires to be an http(s) URL
(its CRD refuses anything else, so the gateway's configuration would not apply) and whose `issuer`
every token is checked against: an empty issuer accepts no token, so every route that requires a
JWT answers 401. Istio's CRD refuses an empty audience, and an empty header name carries no token.

Example:
    jwt:
      issuer: https://auth.example.com
      jwksUri: auth.example.com/jwks.json      # no scheme

Fix: write the full URL of the issuer's key set (`https://auth.example.com/.well-known/jwks.json`)
and the issuer exactly as the tokens carry it in `iss`.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from meshc.spec.models import Jwt
from meshc.spec.source import PathItem

from .base import Finding, RuleContext
from .walk import focused_entries

CODE = "MC144"
NAME = "invalid-jwt"
SEVERITY = "error"
SCOPE = "namespace"


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in value):
        return "is not a URL with a host name"
    return None


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The gateways' JWT."""
    for i, gateway in enumerate(ctx.mesh.spec.gateways):
        if gateway.jwt is not None:
            yield from _check_jwt(f"gateway '{gateway.name}'", gateway.jwt, ("spec", "gateways", i, "jwt"))


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' JWT issuers."""
    for i, service in focused_entries(ctx):
        own = service.security.jwt if service.security is not None else None
        if own is None:
            continue
        seen: set[str] = set()
        for k, jwt in enumerate(own.issuers):
            path = ("spec", "services", i, "security", "jwt", "issuers", k)
            yield from _check_jwt(f"service '{service.name}'", jwt, path)
            if jwt.issuer in seen:
                yield Finding(
                    (*path, "issuer"),
                    f"service '{service.name}': issuer {jwt.issuer!r} is listed twice; Istio takes one "
                    "jwtRule per issuer",
                    "merge the two entries (audiences, headers) into one",
                )
            seen.add(jwt.issuer)


def _check_jwt(owner: str, jwt: Jwt, path: tuple[PathItem, ...]) -> Iterator[Finding]:
    if not jwt.issuer.strip():
        yield Finding(
            (*path, "issuer"),
            f"{owner}: the JWT issuer is empty, so no token is ever accepted",
            "write the issuer exactly as tokens carry it in `iss`",
        )
    for field, values, what in (
        ("audiences", jwt.audiences, "audience"),
        ("fromHeaders", jwt.from_headers, "token header"),
    ):
        for k, value in enumerate(values):
            if not value.strip():
                yield Finding(
                    (*path, field, k),
                    f"{owner}: an empty JWT {what}",
                    f"write the {what} or remove the entry",
                )
    problem = _url_problem(jwt.jwks_uri)
    if problem is not None:
        shown = repr(jwt.jwks_uri if len(jwt.jwks_uri) <= 80 else jwt.jwks_uri[:80] + "…")
        yield Finding(
            (*path, "jwksUri"),
            f"{owner}: jwksUri {shown} {problem}",
            "write the full URL of the issuer's key set, e.g. https://auth.example.com/.well-known/jwks.json",
        )
