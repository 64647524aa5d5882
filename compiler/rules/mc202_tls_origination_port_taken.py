"""Through an egress gateway, TLS origination targets a port the entry also declares for TLS or TCP.

Why: with a gateway, the egress gateway sends the callers' HTTP to the host's TLS port
(`tlsOrigination.port`, 443 by default) and a DestinationRule makes it originate TLS on that
port. When the entry also declares that port as `tls`, `https` or `tcp` (the application's own
TLS, passed through the gateway), the same DestinationRule setting applies to those connections
too: the gateway wraps the application's TLS in a second TLS session and the host refuses it.

Example:
    egress:
      - name: api
        hosts: [api.example.com]
        ports: [{ port: 80, protocol: http }, { port: 443, protocol: tls }]
        gateway: {}
        tlsOrigination: { port: 443 }

Fix: drop the `tls` port (callers use `http://` on port 80 and the gateway encrypts), or
split the entry in two: one with `tlsOrigination`, one for the application's own TLS.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .mc200_tls_origination_without_http import PLAIN_HTTP

CODE = "MC202"
NAME = "tls-origination-port-taken"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        tls = egress.tls_origination
        if tls is None or egress.gateway is None:
            continue
        for j, port in enumerate(egress.ports):
            if port.port == tls.port and port.protocol not in PLAIN_HTTP:
                yield Finding(
                    ("spec", "egress", i, "ports", j),
                    f"egress '{egress.name}' declares port {port.port} as {port.protocol}, the port "
                    "its egress gateway originates TLS on: the application's TLS would be wrapped again",
                    "remove the port, or put the application's own TLS in a separate egress entry",
                )
