"""The containers and volumes that injection adds: `istio-init` (or `istio-validation` under CNI),
the native sidecar `istio-proxy`, and the volumes the proxy mounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sharedtext import share
from . import gojson
from .quantity import canonical
from .settings import InjectionSettings

PROXY = "istio-proxy"
INIT = "istio-init"
VALIDATION = "istio-validation"
PROXY_UID = 1337
READINESS_PORT = 15021
PROMETHEUS_PORT = 15090
OUTBOUND_CAPTURE_PORT = 15001
INBOUND_CAPTURE_PORT = 15006

_VOLUME_MOUNTS = (
    ("/var/run/secrets/workload-spiffe-uds", "workload-socket"),
    ("/var/run/secrets/credential-uds", "credential-socket"),
    ("/var/run/secrets/workload-spiffe-credentials", "workload-certs"),
    ("/var/run/secrets/istio", "istiod-ca-cert"),
    ("/var/run/secrets/istio/crl", "istio-ca-crl"),
    ("/var/lib/istio/data", "istio-data"),
    ("/etc/istio/proxy", "istio-envoy"),
    ("/var/run/secrets/tokens", "istio-token"),
    ("/etc/istio/pod", "istio-podinfo"),
)
VOLUME_NAMES = (
    "workload-socket",
    "credential-socket",
    "workload-certs",
    "istio-envoy",
    "istio-data",
    "istio-podinfo",
    "istio-token",
    "istiod-ca-cert",
    "istio-ca-crl",
)

# ProxyConfig fields in the order of their protobuf field numbers, which is the order istiod's
# JSON encoder writes them in `PROXY_CONFIG`.
_PROXY_CONFIG_ORDER = ("interceptionMode", "tracing", "statusPort", "holdApplicationUntilProxyStarts")


@dataclass(frozen=True, slots=True)
class PodSettings:
    """The settings for one pod: the cluster's, with the pod's annotations applied over them."""

    image: str
    interception_mode: str
    status_port: int
    include_ip_ranges: str
    exclude_ip_ranges: str
    include_inbound_ports: str
    exclude_inbound_ports: str
    include_outbound_ports: str
    exclude_outbound_ports: str
    kubevirt_interfaces: str | None
    resources: dict[str, Any]
    log_level: str
    component_log_level: str
    agent_log_level: str
    readiness: dict[str, int]
    proxy_config: dict[str, Any]
    rewrite_probes: bool


def excluded_inbound(status_port: int, excluded: str) -> str:
    """The user's excluded inbound ports with the status port added (once) at the end."""
    ports = [p.strip() for p in excluded.split(",") if p.strip()]
    if str(status_port) in ports or status_port == 0:
        return ",".join(ports)
    return ",".join([*ports, str(status_port)])


def proxy_config_json(values: dict[str, Any]) -> str:
    """`PROXY_CONFIG`: the mesh's non-default proxy settings and the pod's `proxy.istio.io/config`."""
    known = [k for k in _PROXY_CONFIG_ORDER if k in values]
    rest = sorted(k for k in values if k not in _PROXY_CONFIG_ORDER)
    return gojson.dumps({k: values[k] for k in (*known, *rest)}) + "\n"


