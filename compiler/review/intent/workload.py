"""Workloads: the resources, probes, security context, disruption budget and autoscaling of the
Deployments meshc writes (`Service.workload`, declared `FieldMeta(review="custom")`), and
`spec.defaults.workload`, reported once rather than once per service that inherits it. A security
context that lets pods run as root or write their root filesystem is a risk."""

from __future__ import annotations

from typing import Any

from meshc.spec.models import PodSecurity, Service, WorkloadDefaults

from ..workloads import RISK, SECTIONS, workload_changes
from .base import DiffContext, paired
from .fmt import opt

CUSTOM_FIELDS = {Service: ("workload",)}
"""Fields declared `FieldMeta(review="custom")` that this module reports by name."""

_ATTRIBUTES = {
    "resources": "resources",
    "probes": "probes",
    "securityContext": "security_context",
    "disruptionBudget": "disruption_budget",
    "autoscaling": "autoscaling",
}


def _section(model: Any, section: str) -> Any:
    return getattr(model, _ATTRIBUTES[section], None) if model is not None else None


def diff(ctx: DiffContext) -> None:
    changed = defaults(ctx)
    for name, old, new in paired(ctx.base.services, ctx.head.services):
        if old is None or new is None:
            continue
        for change in workload_changes(name, old.workload, new.workload):
            own_changed = _section(old.own_workload, change.section) != _section(
                new.own_workload, change.section
            )
            if change.section in changed and not own_changed:
                continue  # the mesh's default changed: reported once, by `defaults`
            ctx.change("workload", change.kind, name, change.message, change.before, change.after)
            if change.risk is not None:
                ctx.risk(RISK, name, change.risk)


def defaults(ctx: DiffContext) -> set[str]:
    """Report each changed section of `spec.defaults.workload` once; return those sections."""
    old: WorkloadDefaults | None = ctx.base.default_workload
    new: WorkloadDefaults | None = ctx.head.default_workload
    if ctx.new_spec or ctx.deleted or old == new:
        return set()
    changed = set()
    for section in SECTIONS:
        if section == "probes":
            continue  # per service only
        a, b = _section(old, section), _section(new, section)
        if a == b:
            continue
        changed.add(section)
        inheriting = sum(
            1
            for svc in ctx.head.services.values()
            if svc.workload is not None and _section(svc.own_workload, section) is None
        )
        plural = "" if inheriting == 1 else "s"
        ctx.change(
            "workload",
            f"defaults-workload-{section}",
            "defaults",
            f"defaults workload {section}: {opt(a)} → {opt(b)} ({inheriting} service{plural} inherit it)",
            a,
            b,
        )
        if section == "securityContext" and _relaxed(a, b):
            ctx.risk(
                RISK,
                "defaults",
                f"`defaults.workload.securityContext` lets the pods of {inheriting} service{plural} run as "
                "root or write their root filesystem",
            )
    return changed


def _relaxed(before: PodSecurity | None, after: PodSecurity | None) -> bool:
    def non_root(sec: PodSecurity | None) -> bool:
        return sec is None or sec.run_as_non_root is not False

    def read_only(sec: PodSecurity | None) -> bool:
        return sec is not None and bool(sec.read_only_root_filesystem)

    return (non_root(before) and not non_root(after)) or (read_only(before) and not read_only(after))
