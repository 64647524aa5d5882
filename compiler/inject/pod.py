"""Injection of one pod template: what `istioctl kube-inject` does to a pod's metadata and spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..sharedtext import share
from . import overrides, probes, sidecar
from .gojson import dumps
from .quantity import QuantityError
from .settings import INTERCEPTION_MODES, InjectionSettings

STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECT = "sidecar.istio.io/inject"
REVISION = "istio.io/rev"
TLS_MODE = "security.istio.io/tlsMode"
CANONICAL_NAME = "service.istio.io/canonical-name"
CANONICAL_REVISION = "service.istio.io/canonical-revision"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
DEFAULT_LOGS_CONTAINER = "kubectl.kubernetes.io/default-logs-container"
PROXY_CONFIG = "proxy.istio.io/config"
SKIPPED_NAMESPACES = ("kube-system", "kube-public")

# The two spellings kube-inject honours for "do not scrape this pod".
_SCRAPE_OFF_KEYS = ("prometheus.io/scrape", "prometheus.io.scrape")


class InjectError(ValueError):
    """A workload injection cannot honour as written (a bad annotation value)."""


@dataclass(frozen=True, slots=True)
class Workload:
    """The object that owns the pod template: it names the proxy's workload and owner."""

    api_version: str
    kind: str
    name: str
    namespace: str

    @property
    def owner(self) -> str:
        return f"kubernetes://apis/{self.api_version}/namespaces/{self.namespace}/{self.kind.lower()}s/{self.name}"


def skip_reason(meta: dict[str, Any], spec: dict[str, Any], namespace: str) -> str | None:
    """Why kube-inject leaves this pod as it is, or None when it injects it."""
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    opt = labels.get(INJECT, annotations.get(INJECT))
    if isinstance(opt, str) and opt.lower() in ("false", "n", "no", "off"):
        return f"it opts out ({INJECT}: {opt!r})"
    if spec.get("hostNetwork"):
        return "it uses the host network"
    if STATUS_ANNOTATION in annotations:
        return "it already carries a sidecar"
    if namespace in SKIPPED_NAMESPACES:
        return f"namespace {namespace} is never injected"
    return None


def _int(annotations: dict[str, str], key: str, default: int) -> int:
    raw = annotations.get(key)
    if raw is None:
        return default
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        raise InjectError(f"annotation {key}: {raw!r} is not a whole number") from exc


def _text(annotations: dict[str, str], key: str, default: str) -> str:
    raw = annotations.get(key)
    return default if raw is None else str(raw)


