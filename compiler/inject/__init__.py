"""Manual sidecar injection: the pod templates `istioctl kube-inject` (Istio 1.30.3) writes.

`inject_object` rewrites one Kubernetes object; `inject_template` one pod template. Both are pure
functions of their input and the cluster's `InjectionSettings`: no clock, no randomness, so the
same workload and settings always give the same bytes.
"""

from __future__ import annotations

from .pod import InjectError, Workload, inject_template, skip_reason
from .settings import DEFAULTS, InjectionSettings, ProxyResources
from .workloads import TEMPLATE_PATHS, inject_object, is_workload

__all__ = [
    "DEFAULTS",
    "TEMPLATE_PATHS",
    "InjectError",
    "InjectionSettings",
    "ProxyResources",
    "Workload",
    "inject_object",
    "inject_template",
    "is_workload",
    "skip_reason",
]
