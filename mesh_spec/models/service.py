"""Services: the nodes of the graph, their ports, versions, identity and the calls they make."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .access import AllowRule, ServiceJwt
from .base import MtlsMode, Name, Protocol, SpecModel
from .meta import FieldMeta
from .observability import Slo, TelemetryOverride
from .pod import Workload
from .traffic import Traffic
from .workload import Injection, Proxy


class Port(SpecModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    """The service port callers use."""
    protocol: Protocol | None = None
    """Application protocol. When omitted it is taken from an Istio-style name prefix (`http-web`,
    `grpc`, `tcp-db`); a port whose protocol cannot be determined is an error (MC104)."""
    name: str | None = None
    """Port name; defaults to the protocol (`http`, or `http-8080` when two ports share a protocol)."""
    target_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Container port, when it differs from `port`."""


class Version(SpecModel):
    name: Name
    """Version name, used as the DestinationRule subset name (`v1`)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Pod labels that select this version; defaults to `{version: <name>}`."""
    image: str | None = None
    """Container image. When set, the mesh owns the workload and meshc emits its Deployment."""
    replicas: Annotated[int, Field(ge=0)] = 1
    """Replicas of the Deployment (only with `image`)."""
    args: list[str] = Field(default_factory=list)
    """Container arguments (only with `image`)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Container environment variables (only with `image`)."""


def split_reference(ref: str) -> tuple[str | None, str]:
    """A service reference, `name` or `namespace/name`, as (namespace or None, name)."""
    namespace, slash, name = ref.rpartition("/")
    return (namespace, name) if slash else (None, ref)


class Call(SpecModel):
    """An edge of the graph: this service calls `service`. Authorization allows exactly these calls."""

    service: str
    """The callee: `name`, or `namespace/name` when several namespaces hold that name (MC240)."""
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    """Callee ports used; all of its ports when empty."""
    methods: list[str] = Field(default_factory=list)
    """HTTP methods allowed (`GET`, `POST`...); any when empty."""
    paths: list[str] = Field(default_factory=list)
    """HTTP paths allowed (AuthorizationPolicy syntax: exact, `/prefix/*`, `*/suffix`); any when empty."""
    protocol: Protocol | None = None
    """The protocol this call speaks, when the callee has ports of several protocols."""


class PortMtls(SpecModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    """A service port of this service."""
    mode: MtlsMode


class ServiceSecurity(SpecModel):
    mtls: MtlsMode | None = None
    """mTLS mode for this workload (overrides namespace and mesh)."""
    port_mtls: list[PortMtls] = Field(default_factory=list)
    """Per-port mTLS modes, by service port."""
    allow: list[AllowRule] = Field(default_factory=list)
    """Callers beyond the declared edges (`calls`), each deliberate: any workload of the mesh, whole
    namespaces, clients without a sidecar, address ranges; with what they may do. Effective under
    `defaultDeny` only (without it every caller gets in anyway, MC196)."""
    jwt: ServiceJwt | None = None
    """Validate JWTs at this service's sidecar and, by default, require one on every HTTP request."""


class Service(SpecModel):
    name: Name
    """Service name, unique in the mesh; also the `app` label of its pods."""
    namespace: Name | None = None
    """Kubernetes namespace; defaults to `spec.defaults.namespace`."""
    account: Name | None = None
    """The service account that is this service's identity; defaults to the service name."""
    team: str | None = None
    """Owning team (free text; used to shard stacks and in reviews)."""
    ports: list[Port] = Field(default_factory=list)
    versions: list[Version] = Field(default_factory=list)
    """Versions of the workload; a service with none routes to its pods without subsets."""
    calls: list[Call] = Field(default_factory=list)
    traffic: Traffic | None = None
    security: ServiceSecurity | None = None
    injection: Injection | None = None
    """Per-workload sidecar injection, overriding the namespace."""
    proxy: Proxy | None = None
    """Sidecar proxy settings, merged over `spec.defaults.proxy`."""
    telemetry: TelemetryOverride | None = None
    slo: Slo | None = None
    """Service level objectives; rules, alerts and a dashboard are generated when
    `spec.observability` is present (a service without `slo` adds nothing)."""
    placement: list[Name] | None = None
    """Clusters this service runs on; defaults to `spec.defaults.placement`, else every cluster."""
    workload: Annotated[Workload | None, FieldMeta("workload", review="custom")] = None
    """Resources, probes, security context, disruption budget and autoscaling of the Deployments
    meshc writes for this service (versions with an `image`), merged over `spec.defaults.workload`."""
