"""Helpers shared by the lowering steps; the output model (`Manifest`, `KIND_ORDER`) lives in
`meshc.compiler.manifest` and is re-exported here for compatibility."""

from __future__ import annotations

from typing import Any

from meshc.spec.models import StringMatch

from ..index import MeshIndex
from ..manifest import KIND_ORDER as KIND_ORDER  # re-exported: the model moved to compiler.manifest
from ..manifest import Manifest as Manifest

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"
TELEMETRY = "telemetry.istio.io/v1"


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
