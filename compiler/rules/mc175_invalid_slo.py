"""An SLO that states no objective, or a latency objective that is not exactly one form.

Why: `latency` is either one percentile (`p99: 250ms`, meaning 99% within 250 ms) or a `threshold`
with an `objective`; two percentiles, a threshold without an objective or both forms at once do
not say which objective to hold, and meshc will not guess. An `slo` with neither `availability`
nor `latency` generates nothing, which is rarely what its author meant.

Example:
    services:
      - name: reviews
        ports: [{ port: 9080, protocol: http }]
        slo:
          latency: { p99: 250ms, p90: 100ms }   # two objectives in one

Fix: write one latency objective per service (`p99: 250ms`, or `threshold: 250ms, objective: 99`),
and at least one of `availability` or `latency`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC175"
NAME = "invalid-slo"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        slo = info.model.slo
        if slo is None:
            continue
        if slo.availability is None and slo.latency is None:
            yield Finding(
                (*info.path, "slo"),
                f"the SLO of service '{info.key}' states no objective",
                "add `availability` (e.g. 99.9) or `latency` (e.g. `{ p99: 250ms }`), or remove `slo`",
            )
        elif slo.latency is not None and slo.latency.resolved() is None:
            yield Finding(
                (*info.path, "slo", "latency"),
                f"the latency SLO of service '{info.key}' must be exactly one percentile (`p99: 250ms`)"
                " or a `threshold` with an `objective`",
                "write one of `{ p99: 250ms }` or `{ threshold: 250ms, objective: 99 }`",
            )
