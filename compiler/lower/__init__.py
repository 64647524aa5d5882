"""Lowering: a validated mesh -> Kubernetes and Istio resources.

Each step is a named function from the mesh index to manifests, listed once in `LOWERINGS`; the
result is sorted canonically (namespace, kind order, name), so output never depends on spec order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from ..index import MeshIndex, Scope
from ..manifest import KIND_ORDER, Manifest
from .availability import autoscalers, disruption_budgets
from .core import deployments, namespaces, service_accounts, services
from .dashboards import grafana_dashboards
from .egress import service_entries
from .ingress import gateways
from .multicluster import east_west_gateways, network_labels
from .observability import prometheus_resources
from .security import authorization_policies, peer_authentications
from .sidecar import sidecars
from .telemetry import telemetries
from .traffic import destination_rules, virtual_services

LOWERINGS: tuple[Callable[[MeshIndex, Scope], Iterable[Manifest]], ...] = (
    namespaces,
    network_labels,
    service_accounts,
    services,
    deployments,
    autoscalers,
    disruption_budgets,
    service_entries,
    destination_rules,
    virtual_services,
    gateways,
    east_west_gateways,
    sidecars,
    peer_authentications,
    authorization_policies,
    telemetries,
    prometheus_resources,
    grafana_dashboards,
)


def lower(
    index: MeshIndex, skip: frozenset[str] = frozenset(), skip_gateways: frozenset[str] = frozenset()
) -> list[Manifest]:
    """Every cluster's manifests (one unnamed scope for a single-cluster mesh), canonically sorted.

    `skip`: namespaces whose objects are not wanted (an incremental compile reuses them, see
    `meshc.compiler.units`): the result is exactly the full result without the objects in them,
    and the steps do no work for their services (`Scope.skip`). `skip_gateways`: gateways whose
    Gateway and VirtualService are not wanted (`Scope.skip_gateways`): the result is without
    those two objects of each."""
    manifests: list[Manifest] = []
    for scope in index.scopes:
        if skip or skip_gateways:
            scope = dataclasses.replace(scope, skip=skip, skip_gateways=skip_gateways)
        produced = [m for step in LOWERINGS for m in step(index, scope)]
        if skip:  # what steps over gateways, egress or the mesh put into a skipped namespace
            produced = [m for m in produced if (m.namespace or m.name) not in skip]
        if scope.cluster is not None:
            produced = [dataclasses.replace(m, cluster=scope.cluster) for m in produced]
        manifests.extend(produced)
    manifests.sort(key=lambda m: m.sort_key)
    return manifests


__all__ = ["KIND_ORDER", "LOWERINGS", "Manifest", "lower"]
