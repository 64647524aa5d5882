"""Beside each Deployment meshc owns: a PodDisruptionBudget (policy/v1) and, with `autoscaling`,
a HorizontalPodAutoscaler (autoscaling/v2). Both are named after the Deployment and select exactly
its pods (the version's labels), so a canary's budget never counts the stable version's pods."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..index import MeshIndex, Scope
from . import names
from .common import Manifest, manifest


def disruption_budgets(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.placed(scope):
        plan = index.workload(info)
        for version in info.versions:
            budget = plan.budget_for(version) if version.image else None
            if budget is None:
                continue
            selector = {"app": info.name, **info.version_labels(version)}
            spec: dict[str, Any] = {"selector": {"matchLabels": selector}}
            if budget.min_available is not None:
                spec["minAvailable"] = budget.min_available
            else:
                spec["maxUnavailable"] = budget.max_unavailable
            # A pod that is running but not ready may be evicted whatever the budget says: it serves
            # nothing, and keeping it would stall a drain behind a crash-looping pod.
            spec["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
            name = names.deployment(info.name, version.name)
            yield manifest(
                index, "policy/v1", "PodDisruptionBudget", name, info.namespace, spec,
                labels=selector, owner=info.owner,
            )  # fmt: skip


def autoscalers(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.placed(scope):
        plan = index.workload(info)
        scaling = plan.autoscaling
        if scaling is None:
            continue
        for version in info.versions:
            if not version.image or not plan.autoscaled(version):
                continue
            name = names.deployment(info.name, version.name)
            metrics = []
            targets = (("cpu", scaling.cpu_utilization), ("memory", scaling.memory_utilization))
            for resource, target in targets:
                if target is None:
                    continue
                # ContainerResource: the application container's use against its own request. A
                # `Resource` metric would average in the sidecar, whose request is not the app's.
                metrics.append(
                    {
                        "type": "ContainerResource",
                        "containerResource": {
                            "container": info.name,
                            "name": resource,
                            "target": {"type": "Utilization", "averageUtilization": target},
                        },
                    }
                )
            spec = {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": metrics,
            }
            selector = {"app": info.name, **info.version_labels(version)}
            yield manifest(
                index, "autoscaling/v2", "HorizontalPodAutoscaler", name, info.namespace, spec,
                labels=selector, owner=info.owner,
            )  # fmt: skip
