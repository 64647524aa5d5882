"""A gateway server's TLS settings do not fit its protocol.

Why: an `https` or `tls` server terminates TLS and needs a certificate (`tls.credentialName`);
without one Istio rejects the Gateway or the listener serves no certificate and every handshake
fails. A plain-text server (`http`, `http2`, `grpc`, `tcp`) with `tls` set is a contradiction
Istio resolves by ignoring one of them. `httpsRedirect` only makes sense on a plain `http`
server: it answers every request there with a redirect to HTTPS.

Example:
    servers:
      - { port: 443, protocol: https }                      # no tls
      - { port: 80, protocol: http, tls: { credentialName: web } }
      - { port: 443, protocol: https, httpsRedirect: true, tls: { credentialName: web } }

Fix: add `tls: { credentialName: ... }` to https/tls servers, remove `tls` from plain-text ones,
and keep `httpsRedirect` for the `http` server on port 80.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC116"
NAME = "gateway-tls"
SEVERITY = "error"
SCOPE = "mesh"

TLS_PROTOCOLS = ("https", "tls")


def check(ctx: RuleContext) -> Iterator[Finding]:
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        for k, server in enumerate(gw.servers):
            path = ("spec", "gateways", gi, "servers", k)
            what = f"server {k + 1} of gateway '{gw.name}' (port {server.port}, {server.protocol})"
            if server.protocol in TLS_PROTOCOLS and server.tls is None:
                yield Finding(
                    (*path, "protocol"),
                    f"{what} terminates TLS but has no `tls` certificate",
                    "add `tls: { credentialName: <secret> }`",
                )
            if server.protocol not in TLS_PROTOCOLS and server.tls is not None:
                yield Finding(
                    (*path, "tls"),
                    f"{what} is plain text but sets `tls`",
                    "use `protocol: https` (or `tls`) to terminate TLS, or remove `tls`",
                )
            if server.https_redirect and server.protocol != "http":
                yield Finding(
                    (*path, "httpsRedirect"),
                    f"{what} sets `httpsRedirect`, which only applies to plain `http` servers",
                    "move `httpsRedirect: true` to the `http` server (usually port 80)",
                )
