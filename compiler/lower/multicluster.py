"""Multi-network plumbing an operator adds for Istio multi-primary: the network label on the
control-plane namespace, and an east-west gateway where a cluster serves callers on other networks.

Both follow Istio's multi-primary, multi-network install guide (`expose-services.yaml`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import MeshIndex, Scope
from . import names
from .common import NETWORKING, Manifest, manifest


def _multi_network(index: MeshIndex) -> bool:
    return len({c.network for c in index.clusters.values()}) > 1


def control_plane_labels(index: MeshIndex, scope: Scope) -> dict[str, str]:
    """The labels the control-plane namespace needs in `scope` (none for one network)."""
    if scope.cluster is None or not _multi_network(index):
        return {}
    return {"topology.istio.io/network": index.clusters[scope.cluster].network}


def network_labels(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    labels = control_plane_labels(index, scope)
    cp = index.mesh.spec.control_plane.namespace
    if not labels or cp in index.scope_namespaces(scope):
        return  # a namespace the spec owns carries the label itself (see core.namespaces)
    network = labels["topology.istio.io/network"]
    yield manifest(
        index, "v1", "Namespace", cp, None, None, labels={"topology.istio.io/network": network}, owned=False
    )


def east_west_gateways(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    if not scope.east_west:
        return
    suffix = index.cluster_domain.rsplit(".", 1)[-1]
    spec = {
        "selector": {"istio": "eastwestgateway"},
        "servers": [
            {
                "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                # AUTO_PASSTHROUGH routes on SNI to the mTLS endpoints; traffic stays end-to-end encrypted.
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": [f"*.{suffix}"],
            }
        ],
    }
    cp = index.mesh.spec.control_plane.namespace
    yield manifest(index, NETWORKING, "Gateway", names.east_west_gateway(index.name), cp, spec)
