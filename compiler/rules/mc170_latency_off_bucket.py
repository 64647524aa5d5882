"""A latency objective's threshold is not an Envoy histogram bucket edge, so it cannot be measured.

Why: a latency SLI counts the requests faster than the threshold, which Prometheus can only read
from a bucket whose upper edge is exactly the threshold
(`istio_request_duration_milliseconds_bucket{le="250"}`). Envoy's default buckets jump from 250 to
500 ms: `p99: 300ms` has no bucket, and any query for it silently measures something else
(interpolated quantiles put 400 ms requests at 497.5 ms). The buckets are 0.5, 1, 5, 10, 25, 50,
100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000 and 3600000 ms.

Example:
    services:
      - name: reviews
        ports: [{ port: 9080, protocol: http }]
        slo:
          latency: { p99: 300ms }        # between the 250 and 500 ms buckets

Fix: use a neighbouring bucket (the hint names both), or give the workloads an extra bucket with
the `sidecar.istio.io/statsHistogramBuckets` pod annotation and keep a bucket edge here.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from meshc.compiler.slo import ENVOY_BUCKETS_MS, neighbour_buckets, number, threshold_ms
from meshc.spec.models import LATENCY_PERCENTILES

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC170"
NAME = "latency-off-bucket"
SEVERITY = "error"
SCOPE = "namespace"


def _ms(value: Decimal) -> str:
    return f"{number(value)}ms"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        slo = info.model.slo
        if slo is None or slo.latency is None:
            continue
        keys = [*LATENCY_PERCENTILES, "threshold"]
        for key in keys:
            value = getattr(slo.latency, key)
            if value is None:
                continue
            ms = threshold_ms(value)
            if ms in ENVOY_BUCKETS_MS:
                continue
            below, above = neighbour_buckets(ms)
            choices = " or ".join(_ms(b) for b in (below, above) if b is not None)
            yield Finding(
                (*info.path, "slo", "latency", key),
                f"service '{info.key}': the latency threshold {value} is not an Envoy histogram bucket"
                " edge, so Prometheus cannot count the requests faster than it",
                f"use {choices}, or add the bucket to the workloads with the"
                " `sidecar.istio.io/statsHistogramBuckets` annotation and keep a bucket edge here",
            )
