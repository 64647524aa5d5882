"""TLS origination for a wildcard host or an entry resolved with `resolution: NONE`.

Why: to originate TLS the proxy must connect to the host itself: it resolves the name (DNS) and
sends it as SNI, and the host's certificate is checked against it. A wildcard host
(`*.example.com`) names no host to resolve or to verify, and with `resolution: NONE` the proxy
forwards to the original destination address, which for a plain-HTTP call on port 80 is the
host's HTTP port, not its TLS port: the originated TLS would go to the wrong port.

Example:
    egress:
      - name: apis
        hosts: ["*.example.com"]
        ports: [{ port: 80, protocol: http }]
        tlsOrigination: {}

Fix: list the exact hosts (`api.example.com`) with DNS resolution, or let the application speak
TLS itself on a `tls` port.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC207"
NAME = "tls-origination-without-host"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        if egress.tls_origination is None:
            continue
        if egress.resolution == "NONE":
            yield Finding(
                ("spec", "egress", i, "resolution"),
                f"egress '{egress.name}' originates TLS with resolution NONE: the proxy would send it "
                "to the address the application dialled (its HTTP port)",
                "use resolution DNS (the default for exact hosts)",
            )
        for j, host in enumerate(egress.hosts):
            if host.startswith("*"):
                yield Finding(
                    ("spec", "egress", i, "hosts", j),
                    f"egress '{egress.name}' originates TLS for the wildcard host '{host}': there is "
                    "no host to resolve, send as SNI or verify",
                    "list the exact host names",
                )
