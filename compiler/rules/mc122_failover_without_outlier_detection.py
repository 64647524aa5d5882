"""A service runs in several regions with locality failover but has no outlier detection.

Why: meshc gives a service placed in clusters of two or more regions a locality failover policy
(each region to the next). Istio fails over only when outlier detection ejects the local
endpoints; without `outlierDetection` the local endpoints are never ejected, so callers keep
sending to a failing region and the failover you see in the generated DestinationRule never
happens.

Example:
    services:
      - name: reviews
        placement: [east, west]          # us-east1 and us-west1
        traffic: { timeout: 5s }         # no outlierDetection

Fix: add `traffic.outlierDetection` (for example `{ consecutive5xxErrors: 5, interval: 10s,
baseEjectionTime: 30s }`), to the service or to `spec.defaults.traffic`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC122"
NAME = "failover-without-outlier-detection"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    if not index.clusters:
        return
    for info in focused(ctx):
        regions = index.regions(info)
        if len(regions) < 2 or info.traffic.outlier_detection is not None:
            continue
        path = (*info.path, "placement") if info.model.placement is not None else (*info.path, "name")
        yield Finding(
            path,
            f"service '{info.key}' runs in regions {', '.join(regions)} with locality failover, but has no "
            "`outlierDetection`: Istio never ejects the local endpoints, so it never fails over",
            "add `traffic.outlierDetection`, e.g. "
            "`{ consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }`",
        )
