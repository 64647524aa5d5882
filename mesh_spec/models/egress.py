"""Egress: the external hosts that may be called, and by whom."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Name, SpecModel


class EgressPort(SpecModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["http", "https", "tls", "tcp", "grpc", "http2"] = "tls"


class EgressGateway(SpecModel):
    """Send this egress through a dedicated egress gateway instead of straight from the sidecar."""

    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "egressgateway"})
    namespace: Name = "istio-system"
    """Namespace of the egress gateway workload and its Service."""
    service: Name = "istio-egressgateway"
    """Kubernetes Service of the egress gateway."""


class Egress(SpecModel):
    name: Name
    hosts: list[str]
    """External DNS names. Wildcards (`*.example.com`) are allowed but flagged (MC113)."""
    ports: list[EgressPort] = Field(default_factory=lambda: [EgressPort(port=443)])
    callers: list[str] = Field(default_factory=list)
    """Services allowed to call these hosts."""
    resolution: Literal["DNS", "NONE"] | None = None
    """How the sidecar resolves the hosts; defaults to DNS, or NONE for wildcard hosts."""
    namespace: Name | None = None
    """Namespace of the ServiceEntry. By default each caller's namespace gets its own copy, which
    only the callers' Sidecars import; a namespace every Sidecar imports (the control plane's)
    would expose the hosts to every workload of the callers' namespaces (MC129)."""
    gateway: EgressGateway | None = None