def _proxy_config(settings: InjectionSettings, annotations: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if settings.interception_mode != "REDIRECT":
        values["interceptionMode"] = settings.interception_mode
    if not settings.tracing:
        values["tracing"] = {}
    if settings.status_port != 15020:
        values["statusPort"] = settings.status_port
    if settings.hold_application_until_proxy_starts:
        values["holdApplicationUntilProxyStarts"] = True
    raw = annotations.get(PROXY_CONFIG)
    if raw:
        try:
            own = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise InjectError(f"annotation {PROXY_CONFIG} is neither JSON nor YAML: {exc}") from exc
        if not isinstance(own, dict):
            raise InjectError(
                f"annotation {PROXY_CONFIG} must be an object, e.g. {{holdApplicationUntilProxyStarts: true}}"
            )
        values.update(own)
    return values


def pod_settings(settings: InjectionSettings, annotations: dict[str, str]) -> sidecar.PodSettings:
    mode = _text(annotations, "sidecar.istio.io/interceptionMode", settings.interception_mode)
    if mode not in INTERCEPTION_MODES:
        raise InjectError(f"interception mode {mode!r} is not one of {', '.join(INTERCEPTION_MODES)}")
    res = settings.resources
    try:
        resources = sidecar.resources(
            _text(annotations, "sidecar.istio.io/proxyCPU", res.cpu),
            _text(annotations, "sidecar.istio.io/proxyMemory", res.memory),
            _text(annotations, "sidecar.istio.io/proxyCPULimit", res.cpu_limit),
            _text(annotations, "sidecar.istio.io/proxyMemoryLimit", res.memory_limit),
        )
    except QuantityError as exc:
        raise InjectError(str(exc)) from exc
    readiness = {
        field: _int(annotations, f"readiness.status.sidecar.istio.io/{field}", 0)
        for field in ("initialDelaySeconds", "periodSeconds", "failureThreshold")
        if f"readiness.status.sidecar.istio.io/{field}" in annotations
    }
    traffic = "traffic.sidecar.istio.io/"
    return sidecar.PodSettings(
        image=_text(annotations, "sidecar.istio.io/proxyImage", settings.proxy_image),
        interception_mode=mode,
        status_port=_int(annotations, "status.sidecar.istio.io/port", settings.status_port),
        include_ip_ranges=_text(annotations, traffic + "includeOutboundIPRanges", settings.include_ip_ranges),
        exclude_ip_ranges=_text(annotations, traffic + "excludeOutboundIPRanges", settings.exclude_ip_ranges),
        include_inbound_ports=_text(
            annotations, traffic + "includeInboundPorts", settings.include_inbound_ports
        ),
        exclude_inbound_ports=_text(
            annotations, traffic + "excludeInboundPorts", settings.exclude_inbound_ports
        ),
        include_outbound_ports=_text(
            annotations, traffic + "includeOutboundPorts", settings.include_outbound_ports
        ),
        exclude_outbound_ports=_text(
            annotations, traffic + "excludeOutboundPorts", settings.exclude_outbound_ports
        ),
        kubevirt_interfaces=annotations.get(traffic + "kubevirtInterfaces"),
        resources=resources,
        log_level=_text(annotations, "sidecar.istio.io/logLevel", settings.log_level),
        component_log_level=_text(
            annotations, "sidecar.istio.io/componentLogLevel", settings.component_log_level
        ),
        agent_log_level=_text(annotations, "sidecar.istio.io/agentLogLevel", settings.agent_log_level),
        readiness=readiness,
        proxy_config=_proxy_config(settings, annotations),
        rewrite_probes=str(annotations.get("sidecar.istio.io/rewriteAppHTTPProbers", "true")).lower()
        != "false",
    )


def _canonical_labels(labels: dict[str, str], workload_name: str) -> dict[str, str]:
    name = labels.get("app.kubernetes.io/name") or labels.get("app") or workload_name
    revision = labels.get("app.kubernetes.io/version") or labels.get("version") or "latest"
    return {CANONICAL_NAME: name, CANONICAL_REVISION: revision, TLS_MODE: "istio"}


def _status(settings: InjectionSettings) -> str:
    init = sidecar.VALIDATION if settings.cni else sidecar.INIT
    return dumps(
        {
            "initContainers": [init, sidecar.PROXY],
            "containers": None,
            "volumes": list(sidecar.VOLUME_NAMES),
            "imagePullSecrets": None,
            "revision": settings.revision,
        }
    )


def _prometheus(annotations: dict[str, str], status_port: int) -> tuple[dict[str, str], str | None]:
    """Prometheus metrics merging: scrape the agent, which serves Envoy's and the app's metrics."""
    if any(str(annotations.get(k, "")).lower() == "false" for k in _SCRAPE_OFF_KEYS):
        return {}, None
    target = str(status_port)
    if annotations.get("prometheus.io/port") == target:
        return {}, None  # already pointed at the agent (injected before)
    own = {
        field: str(annotations[f"prometheus.io/{field}"])
        for field in ("scrape", "path", "port")
        if f"prometheus.io/{field}" in annotations
    }
    merged = {
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": target,
        "prometheus.io/scrape": "true",
    }
    return merged, dumps(own) if own else None


def _cni_annotations(pod: sidecar.PodSettings) -> dict[str, str]:
    """What the CNI plugin reads to set up the redirection that istio-init would have."""
    traffic = "traffic.sidecar.istio.io/"
    out = {
        "sidecar.istio.io/interceptionMode": pod.interception_mode,
        traffic + "includeInboundPorts": pod.include_inbound_ports,
        traffic + "excludeInboundPorts": sidecar.excluded_inbound(pod.status_port, pod.exclude_inbound_ports),
    }
    if pod.include_ip_ranges:
        out[traffic + "includeOutboundIPRanges"] = pod.include_ip_ranges
    if pod.exclude_ip_ranges:
        out[traffic + "excludeOutboundIPRanges"] = pod.exclude_ip_ranges
    if pod.include_outbound_ports:
        out[traffic + "includeOutboundPorts"] = pod.include_outbound_ports
    if pod.exclude_outbound_ports:
        out[traffic + "excludeOutboundPorts"] = pod.exclude_outbound_ports
    return out


@dataclass(frozen=True, slots=True)
class _Fixed:
    """What injection writes the same way into every pod with the same settings and annotations.
    Built once and shared by the pods that use it: nothing may modify it afterwards."""

    pod: sidecar.PodSettings
    init: dict[str, Any]
    proxy: dict[str, Any]
    env: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]
    prometheus: dict[str, str]
    scrape: str | None
    status: str
    cni: dict[str, str]
    volumes: list[dict[str, Any]]
    volume_names: frozenset[str]


_FIXED: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[InjectionSettings, _Fixed]] = {}


