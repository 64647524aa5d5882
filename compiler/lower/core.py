"""Core Kubernetes objects: Namespaces (with injection labels), ServiceAccounts, Services, Deployments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mesh_spec.models import Injection, Proxy

from ..index import MeshIndex, Scope, ServiceInfo
from . import names
from .common import Manifest, manifest
from .multicluster import control_plane_labels


def injection_labels(injection: Injection) -> dict[str, str]:
    """Namespace labels for injection. `istio-injection` wins over `istio.io/rev`, so set only one."""
    if not injection.enabled:
        return {"istio-injection": "disabled"}
    if injection.revision:
        return {"istio.io/rev": injection.revision}
    return {"istio-injection": "enabled"}


def namespaces(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    cp = index.mesh.spec.control_plane.namespace
    for name in index.scope_namespaces(scope):
        settings = index.namespace_settings.get(name)
        labels = {
            **(settings.labels if settings else {}),
            **injection_labels(index.namespace_injection(name)),
            **(control_plane_labels(index, scope) if name == cp else {}),
        }
        yield manifest(index, "v1", "Namespace", name, None, None, labels=labels)


def service_accounts(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    seen: set[tuple[str, str]] = set()
    for info in index.placed(scope):
        key = (info.namespace, info.account)
        if key in seen:
            continue
        seen.add(key)
        yield manifest(index, "v1", "ServiceAccount", info.account, info.namespace, None, owner=info.owner)


def services(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.visible(scope):
        ports = []
        for port in info.ports:
            entry: dict[str, Any] = {"name": port.name, "port": port.number, "protocol": "TCP"}
            if port.protocol:
                entry["appProtocol"] = port.protocol
            entry["targetPort"] = port.target
            ports.append(entry)
        spec: dict[str, Any] = {"selector": {"app": info.name}}
        if ports:
            spec["ports"] = ports
        yield manifest(
            index,
            "v1",
            "Service",
            info.name,
            info.namespace,
            spec,
            labels={"app": info.name},
            owner=info.owner,
        )


def proxy_annotations(proxy: Proxy | None) -> dict[str, str]:
    """Istio's per-pod proxy settings, as the annotations the injector reads."""
    if proxy is None:
        return {}
    out: dict[str, str] = {}
    if proxy.cpu:
        out["sidecar.istio.io/proxyCPU"] = proxy.cpu
    if proxy.memory:
        out["sidecar.istio.io/proxyMemory"] = proxy.memory
    if proxy.cpu_limit:
        out["sidecar.istio.io/proxyCPULimit"] = proxy.cpu_limit
    if proxy.memory_limit:
        out["sidecar.istio.io/proxyMemoryLimit"] = proxy.memory_limit
    if proxy.hold_application_until_proxy_starts is not None:
        value = proxy.hold_application_until_proxy_starts
        out["proxy.istio.io/config"] = json.dumps({"holdApplicationUntilProxyStarts": value})
    if proxy.exclude_inbound_ports:
        out["traffic.sidecar.istio.io/excludeInboundPorts"] = _csv(proxy.exclude_inbound_ports)
    if proxy.exclude_outbound_ports:
        out["traffic.sidecar.istio.io/excludeOutboundPorts"] = _csv(proxy.exclude_outbound_ports)
    if proxy.exclude_outbound_ip_ranges:
        out["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = ",".join(proxy.exclude_outbound_ip_ranges)
    return out


def _csv(ports: list[int]) -> str:
    return ",".join(str(p) for p in sorted(set(ports)))


def workload_injection_labels(info: ServiceInfo) -> dict[str, str]:
    """Pod labels for a per-workload injection override (the label form; the annotation is deprecated)."""
    injection = info.model.injection
    if injection is None:
        return {}
    labels = {"sidecar.istio.io/inject": "true" if injection.enabled else "false"}
    if injection.enabled and injection.revision:
        labels["istio.io/rev"] = injection.revision
    return labels


def deployments(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.placed(scope):
        annotations = proxy_annotations(info.proxy)
        for version in info.versions:
            if not version.image:
                continue
            selector = {"app": info.name, **info.version_labels(version)}
            pod_labels = {**selector, **workload_injection_labels(info)}
            template_meta: dict[str, Any] = {"labels": pod_labels}
            if annotations:
                template_meta["annotations"] = annotations
            container: dict[str, Any] = {"name": info.name, "image": version.image}
            if version.args:
                container["args"] = list(version.args)
            if version.env:
                container["env"] = [{"name": k, "value": v} for k, v in sorted(version.env.items())]
            container_ports = sorted({p.target for p in info.ports})
            if container_ports:
                container["ports"] = [{"containerPort": p} for p in container_ports]
            spec = {
                "replicas": version.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": template_meta,
                    "spec": {"serviceAccountName": info.account, "containers": [container]},
                },
            }
            yield manifest(
                index,
                "apps/v1",
                "Deployment",
                names.deployment(info.name, version.name),
                info.namespace,
                spec,
                labels=selector,
                owner=info.owner,
            )
