"""An egress host is a wildcard; a bare `*` (every host on the internet) is an error.

Why: egress exists to say which external hosts the mesh may reach. `*.example.com` lets callers
reach any subdomain, including ones that someone else may control later, and forces
`resolution: NONE` (no DNS, the sidecar passes the connection through on the original IP), so
per-host policy and telemetry are lost. A bare `*` opens egress to everything and defeats the
purpose (warning for a wildcard, error for `*`).

Example:
    egress:
      - name: payments
        hosts: ["*.stripe.com"]      # warning
      - name: anything
        hosts: ["*"]                 # error

Fix: list the exact host names the callers need (`api.stripe.com`).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC113"
NAME = "wildcard-egress"
SEVERITY = "warning"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        for j, host in enumerate(egress.hosts):
            path = ("spec", "egress", i, "hosts", j)
            if host == "*":
                yield Finding(
                    path,
                    f"egress '{egress.name}' allows every external host ('*')",
                    "list the exact host names the callers need",
                    severity="error",
                )
            elif "*" in host:
                yield Finding(
                    path,
                    f"egress '{egress.name}' allows the wildcard host '{host}'",
                    "list the exact host names the callers need; a wildcard also turns DNS resolution off",
                )
