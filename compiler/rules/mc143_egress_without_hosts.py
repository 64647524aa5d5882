"""An egress entry lists no hosts, or an empty host.

Why: the entry compiles to a ServiceEntry (and, with a `gateway`, an egress Gateway and
VirtualService) for its hosts. Istio refuses a ServiceEntry without hosts, and an egress gateway
needs a host to route to, so the entry cannot be deployed; an empty host name matches nothing.

Example:
    egress:
      - name: payments
        hosts: []
        callers: [checkout]

Fix: list the external DNS names the callers reach (`api.stripe.com`), or remove the entry.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC143"
NAME = "egress-without-hosts"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        if not egress.hosts:
            yield Finding(
                ("spec", "egress", i, "hosts"),
                f"egress '{egress.name}' lists no hosts",
                "list the external DNS names its callers reach, or remove the entry",
            )
        for j, host in enumerate(egress.hosts):
            if not host.strip():
                yield Finding(
                    ("spec", "egress", i, "hosts", j),
                    f"egress '{egress.name}' lists an empty host",
                    "write the external DNS name, e.g. api.example.com",
                )
