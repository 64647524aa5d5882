"""The compiler's output model: a `Manifest` (one Kubernetes object with where it goes and where it
comes from) and the canonical kind order. Lowering produces manifests; emit, review, deploy, verify
and the Pulumi stacks consume them, so the model lives here rather than inside lowering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "ServiceEntry",
    "DestinationRule",
    "VirtualService",
    "Gateway",
    "Sidecar",
    "PeerAuthentication",
    "RequestAuthentication",
    "AuthorizationPolicy",
    "Telemetry",
    "PodMonitor",
    "ServiceMonitor",
    "PrometheusRule",
    "ConfigMap",
)
"""Canonical order: what a resource depends on comes first (a namespace before what lives in it)."""

UNKNOWN_KIND_RANK = 99
"""Kinds meshc does not produce sort after every kind it does."""

_KIND_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}


def kind_rank(kind: str) -> int:
    """The position of `kind` in the canonical order (`UNKNOWN_KIND_RANK` for other kinds)."""
    return _KIND_RANK.get(kind, UNKNOWN_KIND_RANK)


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    namespace: str | None
    name: str
    body: dict[str, Any]
    cluster: str | None = None
    owner: str | None = None
    """The spec element this resource comes from (`service/reviews`, `gateway/public`,
    `egress/stripe`), or None for namespace- and mesh-wide resources."""

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.cluster or "", self.namespace or "", kind_rank(self.kind), self.name)

    @property
    def ref(self) -> str:
        """`kind/namespace/name`, for messages."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


__all__ = ["KIND_ORDER", "UNKNOWN_KIND_RANK", "Manifest", "kind_rank"]
