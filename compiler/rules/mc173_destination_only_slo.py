"""An SLO measured only by the service's own sidecar (`reporter: destination`) is blind to a total outage.

Why: when every pod of the service is down, its own sidecars are gone too and report nothing: a
destination-side SLI sees 0 requests and 0 errors, and the SLO stays silent through the worst
outage there is. Its callers' sidecars (and gateways) keep reporting the 503s. With `reporter:
auto`, meshc measures at the source when every declared caller is a mesh workload or gateway, and
falls back to the destination (and this warning) when a caller is outside the mesh or no caller is
declared.

Example:
    services:
      - name: legacy
        ports: [{ port: 8080, protocol: http }]
        injection: { enabled: false }    # not in the mesh: reports nothing
        calls: [{ service: reviews }]
      - name: reviews
        ports: [{ port: 9080, protocol: http }]
        slo: { availability: 99.9 }      # auto -> destination

Fix: put the callers in the mesh (or declare them), or set `reporter: source` and accept that
calls from outside the mesh are not measured; an external probe also covers the outage.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.compiler.slo import reporter_choice

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC173"
NAME = "destination-only-slo"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        slo = info.model.slo
        if slo is None:
            continue
        choice = reporter_choice(ctx.index, info, slo)
        if choice.reporter != "destination":
            continue
        if choice.auto:
            why = (
                "it has no declared caller"
                if choice.outsiders == ("no declared caller",)
                else f"its callers {', '.join(repr(c) for c in choice.outsiders)} are outside the mesh"
            )
            message = (
                f"the SLO of service '{info.key}' is measured by its own sidecar because {why}:"
                " a total outage of the service reports nothing and never alerts"
            )
            path = (*info.path, "slo")
        else:
            message = (
                f"the SLO of service '{info.key}' uses `reporter: destination`: a total outage of the"
                " service reports nothing and never alerts"
            )
            path = (*info.path, "slo", "reporter")
        yield Finding(
            path,
            message,
            "measure at the source (callers in the mesh, `reporter: source`), or add an external probe",
        )
