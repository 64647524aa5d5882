"""JSON exactly as Go's `encoding/json` writes it, for the values injection stores in annotations
and environment variables (compact, HTML characters escaped, struct fields in declaration order)."""

from __future__ import annotations

import json
from typing import Any

# Go declares these structs' fields in this order; its encoder writes them in that order.
CONTAINER_FIELDS = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
)  # fmt: skip
PORT_FIELDS = ("name", "hostPort", "containerPort", "protocol", "hostIP")
PROBE_FIELDS = (
    "exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
    "successThreshold", "failureThreshold", "terminationGracePeriodSeconds",
)  # fmt: skip
HTTP_GET_FIELDS = ("path", "port", "host", "scheme", "httpHeaders")
LIFECYCLE_HANDLER_FIELDS = ("exec", "httpGet", "tcpSocket", "sleep")
SECURITY_CONTEXT_FIELDS = (
    "capabilities", "privileged", "seLinuxOptions", "windowsOptions", "runAsUser", "runAsGroup",
    "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount",
    "seccompProfile", "appArmorProfile",
)  # fmt: skip
VOLUME_MOUNT_FIELDS = (
    "name",
    "readOnly",
    "recursiveReadOnly",
    "mountPath",
    "subPath",
    "mountPropagation",
    "subPathExpr",
)
RESOURCES_FIELDS = ("limits", "requests", "claims")
LIFECYCLE_FIELDS = ("postStart", "preStop", "stopSignal")

_NESTED: dict[str, tuple[str, ...]] = {
    "ports": PORT_FIELDS,
    "livenessProbe": PROBE_FIELDS,
    "readinessProbe": PROBE_FIELDS,
    "startupProbe": PROBE_FIELDS,
    "httpGet": HTTP_GET_FIELDS,
    "securityContext": SECURITY_CONTEXT_FIELDS,
    "volumeMounts": VOLUME_MOUNT_FIELDS,
    "resources": RESOURCES_FIELDS,
    "lifecycle": LIFECYCLE_FIELDS,
    "postStart": LIFECYCLE_HANDLER_FIELDS,
    "preStop": LIFECYCLE_HANDLER_FIELDS,
}


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON with `<`, `>` and `&` escaped as Go does."""
    text = _ENCODER.encode(value)
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def ordered(value: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`value` with its keys in Go's field order (keys Go does not declare here come last, sorted)."""
    known = [k for k in fields if k in value]
    rest = sorted(k for k in value if k not in fields)
    return {k: _order_nested(k, value[k]) for k in (*known, *rest)}


def _order_nested(key: str, value: Any) -> Any:
    fields = _NESTED.get(key)
    if fields is None:
        return value
    if isinstance(value, list):
        return [ordered(v, fields) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return ordered(value, fields)
    return value


def container(value: dict[str, Any]) -> dict[str, Any]:
    """A container in Go's field order; `resources` is always present (Go has no `omitempty` there)."""
    out = ordered(value, CONTAINER_FIELDS)
    if "resources" not in out:
        out = ordered({**out, "resources": {}}, CONTAINER_FIELDS)
    return out
