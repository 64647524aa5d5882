"""A call crosses between a workload without a sidecar and the mTLS or authorization of the mesh.

Why: a workload whose sidecar injection is off has no proxy and no mesh identity. Calls *from* it
fail (an error) when the callee enforces STRICT mTLS (plain text is refused) or when authorization
is default-deny (the callee admits only the principals of its declared callers, and a call without
mTLS has none). Calls *to* it work, because Istio's auto mTLS sends plain text to a pod without a
sidecar, but nothing enforces its mTLS mode or its authorization: a warning when its mTLS mode is
not DISABLE, since the spec then claims a protection the workload does not have.

Example:
    namespaces:
      - { name: legacy, injection: { enabled: false } }
    services:
      - name: billing
        namespace: legacy               # no sidecar, mTLS STRICT by default: not enforced
      - name: shop
        calls: [{ service: billing }]   # plain text, and billing's policies never run

Fix: enable injection for the workload, or set `security: { mtls: DISABLE }` on a service without
a sidecar (and accept plain-text calls to it); a client without a sidecar can only call services
that neither require mTLS nor deny by default, or that admit it by a plaintext source
(`security.allow: [{ source: { plaintext: true, ipBlocks: [...] } }]`, during an mTLS migration).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import MeshIndex, ServiceInfo
from .base import Finding, RuleContext
from .walk import focused

CODE = "MC123"
NAME = "missing-sidecar"
SEVERITY = "error"
SCOPE = "namespace"


def _sidecar(index: MeshIndex, info: ServiceInfo) -> tuple[bool, str]:
    """Whether the workload gets a sidecar, and which setting decides it (for messages)."""
    own = info.model.injection
    if own is not None:
        return own.enabled, "its own `injection`"
    settings = index.namespace_settings.get(info.namespace)
    if settings is not None and settings.injection is not None:
        return settings.injection.enabled, f"the injection of namespace '{info.namespace}'"
    return index.mesh.spec.defaults.injection.enabled, "spec.defaults.injection"


def _plaintext_only(info: ServiceInfo) -> bool:
    """Whether callers already send plain text to every port (mTLS DISABLE, service- or port-wide)."""
    security = info.model.security
    disabled = {e.port for e in security.port_mtls if e.mode == "DISABLE"} if security else set()
    return bool(info.ports) and all(p.number in disabled or p.target in disabled for p in info.ports)


def _admits_plaintext(info: ServiceInfo) -> bool:
    security = info.model.security
    return security is not None and any(rule.source.plaintext for rule in security.allow)


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    default_deny = ctx.mesh.spec.security.authorization.default_deny
    for info in focused(ctx):
        injected, why = _sidecar(index, info)
        if injected:
            continue
        mode = index.mtls_mode(info)
        meshed_callers = [f"'{e.caller.key}'" for e in info.callers if _sidecar(index, e.caller)[0]]
        reached_by = meshed_callers + [f"gateway '{gw.name}'" for gw, _, _ in info.gateway_routes]
        if reached_by and mode != "DISABLE" and not _plaintext_only(info):
            shown = ", ".join(reached_by[:3]) + (
                f" and {len(reached_by) - 3} more" if len(reached_by) > 3 else ""
            )
            yield Finding(
                (*info.path, "name"),
                f"service '{info.key}' runs without a sidecar ({why} is off), so its mTLS mode {mode} and "
                f"its authorization are not enforced: calls from {shown} reach it in plain text",
                "enable injection for it, or set `security: { mtls: DISABLE }` on it to say what it gets",
                severity="warning",
            )
        for j, call in enumerate(info.model.calls):
            callee = index.resolve(call.service)
            if callee is None or not _sidecar(index, callee)[0]:
                continue
            callee_mode = index.mtls_mode(callee)
            if callee_mode == "STRICT":
                reason = f"'{callee.key}' requires mTLS (STRICT)"
            elif default_deny and _admits_plaintext(callee):
                continue  # the callee declares a plaintext source (security.allow): MC192, MC197
            elif default_deny:
                reason = f"default-deny authorization admits only mesh identities to '{callee.key}'"
            else:
                continue
            yield Finding(
                (*info.path, "calls", j),
                f"service '{info.key}' runs without a sidecar ({why} is off), so its calls carry no mesh "
                f"identity and are plain text, but {reason}",
                "enable injection for the caller",
            )
