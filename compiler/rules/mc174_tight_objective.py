"""An SLO objective of 99.99% or tighter: its error budget is minutes a month.

Why: at 99.99% over 30 days the whole budget is 4.3 minutes; a 5-minute burn-rate window cannot
tell a real incident from one unlucky scrape, and a low-traffic service pages on a handful of
errors (the SRE workbook advises against such alerts). Few services need it, and the ones that do
need more than generated burn-rate alerts.

Example:
    services:
      - name: payments
        ports: [{ port: 8443, protocol: http }]
        slo: { availability: 99.99 }

Fix: choose an objective the service can keep (99.9% is 43 minutes a month), or keep it and add
synthetic traffic so the windows see enough requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from meshc.spec.models import LATENCY_PERCENTILES

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC174"
NAME = "tight-objective"
SEVERITY = "warning"
SCOPE = "namespace"
LIMIT = Decimal("99.99")
MINUTES_PER_30_DAYS = Decimal(30 * 24 * 60)


def _finding(path: tuple[object, ...], service: str, what: str, objective: float) -> Finding:
    minutes = (MINUTES_PER_30_DAYS * (100 - Decimal(str(objective))) / 100).quantize(Decimal("0.1"))
    return Finding(
        path,  # type: ignore[arg-type]
        f"service '{service}': the {what} objective {objective}% leaves an error budget of"
        f" {minutes} minutes in 30 days, too little for burn-rate alerts to tell an incident from noise",
        "choose a looser objective (99.9% is 43.2 minutes in 30 days), or add synthetic traffic",
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        slo = info.model.slo
        if slo is None:
            continue
        if slo.availability is not None and Decimal(str(slo.availability)) >= LIMIT:
            yield _finding((*info.path, "slo", "availability"), info.name, "availability", slo.availability)
        latency = slo.latency
        if latency is None:
            continue
        if latency.objective is not None and Decimal(str(latency.objective)) >= LIMIT:
            yield _finding(
                (*info.path, "slo", "latency", "objective"), info.name, "latency", latency.objective
            )
        for key, pct in LATENCY_PERCENTILES.items():
            if getattr(latency, key) is not None and Decimal(str(pct)) >= LIMIT:
                yield _finding((*info.path, "slo", "latency", key), info.name, "latency", pct)
