"""A PodDisruptionBudget that allows no eviction: node drains hang.

Why: `kubectl drain`, the cluster autoscaler and managed node upgrades evict pods through the
eviction API, which refuses while the budget would be broken. A budget whose `minAvailable` is at
least the Deployment's replicas (or its autoscaler's `minReplicas`), or whose `maxUnavailable` is 0,
never allows one eviction: the drain retries until someone deletes the budget by hand, usually
in the middle of a cluster upgrade. Percentages are rounded up, as the disruption controller does
(`minAvailable: "60%"` of 2 replicas is 2).

Example:
    services:
      - name: api
        versions: [{ name: v1, image: api:1, replicas: 2 }]
        workload:
          disruptionBudget: { minAvailable: 2 }

Fix: `maxUnavailable: 1` (meshc's default), or more replicas than `minAvailable`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lower import names
from ..workloads import DEFAULT_MAX_UNAVAILABLE, evictable
from .base import Finding, RuleContext
from .walk import Path, once_per_place

CODE = "MC210"
NAME = "budget-blocks-drain"
SEVERITY = "error"
SCOPE = "mesh"

_OWN_BUDGET_EVICTS = isinstance(DEFAULT_MAX_UNAVAILABLE, int) and DEFAULT_MAX_UNAVAILABLE > 0
"""meshc's own budget (`maxUnavailable: 1`, for a service without any `workload` setting) allows an
eviction at every replica count: such services need no plan here."""


def check(ctx: RuleContext) -> Iterator[Finding]:
    found: list[tuple[Path, str, str, str]] = []
    index = ctx.index
    for info in index.with_pod_settings if _OWN_BUDGET_EVICTS else index.services.values():
        if _OWN_BUDGET_EVICTS and index.has_bare_workload(info):
            continue
        plan = index.workload(info)
        for version in info.versions:
            budget = plan.budget_for(version) if version.image else None
            if budget is None:
                continue
            replicas = plan.replicas(version)[0]
            if evictable(budget, replicas) > 0:
                continue
            key, value = (
                ("minAvailable", budget.min_available)
                if budget.min_available is not None
                else ("maxUnavailable", budget.max_unavailable)
            )
            counted = "its autoscaler's minimum of" if plan.autoscaled(version) else "its"
            deployment = names.deployment(info.name, version.name)
            found.append(
                (
                    (*budget.path, key),
                    deployment,
                    f"the disruption budget of Deployment '{deployment}' ({key}: {value} with {counted} "
                    f"{replicas} replica{'s' if replicas != 1 else ''}) allows no eviction: "
                    "draining a node that runs one of its pods hangs",
                    "use `maxUnavailable: 1` (meshc's default) or run more replicas than `minAvailable`",
                )
            )
    yield from once_per_place(found)
