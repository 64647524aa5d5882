"""Core Kubernetes objects: Namespaces (with injection labels), ServiceAccounts, Services, Deployments."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from meshc.spec.models import Injection, Proxy

from ..index import MeshIndex, Scope, ServiceInfo
from ..inject import InjectionSettings, Workload, inject_template
from ..inject.quantity import canonical as _canonical
from ..inject.spec import settings_from_spec
from ..workloads import PROBE_TIMING, WorkloadPlan
from . import names
from .common import Manifest, manifest
from .multicluster import control_plane_labels

INJECT_LABEL = "sidecar.istio.io/inject"


class ManualInjector:
    """Writes the sidecar into the Deployments of workloads in manual mode, as kube-inject would
    with the spec's `sidecarInjector` settings (one settings object per revision)."""

    def __init__(self, index: MeshIndex, cluster: str | None) -> None:
        self.index = index
        self.cluster = cluster
        self._settings: dict[str | None, InjectionSettings] = {}

    def settings(self, revision: str | None) -> InjectionSettings:
        found = self._settings.get(revision)
        if found is None:
            found = settings_from_spec(self.index.mesh, revision=revision, cluster=self.cluster)
            self._settings[revision] = found
        return found

    def inject(
        self,
        settings: InjectionSettings,
        info: ServiceInfo,
        name: str,
        meta: dict[str, Any],
        spec: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        workload = Workload("apps/v1", "Deployment", name, info.namespace)
        return inject_template(meta, spec, workload, settings)


def injection_labels(injection: Injection) -> dict[str, str]:
    """Namespace labels for injection. `istio-injection` wins over `istio.io/rev`, so set only one."""
    if not injection.enabled:
        return {"istio-injection": "disabled"}
    if injection.revision:
        return {"istio.io/rev": injection.revision}
    return {"istio-injection": "enabled"}


def namespace_injection_labels(index: MeshIndex, name: str) -> dict[str, str]:
    injection = index.namespace_injection(name)
    if index.namespace_mode(name) == "manual" and injection.enabled:
        # meshc writes the sidecars itself: keep the webhook out. A namespace that also holds
        # workloads in auto mode carries no label; those pods select the webhook themselves.
        return {} if name in index.webhook_namespaces else {"istio-injection": "disabled"}
    return injection_labels(injection)


def namespaces(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    cp = index.mesh.spec.control_plane.namespace
    for name in index.scope_namespaces(scope):
        settings = index.namespace_settings.get(name)
        labels = {
            **(settings.labels if settings else {}),
            **namespace_injection_labels(index, name),
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


def workload_injection_labels(index: MeshIndex, info: ServiceInfo) -> dict[str, str]:
    """Pod labels for a per-workload injection override (the label form; the annotation is deprecated)."""
    if index.manually_injected(info):
        # The pod carries its sidecar already; no webhook may add a second one.
        return {INJECT_LABEL: "false"}
    if index.namespace_mode(info.namespace) == "manual" and index.namespace_injection(info.namespace).enabled:
        # An auto workload in a namespace without an injection label selects the webhook itself.
        if not index.injection_enabled(info):
            return {INJECT_LABEL: "false"}
        revision = index.injection_revision(info)
        if revision and revision != "default":
            return {"istio.io/rev": revision}
        return {INJECT_LABEL: "true"}
    injection = info.model.injection
    if injection is None:
        return {}
    labels = {INJECT_LABEL: "true" if injection.enabled else "false"}
    if injection.enabled and injection.revision:
        labels["istio.io/rev"] = injection.revision
    return labels


def deployments(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    injector = ManualInjector(index, scope.cluster)
    for info in index.placed(scope):
        annotations = proxy_annotations(info.proxy)
        manual = index.manually_injected(info)
        injection = workload_injection_labels(index, info)
        settings = injector.settings(index.injection_revision(info)) if manual else None
        plan = index.workload(info)
        # The same for every version of the service; the emitters only read them.
        checks, resources = probes(info, plan), container_resources(plan)
        security, pod_security_context = container_security(plan), pod_security(plan)
        for version in info.versions:
            if not version.image:
                continue
            selector = {"app": info.name, **info.version_labels(version)}
            pod_labels = {**selector, **({} if manual else injection)}
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
            container.update(checks)
            container["resources"] = resources
            container["securityContext"] = security
            pod_spec: dict[str, Any] = {
                "serviceAccountName": info.account,
                "securityContext": pod_security_context,
                "containers": [container],
            }
            name = names.deployment(info.name, version.name)
            if settings is not None:
                template_meta, pod_spec = injector.inject(settings, info, name, template_meta, pod_spec)
                template_meta["labels"] = {**template_meta["labels"], **injection}
            spec: dict[str, Any] = {} if plan.autoscaled(version) else {"replicas": version.replicas}
            spec |= {
                # With an autoscaler the Deployment says no replicas: every apply would reset them.
                "selector": {"matchLabels": selector},
                "template": {"metadata": template_meta, "spec": pod_spec},
            }
            yield manifest(
                index,
                "apps/v1",
                "Deployment",
                name,
                info.namespace,
                spec,
                labels=selector,
                owner=info.owner,
            )


canonical = functools.cache(_canonical)
"""Quantities repeat across thousands of Deployments (the defaults): parse each spelling once."""


def container_resources(plan: WorkloadPlan) -> dict[str, Any]:
    """Requests and limits, in the API server's canonical spelling (no diff after it stores them)."""
    res = plan.resources
    limits = {"memory": canonical(res.memory_limit)}
    if res.cpu_limit is not None:
        limits["cpu"] = canonical(res.cpu_limit)
    return {
        "limits": dict(sorted(limits.items())),
        "requests": {"cpu": canonical(res.cpu), "memory": canonical(res.memory)},
    }


def pod_security(plan: WorkloadPlan) -> dict[str, Any]:
    """The pod's security context: seccomp RuntimeDefault and non-root, for every container of the
    pod (an injected sidecar too), as the `restricted` Pod Security Standard asks."""
    sec = plan.security
    out: dict[str, Any] = {"runAsNonRoot": sec.run_as_non_root}
    if sec.run_as_user is not None:
        out["runAsUser"] = sec.run_as_user
    if sec.run_as_group is not None:
        out["runAsGroup"] = sec.run_as_group
    if sec.fs_group is not None:
        out["fsGroup"] = sec.fs_group
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return dict(sorted(out.items()))


def container_security(plan: WorkloadPlan) -> dict[str, Any]:
    """The application container's own: `restricted` requires these per container."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": plan.security.read_only_root_filesystem,
    }


def probes(info: ServiceInfo, plan: WorkloadPlan) -> dict[str, Any]:
    """`livenessProbe`, `readinessProbe`, `startupProbe` of the application container, each on the
    container port behind the service port it names (MC212 reports a port the service lacks)."""
    out: dict[str, Any] = {}
    for kind in ("liveness", "readiness", "startup"):
        probe = getattr(plan.probes, kind)
        port = info.port(probe.port) if probe is not None else None
        if probe is None or port is None:
            continue
        body: dict[str, Any]
        if probe.path is not None:
            body = {"httpGet": {"path": probe.path, "port": port.target}}
        elif port.protocol == "grpc":
            body = {"grpc": {"port": port.target}}
        else:
            body = {"tcpSocket": {"port": port.target}}
        timing = dict(PROBE_TIMING[kind])
        if probe.initial_delay_seconds is not None:
            timing["initialDelaySeconds"] = probe.initial_delay_seconds
        for key, value in (
            ("periodSeconds", probe.period_seconds),
            ("timeoutSeconds", probe.timeout_seconds),
            ("failureThreshold", probe.failure_threshold),
        ):
            if value is not None:
                timing[key] = value
        out[f"{kind}Probe"] = dict(sorted({**body, **timing}.items()))
    return out
