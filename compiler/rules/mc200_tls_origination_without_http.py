"""TLS origination on an egress entry whose ports carry no plain HTTP.

Why: `tlsOrigination` makes the proxy open TLS to the host for requests the application sends in
plain HTTP (Istio's "Egress TLS Origination"). On `tls`/`https` ports the application already
speaks TLS: the proxy passes those bytes through by SNI and cannot wrap them again (an HTTPS
server receiving TLS inside TLS refuses the handshake); `tcp` bytes carry no request to route.
The setting would compile to nothing for such ports, and the reviewer would believe the traffic
leaves the mesh encrypted by the proxy.

Example:
    egress:
      - name: stripe
        hosts: [api.stripe.com]
        ports: [{ port: 443, protocol: tls }]
        tlsOrigination: {}

Fix: let the application call `http://api.stripe.com` on an `http` port (80) and keep
`tlsOrigination`, or remove `tlsOrigination`: the application's own TLS already protects the call.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC200"
NAME = "tls-origination-without-http"
SEVERITY = "error"
SCOPE = "mesh"

PLAIN_HTTP = frozenset({"http", "http2", "grpc"})


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        if egress.tls_origination is None or any(p.protocol in PLAIN_HTTP for p in egress.ports):
            continue
        protocols = ", ".join(sorted({p.protocol for p in egress.ports})) or "none"
        yield Finding(
            ("spec", "egress", i, "tlsOrigination"),
            f"egress '{egress.name}' originates TLS, but none of its ports carries plain HTTP "
            f"(protocols: {protocols}): the application's TLS is passed through, never wrapped",
            "declare the port the application calls in plain HTTP (`{ port: 80, protocol: http }`), "
            "or remove tlsOrigination",
        )