def init_container(pod: PodSettings, cni: bool) -> dict[str, Any]:
    excluded = excluded_inbound(pod.status_port, pod.exclude_inbound_ports)
    args = [
        "istio-iptables",
        "-p", str(OUTBOUND_CAPTURE_PORT),
        "-z", str(INBOUND_CAPTURE_PORT),
        "-u", str(PROXY_UID),
        "-m", pod.interception_mode,
        "-i", pod.include_ip_ranges,
        "-x", pod.exclude_ip_ranges,
        "-b", pod.include_inbound_ports,
        "-d", f"{PROMETHEUS_PORT},{READINESS_PORT},{excluded}",
    ]  # fmt: skip
    if pod.include_outbound_ports:
        args += ["-q", pod.include_outbound_ports]
    if pod.exclude_outbound_ports:
        args += ["-o", pod.exclude_outbound_ports]
    if pod.kubevirt_interfaces:
        args += ["-k", pod.kubevirt_interfaces]
    args.append(f"--log_output_level={pod.agent_log_level}")
    if cni:
        # Under CNI the plugin has already redirected traffic; this only proves it did.
        args += ["--run-validation", "--skip-rule-apply"]
        security: dict[str, Any] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": PROXY_UID,
            "runAsNonRoot": True,
            "runAsUser": PROXY_UID,
        }
    else:
        security = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": False,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "runAsUser": 0,
        }
    return {
        "args": args,
        "image": pod.image,
        "name": VALIDATION if cni else INIT,
        "resources": pod.resources,
        "securityContext": security,
    }


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _resource_env(name: str, resource: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"divisor": "1", "resource": resource}}}


def pod_ports_json(containers: list[dict[str, Any]]) -> str:
    """`ISTIO_META_POD_PORTS`: the app containers' ports, one per line as istiod writes them."""
    try:
        key = tuple(tuple(port.items()) for c in containers for port in c.get("ports") or ())
        found = _PORTS_JSON.get(key)
    except TypeError:  # an unhashable value (a malformed port): no cache
        key, found = None, None
    if found is not None:
        return found
    entries = []
    for container in containers:
        for port in container.get("ports") or ():
            if all(k in PORT_FIELD_SET for k in port):
                entries.append(gojson.dumps({k: port[k] for k in gojson.PORT_FIELDS if k in port}))
            else:
                entries.append(gojson.dumps(gojson.ordered(port, gojson.PORT_FIELDS)))
    lines = ["[", *(("    " if i == 0 else "    ,") + e for i, e in enumerate(entries)), "]"]
    text = "\n".join(lines)
    if key is not None:
        if len(_PORTS_JSON) >= 4096:
            _PORTS_JSON.clear()
        _PORTS_JSON[key] = text
    return text


def _app_env(ports: str, names: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The env entries naming the app's ports and containers, one pair of objects per distinct value
    (the versions of a service share them, and their rendered text)."""
    found = _APP_ENV.get((ports, names))
    if found is None:
        if len(_APP_ENV) >= 4096:
            _APP_ENV.clear()
        found = _APP_ENV[(ports, names)] = (
            share({"name": "ISTIO_META_POD_PORTS", "value": ports}),
            share({"name": "ISTIO_META_APP_CONTAINERS", "value": names}),
        )
    return found


_APP_ENV: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
_PORTS_JSON: dict[tuple[tuple[tuple[str, Any], ...], ...], str] = {}
PORT_FIELD_SET = frozenset(gojson.PORT_FIELDS)


def env_head(settings: InjectionSettings, pod: PodSettings) -> list[dict[str, Any]]:
    """The proxy's environment up to `PROXY_CONFIG` (the same for every workload)."""
    return [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": settings.ca_address},
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("INSTANCE_IP", "status.podIP"),
        _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        _field_env("HOST_IP", "status.hostIP"),
        _resource_env("ISTIO_CPU_LIMIT", "limits.cpu"),
        {"name": "PROXY_CONFIG", "value": proxy_config_json(pod.proxy_config)},
    ]


def env_middle(settings: InjectionSettings, pod: PodSettings) -> list[dict[str, Any]]:
    """The environment between the app containers and the workload name."""
    return [
        _resource_env("GOMEMLIMIT", "limits.memory"),
        _resource_env("GOMAXPROCS", "limits.cpu"),
        {"name": "ISTIO_META_CLUSTER_ID", "value": settings.cluster_id},
        _field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": pod.interception_mode},
    ]


def env_tail(settings: InjectionSettings) -> list[dict[str, Any]]:
    return [
        {"name": "ISTIO_META_MESH_ID", "value": settings.mesh_id},
        {"name": "TRUST_DOMAIN", "value": settings.trust_domain},
    ]


def workload_env(
    fixed: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    app_containers: list[dict[str, Any]],
    workload_name: str,
    owner: str,
) -> list[dict[str, Any]]:
    """The proxy's environment for one workload: the fixed parts around what names the workload."""
    head, middle, tail = fixed
    return [
        *head,
        *_app_env(pod_ports_json(app_containers), ",".join(c.get("name", "") for c in app_containers)),
        *middle,
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload_name},
        {"name": "ISTIO_META_OWNER", "value": owner},
        *tail,
    ]


