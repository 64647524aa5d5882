"""Clusters of a multi-cluster mesh (Istio multi-primary, one or several networks)."""

from __future__ import annotations

from .base import Name, SpecModel


class Cluster(SpecModel):
    name: Name
    """Cluster name, also the folder of its resources in `meshc compile -o DIR`."""
    network: Name
    """Istio network (`topology.istio.io/network`); clusters on different networks talk through
    east-west gateways."""
    region: str
    """Region of the cluster's nodes (`topology.kubernetes.io/region`), used for locality failover."""
    zone: str | None = None
    expose_services: bool = True
    """Expose this cluster's services to other networks through its east-west gateway
    (port 15443, AUTO_PASSTHROUGH). Without it, callers on other networks cannot reach them."""
