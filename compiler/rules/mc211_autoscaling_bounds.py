"""An autoscaler whose `minReplicas` is above its `maxReplicas`.

Why: the API server rejects such a HorizontalPodAutoscaler, so the deploy fails half-way (the
Deployment is applied, its autoscaler is not, and the Deployment, which leaves its replicas to
the autoscaler, runs one pod). Either bound may come from `defaults.workload.autoscaling`
(or meshc's defaults: 2 and 10), so the mistake is not always visible where it is made.

Example:
    services:
      - name: api
        versions: [{ name: v1, image: api:1 }]
        workload:
          autoscaling: { minReplicas: 12 }        # maxReplicas: 10 unless said

Fix: raise `maxReplicas` or lower `minReplicas`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import Path, once_per_place

CODE = "MC211"
NAME = "autoscaling-bounds"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    found: list[tuple[Path, str, str, str]] = []
    index = ctx.index
    for info in index.with_pod_settings:  # the others have meshc's own plan: no autoscaler
        if index.has_bare_workload(info) or not index.owns_workload(info):
            continue
        scaling = index.workload(info).autoscaling
        if scaling is None or scaling.min_replicas <= scaling.max_replicas:
            continue
        found.append(
            (
                (*scaling.path, "minReplicas"),
                info.name,
                f"the autoscaler of service '{info.key}' has minReplicas {scaling.min_replicas} above "
                f"maxReplicas {scaling.max_replicas}: the API server rejects it",
                f"set `maxReplicas` to at least {scaling.min_replicas}, or lower `minReplicas`",
            )
        )
    yield from once_per_place(found)
