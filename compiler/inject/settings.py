"""The cluster's injection settings: what `istioctl kube-inject` reads from the mesh config and the
injector values. Every default is Istio 1.30.3's (`profile=default`), so a spec that says nothing
gets what the cluster's webhook would write."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

INTERCEPTION_MODES = ("REDIRECT", "TPROXY")

DEFAULT_HUB = "docker.io/istio"
DEFAULT_TAG = "1.30.3"


@dataclass(frozen=True, slots=True)
class ProxyResources:
    cpu: str = "100m"
    memory: str = "128Mi"
    cpu_limit: str = "2"
    memory_limit: str = "1Gi"


@dataclass(frozen=True, slots=True)
class InjectionSettings:
    hub: str = DEFAULT_HUB
    tag: str = DEFAULT_TAG
    image: str = "proxyv2"
    """The proxy image name under the hub (`<hub>/<image>:<tag>`)."""
    revision: str = "default"
    cni: bool = False
    """Istio CNI sets up the redirection: `istio-validation` replaces the privileged `istio-init`."""
    hold_application_until_proxy_starts: bool = False
    resources: ProxyResources = field(default_factory=ProxyResources)
    interception_mode: str = "REDIRECT"
    status_port: int = 15020
    include_ip_ranges: str = "*"
    exclude_ip_ranges: str = ""
    include_inbound_ports: str = "*"
    exclude_inbound_ports: str = ""
    include_outbound_ports: str = ""
    exclude_outbound_ports: str = ""
    log_level: str = "warning"
    """Envoy's log level (`--proxyLogLevel`)."""
    component_log_level: str = "misc:error"
    """Envoy's per-component log levels (`--proxyComponentLogLevel`)."""
    agent_log_level: str = "default:info"
    """The pilot-agent's and istio-iptables' log level (`--log_output_level`)."""
    tracing: bool = True
    """False when the mesh config turns tracing off (`defaultConfig.tracing: {}`)."""
    cluster_id: str = "Kubernetes"
    mesh_id: str = "cluster.local"
    trust_domain: str = "cluster.local"
    dns_domain: str = "cluster.local"

    @property
    def proxy_image(self) -> str:
        return f"{self.hub}/{self.image}:{self.tag}"

    @property
    def ca_address(self) -> str:
        istiod = "istiod" if self.revision == "default" else f"istiod-{self.revision}"
        return f"{istiod}.istio-system.svc:15012"

    def with_(self, **changes: Any) -> InjectionSettings:
        return replace(self, **changes)


DEFAULTS = InjectionSettings()