def _fixed(settings: InjectionSettings, annotation_items: tuple[tuple[str, str], ...]) -> _Fixed:
    """The shared pieces for these settings and annotations, built once. Keyed by the settings'
    identity (hashing the settings on every pod would cost more than the lookup saves); the value
    keeps the settings alive, so the id cannot be reused while the entry exists."""
    key = (id(settings), annotation_items)
    found = _FIXED.get(key)
    if found is not None:
        return found[1]
    if len(_FIXED) >= 512:
        _FIXED.clear()
    fixed = _build_fixed(settings, annotation_items)
    _FIXED[key] = (settings, fixed)
    return fixed


def _build_fixed(settings: InjectionSettings, annotation_items: tuple[tuple[str, str], ...]) -> _Fixed:
    annotations = dict(annotation_items)
    pod = pod_settings(settings, annotations)
    prometheus, scrape = _prometheus(annotations, settings.status_port)
    volumes = share(sidecar.volumes())
    proxy = sidecar.proxy_container(settings, pod)
    for value in proxy.values():
        if isinstance(value, (dict, list)):
            share(value)
    env = (sidecar.env_head(settings, pod), sidecar.env_middle(settings, pod), sidecar.env_tail(settings))
    for part in env:
        for entry in part:
            share(entry)
    return _Fixed(
        pod=pod,
        init=share(sidecar.init_container(pod, settings.cni)),
        proxy=proxy,
        env=env,
        prometheus=prometheus,
        scrape=scrape,
        status=_status(settings),
        cni=_cni_annotations(pod) if settings.cni else {},
        volumes=volumes,
        volume_names=frozenset(v["name"] for v in volumes),
    )


def inject_template(
    meta: dict[str, Any], spec: dict[str, Any], workload: Workload, settings: InjectionSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod template's metadata and spec with the sidecar in them. The inputs are not modified;
    the result shares the parts that are the same for every pod with these settings (treat it as
    read-only), which keeps injecting thousands of workloads cheap."""
    annotations: dict[str, str] = {k: str(v) for k, v in (meta.get("annotations") or {}).items()}
    labels: dict[str, str] = dict(meta.get("labels") or {})
    fixed = _fixed(settings, tuple(sorted(annotations.items())))
    pod = fixed.pod

    containers = list(spec.get("containers") or [])
    inits = list(spec.get("initContainers") or [])
    user_proxy = [c for c in (*containers, *inits) if c.get("name") == sidecar.PROXY]
    init_name = sidecar.VALIDATION if settings.cni else sidecar.INIT
    user_init = [c for c in inits if c.get("name") == init_name]
    apps = [c for c in containers if c.get("name") != sidecar.PROXY]
    other_inits = [c for c in inits if c.get("name") not in (sidecar.PROXY, init_name)]

    if pod.rewrite_probes:
        apps, probers = probes.rewrite(apps, pod.status_port)
    else:
        apps, probers = [dict(c) for c in apps], {}

    init = fixed.init
    proxy = {**fixed.proxy, "env": sidecar.workload_env(fixed.env, apps, workload.name, workload.owner)}
    if probers:
        proxy["env"].append({"name": "ISTIO_KUBE_APP_PROBERS", "value": probes.probers_env(probers)})
    if fixed.scrape:
        proxy["env"].append({"name": "ISTIO_PROMETHEUS_ANNOTATIONS", "value": fixed.scrape})

    new_annotations = dict(annotations)
    if user_proxy or user_init:
        normalised_init = [overrides.normalise(c) for c in user_init]
        normalised_proxy = [overrides.normalise(c) for c in user_proxy]
        for user in normalised_init:
            init = overrides.merge(init, {k: v for k, v in user.items() if k != "resources" or v})
        for user in normalised_proxy:
            proxy = overrides.merge(proxy, user)
        new_annotations[overrides.OVERRIDES_ANNOTATION] = overrides.annotation(
            [], normalised_init + normalised_proxy
        )

    first_app = apps[0].get("name", "") if apps else sidecar.PROXY
    new_annotations.setdefault(DEFAULT_CONTAINER, first_app)
    new_annotations.setdefault(DEFAULT_LOGS_CONTAINER, first_app)
    new_annotations[REVISION] = settings.revision
    new_annotations[STATUS_ANNOTATION] = fixed.status
    new_annotations.update(fixed.prometheus)
    for key, value in fixed.cni.items():
        new_annotations.setdefault(key, value)
    for key, value in _canonical_labels(labels, workload.name).items():
        labels.setdefault(key, value)

    new_meta = {
        **meta,
        "annotations": dict(sorted(new_annotations.items())),
        "labels": dict(sorted(labels.items())),
    }
    own_volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in fixed.volume_names]
    new_spec = {
        **spec,
        "containers": apps,
        "initContainers": [init, proxy, *other_inits],
        "volumes": [*fixed.volumes, *own_volumes] if own_volumes else fixed.volumes,
    }
    return new_meta, new_spec
