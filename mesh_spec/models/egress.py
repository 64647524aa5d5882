"""Egress: the external hosts that may be called, and by whom."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .base import Duration, Name, SpecModel
from .meta import FieldMeta
from .traffic import ConnectionPool, OutlierDetection, Retries


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


DnsName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$",
        max_length=253,
        description="A DNS name such as `api.example.com`.",
    ),
]
SecretName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        max_length=253,
        description="A Kubernetes Secret name (a DNS-1123 subdomain).",
    ),
]


class TlsOrigination(SpecModel):
    """The app speaks plain HTTP to the egress port; the proxy opens TLS to the external host
    (Istio's "Egress TLS Origination": a DestinationRule with `tls.mode: SIMPLE`). Without a
    `gateway` the caller's sidecar originates it; with one, the egress gateway does."""

    port: Annotated[int, Field(ge=1, le=65535)] = 443
    """The host's TLS port, where the originated TLS goes (the HTTP ports are sent there)."""
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    """`SIMPLE`: server-authenticated TLS; `MUTUAL`: the proxy also presents a client certificate
    (from `credentialName`; only the egress gateway can read one, MC206)."""
    sni: DnsName | None = None
    """The SNI sent to the host; by default each host's own name."""
    credential_name: SecretName | None = None
    """A Secret in the gateway's namespace with the CA (`ca.crt`) that verifies the host and, for
    `MUTUAL`, the client certificate (`tls.crt`, `tls.key`). Without it the system roots verify."""
    subject_alt_names: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)
    """Names the host's certificate must carry, when they differ from the host name."""


class EgressTraffic(SpecModel):
    """Traffic policy for calls to the external hosts, applied by the proxy that calls out."""

    timeout: Annotated[Duration | None, FieldMeta("resilience", http_only=True)] = None
    """Timeout of each HTTP request (HTTP ports only, MC201)."""
    retries: Annotated[Retries | None, FieldMeta("resilience", http_only=True)] = None
    """Retries of failed HTTP requests (HTTP ports only, MC201)."""
    connection_pool: Annotated[ConnectionPool | None, FieldMeta("resilience")] = None
    """Connection limits towards the hosts (by the caller's sidecar, or by the egress gateway)."""
    outlier_detection: Annotated[OutlierDetection | None, FieldMeta("resilience")] = None
    """Eject endpoints of the hosts that keep failing."""


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
    """Services allowed to call these hosts: `name`, or `namespace/name` when several namespaces
    hold that name (MC240)."""
    resolution: Literal["DNS", "NONE"] | None = None
    """How the sidecar resolves the hosts; defaults to DNS, or NONE for wildcard hosts."""
    namespace: Name | None = None
    """Namespace of the ServiceEntry. By default each caller's namespace gets its own copy, which
    only the callers' Sidecars import; a namespace every Sidecar imports (the control plane's)
    would expose the hosts to every workload of the callers' namespaces (MC129)."""
    gateway: EgressGateway | None = None
    tls_origination: Annotated[TlsOrigination | None, FieldMeta("egress", review="custom")] = None
    """Originate TLS for the HTTP ports: callers send plain HTTP, the host is reached over TLS."""
    traffic: Annotated[EgressTraffic | None, FieldMeta("resilience", review="custom")] = None
    """Timeouts, retries and connection limits for calls to these hosts."""
