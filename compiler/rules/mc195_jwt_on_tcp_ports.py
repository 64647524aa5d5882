"""A service requires a JWT, but some of its ports are not HTTP: there, no token is required.

Why: a token travels in an HTTP header. On TCP ports Istio cannot see one, and the DENY policy
that makes the token mandatory is limited to the HTTP ports (on TCP a DENY rule ignores its HTTP
fields and would close the port to everyone). Callers reach the TCP ports without any token.

Example:
    services:
      - name: reports
        ports: [{ port: 8080, protocol: http }, { port: 5432, protocol: tcp }]
        security:
          jwt: { issuers: [...] }      # 5432 needs no token

Fix: accept it (the TCP port is still limited to declared callers), or move the TCP listener to
another service; a service with no HTTP port at all cannot require tokens.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import HTTP_PROTOCOLS

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC195"
NAME = "jwt-on-tcp-ports"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        security = info.model.security
        jwt = security.jwt if security is not None else None
        if jwt is None or not (jwt.required or jwt.require_claims):
            continue
        other = sorted(p.number for p in info.ports if p.protocol not in HTTP_PROTOCOLS)
        if not other:
            continue
        none_http = len(other) == len(info.ports)
        yield Finding(
            (*info.path, "security", "jwt"),
            f"service '{info.key}' requires a JWT, but port(s) {', '.join(map(str, other))} are not HTTP: "
            + ("no request to it can carry one" if none_http else "calls there need no token"),
            "accept it, or serve the non-HTTP ports from another service",
            severity="error" if none_http else None,
        )
