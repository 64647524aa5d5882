"""What lowering produces: `Manifest`s, plain Kubernetes objects with a sort key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesh_spec.models import StringMatch

from ..index import MeshIndex

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"
TELEMETRY = "telemetry.istio.io/v1"

KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Service",
    "Deployment",
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
_KIND_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}


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
        return (self.cluster or "", self.namespace or "", _KIND_RANK.get(self.kind, 99), self.name)

    @property
    def ref(self) -> str:
        """`kind/namespace/name`, for messages."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def standard_labels(index: MeshIndex) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "meshc", "app.kubernetes.io/part-of": index.name}


def manifest(
    index: MeshIndex,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    spec: dict[str, Any] | None,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    spec_key: str = "spec",
    owned: bool = True,
    owner: str | None = None,
) -> Manifest:
    """A manifest with the standard labels (`owned=False` for objects meshc only adds labels to,
    such as the control-plane namespace, which must not claim to be managed by meshc)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = {**(labels or {}), **(standard_labels(index) if owned else {})}
    if annotations:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        body[spec_key] = spec
    return Manifest(kind, namespace, name, body, owner=owner)


def string_match(match: StringMatch) -> dict[str, str]:
    if match.exact is not None:
        return {"exact": match.exact}
    if match.prefix is not None:
        return {"prefix": match.prefix}
    if match.regex is not None:
        return {"regex": match.regex}
    return {}


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != {} and v != []}
