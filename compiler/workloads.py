"""The effective settings of the Deployments meshc owns: a service's `workload`, over
`spec.defaults.workload`, over meshc's own defaults (documented in docs/workloads.md).

Resolved once per service (`MeshIndex.workload`) so that the lowering and the rules (MC210-MC214)
read the same values, and each rule can point at the place a value was written.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from meshc.spec.models import (
    Autoscaling,
    DisruptionBudget,
    PodResources,
    PodSecurity,
    Probe,
    Probes,
    Version,
    Workload,
    WorkloadDefaults,
)
from meshc.spec.source import PathItem

DEFAULT_CPU = "100m"
DEFAULT_MEMORY = "128Mi"
DEFAULT_MAX_UNAVAILABLE = 1
DEFAULT_MIN_REPLICAS = 2
DEFAULT_MAX_REPLICAS = 10
DEFAULT_CPU_UTILIZATION = 70
PROBE_TIMING: dict[str, dict[str, int]] = {
    # periodSeconds, timeoutSeconds, failureThreshold. Kubernetes' 1 s timeout fails probes of a
    # busy pod (a slow GC pause); a startup probe allows 5 minutes (60 x 5 s) before liveness runs.
    "liveness": {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
    "readiness": {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
    "startup": {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 60},
}
"""Probe timing unless a probe says its own."""
BUDGET_MIN_REPLICAS = 2
"""Without a budget of its own, a Deployment gets one from this many replicas: with one replica a
budget can only allow evicting it (pointless) or forbid it (a node that never drains)."""

Path = tuple[PathItem, ...]


@dataclass(frozen=True, slots=True)
class Resources:
    cpu: str
    memory: str
    cpu_limit: str | None
    memory_limit: str
    origins: dict[str, Path]
    """Where each field that the spec sets was written (`cpu_limit` -> the service's or the
    defaults' `resources.cpuLimit`)."""


@dataclass(frozen=True, slots=True)
class Security:
    run_as_non_root: bool
    run_as_user: int | None
    run_as_group: int | None
    fs_group: int | None
    read_only_root_filesystem: bool
    path: Path


@dataclass(frozen=True, slots=True)
class Budget:
    min_available: int | str | None
    max_unavailable: int | str | None
    explicit: bool
    """Written in the spec (then a budget is written for one replica too)."""
    path: Path


@dataclass(frozen=True, slots=True)
class Scaling:
    min_replicas: int
    max_replicas: int
    cpu_utilization: int | None
    memory_utilization: int | None
    path: Path


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    resources: Resources
    security: Security
    budget: Budget | None
    """None: no PodDisruptionBudget (`enabled: false`)."""
    autoscaling: Scaling | None
    probes: Probes
    probes_path: Path
    default_readiness: bool
    """The readiness probe is meshc's default (a TCP connect to the first port)."""

    def replicas(self, version: Version) -> tuple[int, int]:
        """The fewest and most pods a version runs: its `replicas`, or the autoscaler's range. A
        version parked at `replicas: 0` gets no autoscaler (it would wake the version up)."""
        if self.autoscaling is not None and version.replicas > 0:
            return self.autoscaling.min_replicas, self.autoscaling.max_replicas
        return version.replicas, version.replicas

    def autoscaled(self, version: Version) -> bool:
        return self.autoscaling is not None and version.replicas > 0

    def budget_for(self, version: Version) -> Budget | None:
        """The PodDisruptionBudget of a version's Deployment, if it gets one."""
        low = self.replicas(version)[0]
        if self.budget is None or low == 0:
            return None
        if not self.budget.explicit and low < BUDGET_MIN_REPLICAS:
            return None
        return self.budget


def _pick(field: str, *sources: Any) -> Any:
    """The first source (most specific first) that sets `field`."""
    for source in sources:
        if source is not None and field in source.model_fields_set:
            return getattr(source, field)
    return None


def _section_path(name: str, own: Any, default: Any, own_path: Path, default_path: Path) -> Path:
    if own is not None:
        return (*own_path, name)
    if default is not None:
        return (*default_path, name)
    return (*own_path, name)


def resolve(
    own: Workload | None,
    defaults: WorkloadDefaults | None,
    *,
    own_path: Path,
    default_path: Path = ("spec", "defaults", "workload"),
    first_port: int | None,
) -> WorkloadPlan:
    """The plan of one service's Deployments."""
    if own is None and defaults is None:
        return _bare(own_path, first_port)
    res_own: PodResources | None = own.resources if own else None
    res_def: PodResources | None = defaults.resources if defaults else None
    memory = _pick("memory", res_own, res_def) or DEFAULT_MEMORY
    resources = Resources(
        cpu=_pick("cpu", res_own, res_def) or DEFAULT_CPU,
        memory=memory,
        cpu_limit=_pick("cpu_limit", res_own, res_def),
        memory_limit=_pick("memory_limit", res_own, res_def) or memory,
        origins={
            name: (*base, "resources", alias)
            for name, alias in (
                ("cpu", "cpu"),
                ("memory", "memory"),
                ("cpu_limit", "cpuLimit"),
                ("memory_limit", "memoryLimit"),
            )
            for source, base in ((res_def, default_path), (res_own, own_path))
            if source is not None and name in source.model_fields_set
        },
    )

    sec_own: PodSecurity | None = own.security_context if own else None
    sec_def: PodSecurity | None = defaults.security_context if defaults else None
    non_root = _pick("run_as_non_root", sec_own, sec_def)
    security = Security(
        run_as_non_root=True if non_root is None else non_root,
        run_as_user=_pick("run_as_user", sec_own, sec_def),
        run_as_group=_pick("run_as_group", sec_own, sec_def),
        fs_group=_pick("fs_group", sec_own, sec_def),
        read_only_root_filesystem=bool(_pick("read_only_root_filesystem", sec_own, sec_def)),
        path=_section_path("securityContext", sec_own, sec_def, own_path, default_path),
    )

    pdb_own: DisruptionBudget | None = own.disruption_budget if own else None
    pdb_def: DisruptionBudget | None = defaults.disruption_budget if defaults else None
    enabled = _pick("enabled", pdb_own, pdb_def)
    budget: Budget | None = None
    if enabled is not False:
        # minAvailable and maxUnavailable exclude each other: the section that says either wins whole.
        said = next(
            (b for b in (pdb_own, pdb_def) if b and (b.min_available, b.max_unavailable) != (None, None)),
            None,
        )
        budget = Budget(
            min_available=said.min_available if said else None,
            max_unavailable=said.max_unavailable if said else DEFAULT_MAX_UNAVAILABLE,
            explicit=pdb_own is not None or pdb_def is not None,
            path=(
                (*default_path, "disruptionBudget")
                if said is not None and said is pdb_def
                else _section_path("disruptionBudget", pdb_own, pdb_def, own_path, default_path)
            ),
        )

    hpa_own: Autoscaling | None = own.autoscaling if own else None
    hpa_def: Autoscaling | None = defaults.autoscaling if defaults else None
    scaling: Scaling | None = None
    if (hpa_own is not None or hpa_def is not None) and _pick("enabled", hpa_own, hpa_def) is not False:
        memory_target = _pick("memory_utilization", hpa_own, hpa_def)
        scaling = Scaling(
            min_replicas=_pick("min_replicas", hpa_own, hpa_def) or DEFAULT_MIN_REPLICAS,
            max_replicas=_pick("max_replicas", hpa_own, hpa_def) or DEFAULT_MAX_REPLICAS,
            cpu_utilization=_pick("cpu_utilization", hpa_own, hpa_def) or DEFAULT_CPU_UTILIZATION,
            memory_utilization=memory_target,
            path=_section_path("autoscaling", hpa_own, hpa_def, own_path, default_path),
        )

    probes = (own.probes if own else None) or _NO_PROBES
    default_readiness = probes.readiness is None and first_port is not None
    if probes.readiness is None and first_port is not None:
        probes = (
            _default_probes(first_port)
            if probes == _NO_PROBES
            else probes.model_copy(update={"readiness": Probe.model_construct(port=first_port)})
        )
    return WorkloadPlan(
        resources=resources,
        security=security,
        budget=budget,
        autoscaling=scaling,
        probes=probes,
        probes_path=(*own_path, "probes"),
        default_readiness=default_readiness,
    )


# Built without validation (`model_construct`: the values are meshc's own): a validated instance
# here would build the models' validators at import, which every start-up would pay for.
_NO_PROBES = Probes.model_construct()
_BARE_RESOURCES = Resources(DEFAULT_CPU, DEFAULT_MEMORY, None, DEFAULT_MEMORY, {})


@functools.cache
def _default_probes(port: int | None) -> Probes:
    if port is None:
        return _NO_PROBES
    return Probes.model_construct(readiness=Probe.model_construct(port=port))


def _bare(own_path: Path, first_port: int | None) -> WorkloadPlan:
    """The plan of a service when neither it nor the mesh says anything: meshc's defaults (the
    common case, resolved without looking up each field)."""
    return WorkloadPlan(
        resources=_BARE_RESOURCES,
        security=Security(True, None, None, None, False, (*own_path, "securityContext")),
        budget=Budget(None, DEFAULT_MAX_UNAVAILABLE, False, (*own_path, "disruptionBudget")),
        autoscaling=None,
        probes=_default_probes(first_port),
        probes_path=(*own_path, "probes"),
        default_readiness=first_port is not None,
    )


def scaled(value: int | str, replicas: int) -> int:
    """A PodDisruptionBudget's number or percentage as pods of `replicas`, rounded up as the
    disruption controller does for both minAvailable and maxUnavailable."""
    if isinstance(value, int):
        return value
    return math.ceil(Decimal(value.rstrip("%")) * replicas / 100)


def evictable(budget: Budget, replicas: int) -> int:
    """Pods a drain may evict at once from a healthy Deployment of `replicas` pods."""
    if budget.max_unavailable is not None:
        return max(0, min(replicas, scaled(budget.max_unavailable, replicas)))
    assert budget.min_available is not None
    return max(0, replicas - scaled(budget.min_available, replicas))
