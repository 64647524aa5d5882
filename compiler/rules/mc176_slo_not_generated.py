"""A service declares an SLO but the mesh generates no Prometheus rules, so nothing measures it.

Why: SLO rules and alerts are emitted only when `spec.observability` is present and its
`prometheus.output` is not `none`. Without it, an `slo` block reads like a promise the output
does not keep: no recording rule, no alert, no dashboard.

Example:
    services:
      - name: reviews
        ports: [{ port: 9080, protocol: http }]
        slo: { availability: 99.9 }      # and no spec.observability

Fix: add `observability: { prometheus: { output: operator } }` (or `files`) under `spec`, or
remove the `slo`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC176"
NAME = "slo-not-generated"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    observability = ctx.mesh.spec.observability
    if observability is not None and observability.prometheus.output != "none":
        return
    why = "`spec.observability` is absent" if observability is None else "`prometheus.output` is `none`"
    for info in focused(ctx):
        if info.model.slo is not None:
            yield Finding(
                (*info.path, "slo"),
                f"service '{info.key}' declares an SLO but {why}, so no rule or alert measures it",
                "add `spec.observability.prometheus.output: operator` (or `files`), or remove the `slo`",
            )
