"""Where each kind of workload keeps its pod template, and the fields Go's encoder adds when
kube-inject writes a workload back (so `meshc inject` output equals kube-inject's, field for field)."""

from __future__ import annotations

import copy
from typing import Any

from .pod import InjectError, Workload, inject_template, skip_reason
from .settings import InjectionSettings

# kind -> path from the object to its pod template (an empty path: the object is the pod).
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

# What Go writes for the zero values of the typed objects kube-inject round-trips.
_SPEC_DEFAULTS: dict[str, dict[str, Any]] = {
    "Deployment": {"strategy": {}},
    "StatefulSet": {"updateStrategy": {}},
    "DaemonSet": {"updateStrategy": {}},
}
_STATUS_DEFAULTS: dict[str, dict[str, Any]] = {
    "Pod": {},
    "Deployment": {},
    "StatefulSet": {"availableReplicas": 0, "replicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    "ReplicaSet": {"replicas": 0},
    "ReplicationController": {"replicas": 0},
    "Job": {},
    "CronJob": {},
}


def is_workload(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") in TEMPLATE_PATHS and isinstance(obj.get("spec"), dict)


def workload_of(obj: dict[str, Any]) -> Workload:
    meta = obj.get("metadata") or {}
    return Workload(
        api_version=str(obj.get("apiVersion", "")),
        kind=str(obj["kind"]),
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or "default"),
    )


def template_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    node: Any = obj
    for key in TEMPLATE_PATHS[obj["kind"]]:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def inject_object(obj: dict[str, Any], settings: InjectionSettings, *, go_defaults: bool) -> dict[str, Any]:
    """The workload with the sidecar in its pod template; anything else, and workloads kube-inject
    skips, unchanged. `go_defaults` adds the zero-valued fields kube-inject's Go encoder writes."""
    if not is_workload(obj):
        return obj
    template = template_of(obj)
    if template is None or not isinstance(template.get("spec"), dict):
        return obj
    _check_shape(template)
    workload = workload_of(obj)
    if skip_reason(template.get("metadata") or {}, template["spec"], workload.namespace) is not None:
        return obj
    out = copy.deepcopy(obj)  # the result shares nothing with the caller's object
    target = template_of(out)
    assert target is not None
    new_meta, new_spec = inject_template(target.get("metadata") or {}, target["spec"], workload, settings)
    target["metadata"] = new_meta
    target["spec"] = new_spec
    if go_defaults:
        _add_go_defaults(out, new_spec)
    return out


def _check_shape(template: dict[str, Any]) -> None:
    """The parts of a pod template the injector reads must have Kubernetes' shapes; anything else is
    the user's mistake to report (InjectError), not a crash."""
    meta = template.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise InjectError("the pod template's metadata is not a mapping")
    for key in ("labels", "annotations"):
        values = (meta or {}).get(key)
        if values is not None and not (isinstance(values, dict) and all(isinstance(k, str) for k in values)):
            raise InjectError(f"the pod template's metadata.{key} is not a mapping of names to values")
    spec = template["spec"]
    for key in ("containers", "initContainers"):
        items = spec.get(key)
        if items is None and key == "initContainers":
            continue
        if not isinstance(items, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in items
        ):
            raise InjectError(f"the pod template's spec.{key} is not a list of containers with names")
    volumes = spec.get("volumes")
    if volumes is not None and not (
        isinstance(volumes, list)
        and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in volumes)
    ):
        raise InjectError("the pod template's spec.volumes is not a list of volumes with names")


def _add_go_defaults(obj: dict[str, Any], pod_spec: dict[str, Any]) -> None:
    kind = obj["kind"]
    for container in pod_spec.get("containers") or []:
        container.setdefault("resources", {})
    for key, value in _SPEC_DEFAULTS.get(kind, {}).items():
        obj["spec"].setdefault(key, copy.deepcopy(value))
    obj.setdefault("status", copy.deepcopy(_STATUS_DEFAULTS.get(kind, {})))
