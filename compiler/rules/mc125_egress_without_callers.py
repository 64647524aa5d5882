"""An egress entry lists no callers, so no service may use it.

Why: meshc exposes an external host only to the services named in `callers` (their Sidecars import
it; every other proxy runs with REGISTRY_ONLY and refuses it). An egress entry without callers
compiles to nothing: dead configuration that suggests access which does not exist, or a
forgotten caller whose calls fail with 502s.

Example:
    egress:
      - name: stripe
        hosts: [api.stripe.com]          # no callers

Fix: list the services that call the host under `callers`, or remove the entry.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC125"
NAME = "egress-without-callers"
SEVERITY = "warning"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        if not egress.callers:
            yield Finding(
                ("spec", "egress", i, "name"),
                f"egress '{egress.name}' lists no callers, so no service may reach {', '.join(egress.hosts)}",
                "list the services that call it under `callers`, or remove it",
            )
