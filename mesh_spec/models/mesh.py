"""The top-level document: `apiVersion`, `kind: Mesh`, `metadata`, `spec`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import MtlsMode, Name, SpecModel
from .cluster import Cluster
from .egress import Egress
from .gateway import Gateway
from .observability import Observability, SloDefaults, Telemetry
from .pod import WorkloadDefaults
from .service import Service
from .traffic import Traffic
from .workload import Injection, Proxy, SidecarInjector

API_VERSION = "meshc.dev/v1alpha1"


class Metadata(SpecModel):
    name: Name
    """Mesh name; every resource is labelled `app.kubernetes.io/part-of: <name>`."""


class ControlPlane(SpecModel):
    namespace: Name = "istio-system"
    """Namespace of istiod (every Sidecar keeps it reachable)."""
    root_namespace: Name = "istio-system"
    """Istio's root namespace: a PeerAuthentication or Telemetry here applies to every namespace of
    the cluster, so meshc writes one only for a spec with `meshWide: true`."""
    trust_domain: str = "cluster.local"
    """SPIFFE trust domain of workload identities (`<trustDomain>/ns/<ns>/sa/<sa>`)."""
    cluster_domain: str = "cluster.local"
    """DNS suffix of Kubernetes services (`<svc>.<ns>.svc.<clusterDomain>`)."""


class Namespace(SpecModel):
    name: Name
    injection: Injection | None = None
    """Namespace-wide sidecar injection; defaults to `spec.defaults.injection`."""
    mtls: MtlsMode | None = None
    """Namespace-wide mTLS mode, overriding `security.mtls`."""
    labels: dict[str, str] = Field(default_factory=dict)


class Authorization(SpecModel):
    default_deny: bool = True
    """Deny every call that is not a declared edge (a deny-all policy per namespace)."""


class Security(SpecModel):
    mtls: MtlsMode = "STRICT"
    """mTLS mode of every namespace this spec owns (a PeerAuthentication `default` in each); with
    `meshWide: true`, of the whole cluster (one in the root namespace)."""
    authorization: Authorization = Field(default_factory=Authorization)


class Defaults(SpecModel):
    """Applied to every service; a service's own settings win, field by field."""

    namespace: Name = "default"
    injection: Injection = Field(default_factory=Injection)
    traffic: Traffic | None = None
    proxy: Proxy | None = None
    placement: list[Name] | None = None
    """Clusters a service runs on when it does not say; every cluster when omitted."""
    slo: SloDefaults = Field(default_factory=SloDefaults)
    workload: WorkloadDefaults | None = None
    """Resources, security context, disruption budget and autoscaling of every Deployment meshc
    writes (probes are per service: they name its ports)."""


class MeshSpec(SpecModel):
    mesh_wide: bool = False
    """This spec owns the cluster-wide defaults: `security.mtls` and `telemetry` are written to
    Istio's root namespace and apply to every namespace, including other teams'. Set it in one
    spec per cluster at most (the platform team's). Off (the default), they apply only to the
    namespaces this spec owns: those of its services and its `namespaces[]`."""
    control_plane: ControlPlane = Field(default_factory=ControlPlane)
    sidecar_injector: SidecarInjector = Field(default_factory=SidecarInjector)
    """The cluster's sidecar injection settings, for workloads in `manual` injection mode."""
    clusters: list[Cluster] = Field(default_factory=list)
    """Clusters of a multi-cluster mesh; a single-cluster spec declares none."""
    defaults: Defaults = Field(default_factory=Defaults)
    security: Security = Field(default_factory=Security)
    telemetry: Telemetry | None = None
    observability: Observability | None = None
    """Prometheus scraping, SLO recording rules and burn-rate alerts, Grafana dashboards; none
    unless present (see docs/observability.md)."""
    namespaces: list[Namespace] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    gateways: list[Gateway] = Field(default_factory=list)
    egress: list[Egress] = Field(default_factory=list)


class Mesh(SpecModel):
    """A service mesh described as a graph of services, compiled by meshc to Istio resources."""

    api_version: Literal["meshc.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Mesh"]
    metadata: Metadata
    spec: MeshSpec
