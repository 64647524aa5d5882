"""Egress: the external hosts that may be called, and by whom."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .base import Name, SpecModel
from .meta import FieldMeta


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


def _address(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address or a CIDR range (203.0.113.10, 10.1.0.0/16)"
        ) from None
    return value


Address = Annotated[
    str,
    AfterValidator(_address),
    Field(description="An IP address or CIDR range: `203.0.113.10`, `10.1.0.0/16`."),
]


class Egress(SpecModel):
    name: Name
    hosts: list[str]
    """External DNS names. Wildcards (`*.example.com`) are allowed but flagged (MC113)."""
    ports: list[EgressPort] = Field(default_factory=lambda: [EgressPort(port=443)])
    addresses: Annotated[list[Address], FieldMeta("egress")] = Field(default_factory=list)
    """The hosts' IP addresses or ranges (the ServiceEntry's `addresses`). A `tcp` port needs them
    (MC180): TCP carries no host name, so without addresses the sidecar matches the port alone,
    whatever the destination, and the egress gateway and the other hosts are skipped."""
    callers: list[str] = Field(default_factory=list)
    """Services allowed to call these hosts."""
    resolution: Literal["DNS", "NONE"] | None = None
    """How the sidecar resolves the hosts; defaults to DNS, or NONE for wildcard hosts."""
    namespace: Name | None = None
    """Namespace of the ServiceEntry. By default each caller's namespace gets its own copy, which
    only the callers' Sidecars import; a namespace every Sidecar imports (the control plane's)
    would expose the hosts to every workload of the callers' namespaces (MC129)."""
    gateway: EgressGateway | None = None