def proxy_container(settings: InjectionSettings, pod: PodSettings) -> dict[str, Any]:
    """The istio-proxy container without its environment (see `workload_env`)."""
    readiness: dict[str, Any] = {
        "failureThreshold": 4,
        "httpGet": {"path": "/healthz/ready", "port": READINESS_PORT},
        "periodSeconds": 15,
        "timeoutSeconds": 3,
    }
    readiness.update(pod.readiness)
    if pod.interception_mode == "TPROXY":
        # TPROXY keeps the original destination by binding as root with NET_ADMIN.
        security: dict[str, Any] = {
            "allowPrivilegeEscalation": True,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": PROXY_UID,
            "runAsNonRoot": False,
            "runAsUser": 0,
        }
    else:
        security = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": PROXY_UID,
            "runAsNonRoot": True,
            "runAsUser": PROXY_UID,
        }
    return {
        "args": [
            "proxy",
            "sidecar",
            "--domain",
            f"$(POD_NAMESPACE).svc.{settings.dns_domain}",
            f"--proxyLogLevel={pod.log_level}",
            f"--proxyComponentLogLevel={pod.component_log_level}",
            f"--log_output_level={pod.agent_log_level}",
        ],
        "image": pod.image,
        "lifecycle": {
            "preStop": {
                "exec": {
                    "command": ["pilot-agent", "request", f"--debug-port={pod.status_port}", "POST", "drain"]
                }
            }
        },
        "name": PROXY,
        "ports": [{"containerPort": PROMETHEUS_PORT, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": readiness,
        "resources": pod.resources,
        "restartPolicy": "Always",
        "securityContext": security,
        "startupProbe": {
            "failureThreshold": 600,
            "httpGet": {"path": "/healthz/ready", "port": READINESS_PORT},
            "periodSeconds": 1,
            "timeoutSeconds": 3,
        },
        "volumeMounts": [{"mountPath": path, "name": name} for path, name in _VOLUME_MOUNTS],
    }


def volumes() -> list[dict[str, Any]]:
    return [
        {"name": "workload-socket"},
        {"name": "credential-socket"},
        {"name": "workload-certs"},
        {"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"},
        {"emptyDir": {}, "name": "istio-data"},
        {
            "downwardAPI": {
                "items": [
                    {"fieldRef": {"fieldPath": "metadata.labels"}, "path": "labels"},
                    {"fieldRef": {"fieldPath": "metadata.annotations"}, "path": "annotations"},
                ]
            },
            "name": "istio-podinfo",
        },
        {
            "name": "istio-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "istio-ca",
                            "expirationSeconds": 43200,
                            "path": "istio-token",
                        }
                    }
                ]
            },
        },
        {"configMap": {"name": "istio-ca-root-cert"}, "name": "istiod-ca-cert"},
        {"configMap": {"name": "istio-ca-crl", "optional": True}, "name": "istio-ca-crl"},
    ]


def resources(requests_cpu: str, requests_memory: str, limits_cpu: str, limits_memory: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = {k: canonical(v) for k, v in (("cpu", limits_cpu), ("memory", limits_memory)) if v}
    requests = {k: canonical(v) for k, v in (("cpu", requests_cpu), ("memory", requests_memory)) if v}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out
