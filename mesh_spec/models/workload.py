"""Sidecar injection and proxy settings, carried to pods as Istio labels and annotations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import ImageHub, ImageTag, IpRange, RevisionName, SpecModel

InjectionMode = Literal["auto", "manual"]

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
Quantity = Annotated[
    str,
    Field(
        pattern=QUANTITY_PATTERN, description="A Kubernetes quantity such as `100m`, `2`, `128Mi` or `1Gi`."
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]


class Injection(SpecModel):
    """Sidecar injection: on or off, or a control-plane revision (`istio.io/rev`)."""

    enabled: bool = True
    revision: str | None = None
    """Control-plane revision or tag (for canary upgrades of Istio itself)."""
    mode: InjectionMode | None = None
    """`auto`: the injection webhook adds the proxy when a pod is created (namespace labels).
    `manual`: meshc writes the Deployments with the proxy already in them, exactly as
    `istioctl kube-inject` would, pinned to `spec.sidecarInjector`; the webhook is kept away.
    A workload's mode wins over its namespace's; `auto` when nothing says."""


class ProxyResources(SpecModel):
    """The sidecar's resources when a pod does not set its own (Istio: `global.proxy.resources`)."""

    cpu: Quantity = "100m"
    memory: Quantity = "128Mi"
    cpu_limit: Quantity = "2"
    memory_limit: Quantity = "1Gi"


class SidecarInjector(SpecModel):
    """The cluster's injection settings (the injector's values and mesh config), used to write
    manually injected workloads; every default is Istio 1.30.3's."""

    hub: ImageHub = "docker.io/istio"
    """Registry of the proxy image (`<hub>/proxyv2:<tag>`)."""
    tag: ImageTag = "1.30.3"
    """Proxy image tag: manual injection pins every injected workload to it."""
    revisions: list[RevisionName] | None = None
    """Control-plane revisions and revision tags installed in the cluster (their webhooks exist);
    when given, every revision a namespace or workload asks for must be one of them (MC164)."""
    cni: bool = False
    """Istio CNI sets up traffic redirection (`istio-validation` instead of the privileged `istio-init`)."""
    hold_application_until_proxy_starts: bool = False
    resources: ProxyResources = Field(default_factory=ProxyResources)
    interception_mode: Literal["REDIRECT", "TPROXY"] = "REDIRECT"
    status_port: Port = 15020
    include_ip_ranges: list[IpRange] = Field(default_factory=lambda: ["*"], alias="includeIPRanges")
    """Outbound IP ranges sent through the proxy (`*`: all)."""
    exclude_ip_ranges: list[IpRange] = Field(default_factory=list, alias="excludeIPRanges")
    include_inbound_ports: list[Port] | None = None
    """Inbound ports sent through the proxy; all when omitted."""
    exclude_inbound_ports: list[Port] = Field(default_factory=list)
    include_outbound_ports: list[Port] = Field(default_factory=list)
    exclude_outbound_ports: list[Port] = Field(default_factory=list)
    log_level: Literal["trace", "debug", "info", "warning", "error", "critical", "off"] = "warning"
    """Envoy's log level."""
    component_log_level: str = "misc:error"
    """Envoy's per-component log levels, e.g. `misc:error,upstream:debug`."""
    agent_log_level: str = "default:info"
    """The Istio agent's log levels (`--log_output_level`)."""


class Proxy(SpecModel):
    cpu: Quantity | None = None
    """CPU request of the sidecar (`sidecar.istio.io/proxyCPU`), e.g. `100m`."""
    memory: Quantity | None = None
    """Memory request of the sidecar (`sidecar.istio.io/proxyMemory`), e.g. `128Mi`."""
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None
    hold_application_until_proxy_starts: bool | None = None
    """Start the app container only once the proxy is ready (avoids early connection failures)."""
    exclude_inbound_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    exclude_outbound_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    exclude_outbound_ip_ranges: list[str] = Field(default_factory=list)
