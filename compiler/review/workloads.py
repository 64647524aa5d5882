"""The review diff of the workloads meshc owns: resources, probes, security context, disruption
budget, autoscaling, in the spec's terms (the effective values, defaults included, so a change of
`defaults.workload` shows on every service it reaches).

`WorkloadView.of(index, info)` is what a reviewer compares; `workload_changes(name, old, new)`
yields each difference, and marks the ones that weaken the pods' isolation as a risk
(`pod-security-relaxed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..index import MeshIndex, ServiceInfo
from ..workloads import PROBE_TIMING, WorkloadPlan

RISK = "pod-security-relaxed"
"""The risk kind of a change that lets the pods run as root or write their root filesystem."""
SECTIONS = ("resources", "probes", "securityContext", "disruptionBudget", "autoscaling")
"""The sections of `workload`, by YAML name: a change is reported per section."""


@dataclass(frozen=True, slots=True)
class WorkloadView:
    resources: tuple[tuple[str, str], ...]
    """(`cpu`, `100m`), (`memory`, ...), (`cpuLimit`, ...), (`memoryLimit`, ...): those that are set."""
    probes: tuple[tuple[str, str], ...]
    """(kind, description) for each probe the application container has."""
    security: tuple[tuple[str, object], ...]
    budget: str
    """`maxUnavailable 1 (from 2 replicas)`, `minAvailable 2`, `none`."""
    autoscaling: str
    """`off` or `2-10 replicas, CPU 70%`."""
    run_as_non_root: bool
    read_only_root_filesystem: bool

    @classmethod
    def of(cls, index: MeshIndex, info: ServiceInfo) -> WorkloadView | None:
        """None for a service whose Deployments meshc does not write."""
        if not index.owns_workload(info):
            return None
        plan = index.workload(info)
        res = plan.resources
        resources = tuple(
            (key, value)
            for key, value in (
                ("cpu", res.cpu),
                ("memory", res.memory),
                ("cpuLimit", res.cpu_limit),
                ("memoryLimit", res.memory_limit),
            )
            if value is not None
        )
        sec = plan.security
        security: tuple[tuple[str, object], ...] = tuple(
            (key, value)
            for key, value in (
                ("runAsNonRoot", sec.run_as_non_root),
                ("runAsUser", sec.run_as_user),
                ("runAsGroup", sec.run_as_group),
                ("fsGroup", sec.fs_group),
                ("readOnlyRootFilesystem", sec.read_only_root_filesystem),
            )
            if value is not None
        )
        return cls(
            resources=resources,
            probes=_probes(info, plan),
            security=security,
            budget=_budget(plan),
            autoscaling=_autoscaling(plan),
            run_as_non_root=sec.run_as_non_root,
            read_only_root_filesystem=sec.read_only_root_filesystem,
        )


def _probes(info: ServiceInfo, plan: WorkloadPlan) -> tuple[tuple[str, str], ...]:
    out = []
    for kind in ("startup", "readiness", "liveness"):
        probe = getattr(plan.probes, kind)
        if probe is None:
            continue
        port = info.port(probe.port)
        if probe.path is not None:
            what = f"HTTP GET :{probe.port}{probe.path}"
        elif port is not None and port.protocol == "grpc":
            what = f"gRPC health :{probe.port}"
        else:
            what = f"TCP :{probe.port}"
        timing = PROBE_TIMING[kind]
        period = probe.period_seconds or timing["periodSeconds"]
        timeout = probe.timeout_seconds or timing["timeoutSeconds"]
        failures = probe.failure_threshold or timing["failureThreshold"]
        delay = f", after {probe.initial_delay_seconds}s" if probe.initial_delay_seconds else ""
        out.append((kind, f"{what} every {period}s, timeout {timeout}s, {failures} failures{delay}"))
    return tuple(out)


def _budget(plan: WorkloadPlan) -> str:
    budget = plan.budget
    if budget is None:
        return "none"
    if budget.min_available is not None:
        text = f"minAvailable {budget.min_available}"
    else:
        text = f"maxUnavailable {budget.max_unavailable}"
    return text if budget.explicit else f"{text} (from 2 replicas)"


def _autoscaling(plan: WorkloadPlan) -> str:
    scaling = plan.autoscaling
    if scaling is None:
        return "off"
    targets = [f"CPU {scaling.cpu_utilization}%"] if scaling.cpu_utilization else []
    if scaling.memory_utilization:
        targets.append(f"memory {scaling.memory_utilization}%")
    return f"{scaling.min_replicas}-{scaling.max_replicas} replicas at {', '.join(targets)}"


@dataclass(frozen=True, slots=True)
class WorkloadChange:
    section: str
    """The `workload` section that changed (one of SECTIONS)."""
    kind: str
    message: str
    before: object
    after: object
    risk: str | None = None
    """The risk message, when the change weakens the pods' isolation."""


def _pairs(items: tuple[tuple[str, object], ...]) -> str:
    return ", ".join(f"{k} {_value(v)}" for k, v in items) or "none"


def _value(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def workload_changes(
    name: str, old: WorkloadView | None, new: WorkloadView | None
) -> Iterator[WorkloadChange]:
    """What changed in a service's workloads (nothing when meshc writes them in neither)."""
    if old is None or new is None:
        return  # the service gained or lost its Deployments: the versions' diff says so
    if old.resources != new.resources:
        yield WorkloadChange(
            "resources",
            "workload-resources",
            f"`{name}` resources: {_pairs(old.resources)} → {_pairs(new.resources)}",
            dict(old.resources),
            dict(new.resources),
        )
    before, after = dict(old.probes), dict(new.probes)
    for kind in ("startup", "readiness", "liveness"):
        if before.get(kind) != after.get(kind):
            yield WorkloadChange(
                "probes",
                "workload-probe",
                f"`{name}` {kind} probe: {before.get(kind, 'none')} → {after.get(kind, 'none')}",
                before.get(kind),
                after.get(kind),
            )
    if old.security != new.security:
        relaxed = []
        if old.run_as_non_root and not new.run_as_non_root:
            relaxed.append("may now run as root (runAsNonRoot: false)")
        if old.read_only_root_filesystem and not new.read_only_root_filesystem:
            relaxed.append("may now write to their root filesystem")
        yield WorkloadChange(
            "securityContext",
            "workload-security",
            f"`{name}` security context: {_pairs(old.security)} → {_pairs(new.security)}",
            dict(old.security),
            dict(new.security),
            f"`{name}`'s pods {' and '.join(relaxed)}" if relaxed else None,
        )
    if old.budget != new.budget:
        yield WorkloadChange(
            "disruptionBudget",
            "workload-budget",
            f"`{name}` disruption budget: {old.budget} → {new.budget}",
            old.budget,
            new.budget,
        )
    if old.autoscaling != new.autoscaling:
        yield WorkloadChange(
            "autoscaling",
            "workload-autoscaling",
            f"`{name}` autoscaling: {old.autoscaling} → {new.autoscaling}",
            old.autoscaling,
            new.autoscaling,
        )
