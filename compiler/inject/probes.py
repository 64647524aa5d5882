"""Application probes and lifecycle hooks, redirected through the agent.

Under STRICT mTLS the kubelet's plain HTTP or TCP check cannot reach the app through the proxy,
so injection points each HTTP/TCP/gRPC probe (and HTTP/TCP lifecycle hook) at the agent's status
port under `/app-health/<container>/<kind>` and tells the agent the original check in
`ISTIO_KUBE_APP_PROBERS`. Exec probes run inside the container and are left alone.
"""

from __future__ import annotations

from typing import Any

from . import gojson

PROBE_PATHS = {"livenessProbe": "livez", "readinessProbe": "readyz", "startupProbe": "startupz"}
LIFECYCLE_PATHS = {"postStart": "poststartz", "preStop": "prestopz"}
_CHECKS = ("httpGet", "tcpSocket", "grpc")
_PROBE_TIMING = (
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
)


def _resolve_port(port: Any, container: dict[str, Any]) -> Any:
    """A named port as its number (the agent dials numbers); an unknown name stays as written."""
    if isinstance(port, str) and not port.isdigit():
        for entry in container.get("ports") or []:
            if entry.get("name") == port and "containerPort" in entry:
                return entry["containerPort"]
        return port
    if isinstance(port, str):
        return int(port)
    return port


def _prober(check: str, action: dict[str, Any], timeout: Any, container: dict[str, Any]) -> dict[str, Any]:
    original = dict(action)
    original["port"] = _resolve_port(action.get("port"), container)
    if check == "httpGet":
        body: dict[str, Any] = gojson.ordered(original, gojson.HTTP_GET_FIELDS)
    elif check == "tcpSocket":
        body = gojson.ordered(original, ("port", "host"))
    else:  # grpc: Go's GRPCAction has no omitempty on `service`
        body = {"port": original["port"], "service": original.get("service")}
    out: dict[str, Any] = {check: body}
    if timeout:
        out["timeoutSeconds"] = timeout
    return out


def _check_of(handler: dict[str, Any]) -> str | None:
    return next((c for c in _CHECKS if handler.get(c) is not None), None)


def rewrite(
    containers: list[dict[str, Any]], status_port: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The containers with their probes and hooks pointed at the agent, and the probers (by path)."""
    probers: dict[str, Any] = {}
    out = []
    for original in containers:
        container = dict(original)
        name = container.get("name", "")
        for kind, suffix in PROBE_PATHS.items():
            probe = container.get(kind)
            check = _check_of(probe) if isinstance(probe, dict) else None
            if probe is None or check is None:
                continue
            path = f"/app-health/{name}/{suffix}"
            probers[path] = _prober(check, probe[check], probe.get("timeoutSeconds"), original)
            rewritten = {k: v for k, v in probe.items() if k in _PROBE_TIMING}
            rewritten["httpGet"] = {"path": path, "port": status_port}
            container[kind] = rewritten
        lifecycle = container.get("lifecycle")
        if isinstance(lifecycle, dict):
            lifecycle = container["lifecycle"] = dict(lifecycle)
            for hook, suffix in LIFECYCLE_PATHS.items():
                handler = lifecycle.get(hook)
                check = _check_of(handler) if isinstance(handler, dict) else None
                if handler is None or check not in ("httpGet", "tcpSocket"):
                    continue
                path = f"/app-lifecycle/{name}/{suffix}"
                probers[path] = _prober(check, handler[check], None, original)
                lifecycle[hook] = {"httpGet": {"path": path, "port": status_port}}
        out.append(container)
    return out, probers


def probers_env(probers: dict[str, Any]) -> str:
    """`ISTIO_KUBE_APP_PROBERS`: a JSON object keyed by path, keys sorted as Go sorts map keys."""
    return gojson.dumps({path: probers[path] for path in sorted(probers)})
