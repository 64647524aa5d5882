"""The injection settings a spec states: `spec.sidecarInjector` and the control plane's names."""

from __future__ import annotations

from meshc.spec.models import Mesh, SidecarInjector

from .settings import InjectionSettings, ProxyResources


def _ports(ports: list[int]) -> str:
    return ",".join(str(p) for p in sorted(set(ports)))


def settings_from_spec(
    mesh: Mesh, *, revision: str | None = None, cluster: str | None = None
) -> InjectionSettings:
    """What the cluster's injector would use for a pod of `revision` on `cluster`."""
    injector: SidecarInjector = mesh.spec.sidecar_injector
    plane = mesh.spec.control_plane
    res = injector.resources
    return InjectionSettings(
        hub=injector.hub,
        tag=injector.tag,
        revision=revision or "default",
        cni=injector.cni,
        hold_application_until_proxy_starts=injector.hold_application_until_proxy_starts,
        resources=ProxyResources(res.cpu, res.memory, res.cpu_limit, res.memory_limit),
        interception_mode=injector.interception_mode,
        status_port=injector.status_port,
        include_ip_ranges=",".join(injector.include_ip_ranges),
        exclude_ip_ranges=",".join(injector.exclude_ip_ranges),
        include_inbound_ports="*"
        if injector.include_inbound_ports is None
        else _ports(injector.include_inbound_ports),
        exclude_inbound_ports=_ports(injector.exclude_inbound_ports),
        include_outbound_ports=_ports(injector.include_outbound_ports),
        exclude_outbound_ports=_ports(injector.exclude_outbound_ports),
        log_level=injector.log_level,
        component_log_level=injector.component_log_level,
        agent_log_level=injector.agent_log_level,
        cluster_id=cluster or "Kubernetes",
        mesh_id=plane.trust_domain,
        trust_domain=plane.trust_domain,
        dns_domain=plane.cluster_domain,
    )
