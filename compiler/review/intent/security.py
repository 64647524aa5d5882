"""Security: mesh, namespace, service and port mTLS, default deny, sidecar injection and its mode,
service identities, sources beyond the declared edges and services' own JWT (anything relaxed or
widened is a risk)."""

from __future__ import annotations

from ..access import jwt_relaxed, jwt_text
from ..view import ServiceView
from .base import DiffContext
from .fmt import onoff, relaxed


def diff(ctx: DiffContext) -> None:
    compare_mesh = not ctx.new_spec and not ctx.deleted
    base, head = ctx.base, ctx.head
    mesh_relaxed = False
    if compare_mesh and base.mtls != head.mtls:
        ctx.change(
            "security", "mtls", "mesh", f"mesh-wide mTLS: {base.mtls} → {head.mtls}", base.mtls, head.mtls
        )
        if relaxed(base.mtls, head.mtls):
            mesh_relaxed = True
            ctx.risk("mtls-relaxed", "mesh", f"mesh-wide mTLS: {base.mtls} → {head.mtls}")
    if compare_mesh and base.mesh_wide != head.mesh_wide:
        ctx.change(
            "security",
            "mesh-wide",
            "mesh",
            f"cluster-wide defaults (meshWide): {onoff(base.mesh_wide)} → {onoff(head.mesh_wide)}",
            base.mesh_wide,
            head.mesh_wide,
        )
        if base.mesh_wide and base.mtls != "DISABLE":
            ctx.risk(
                "mtls-relaxed",
                "mesh",
                f"the mesh-wide mTLS mode {base.mtls} is no longer set: namespaces no spec owns "
                "fall back to Istio's default (PERMISSIVE)",
            )
    if compare_mesh and base.default_deny != head.default_deny:
        ctx.change(
            "security",
            "default-deny",
            "mesh",
            f"default deny: {onoff(base.default_deny)} → {onoff(head.default_deny)}",
            base.default_deny,
            head.default_deny,
        )
        if base.default_deny and not head.default_deny:
            ctx.risk(
                "authz-widened",
                "mesh",
                "default deny turned off: calls that are not declared edges are no longer denied",
            )
    relaxed_ns: set[str] = set()
    for ns, mode in head.namespace_mtls.items():
        old_mode = base.namespace_mtls.get(ns)
        if old_mode is None:
            if not compare_mesh:
                continue
            # A namespace new to the spec was under the spec's mesh mode before: declaring it
            # with a weaker mode relaxes it (for the root namespace: the whole cluster).
            old_mode = base.mtls
        explicit = head.namespace_own_mtls.get(ns) is not None or base.namespace_own_mtls.get(ns) is not None
        if old_mode != mode and explicit:
            ctx.change(
                "security",
                "mtls",
                f"namespace {ns}",
                f"namespace `{ns}` mTLS: {old_mode} → {mode}",
                old_mode,
                mode,
            )
        if relaxed(old_mode, mode):
            relaxed_ns.add(ns)
            if explicit or not mesh_relaxed:
                whole = " (Istio's root namespace: every namespace)" if ns == head.root_namespace else ""
                ctx.risk("mtls-relaxed", f"namespace {ns}", f"namespace `{ns}`{whole}: {old_mode} → {mode}")
    for ns, enabled in head.namespace_injection.items():
        was = base.namespace_injection.get(ns)
        if was is not None and was != enabled:
            ctx.change(
                "security",
                "injection",
                f"namespace {ns}",
                f"namespace `{ns}` sidecar injection: {onoff(was)} → {onoff(enabled)}",
                was,
                enabled,
            )
            if was and not enabled:
                ctx.risk(
                    "mtls-relaxed",
                    f"namespace {ns}",
                    f"sidecar injection disabled for namespace `{ns}`: its workloads lose mTLS and "
                    "authorization",
                )
    for name, svc in head.services.items():
        old = base.services.get(name)
        if old is not None:
            service_security(ctx, old, svc, relaxed_ns)
            injection_mode(ctx, old, svc)
        service_access(ctx, old, svc)
    for name, old in base.services.items():
        if name not in head.services and old.access:
            ctx.change(
                "security",
                "authz-source-removed",
                name,
                f"`{name}` removed, and with it {_plural(len(old.access), 'source')} beyond its callers",
                list(old.access),
                None,
            )


def service_access(ctx: DiffContext, old: ServiceView | None, new: ServiceView) -> None:
    """Sources beyond the declared edges (`security.allow`): a new or changed one widens access (a
    risk); and the service's own JWT: required no more, fewer claims, more issuers are risks."""
    name = new.name
    before = set(old.access) if old is not None else set()
    for line in sorted(set(new.access) - before):
        ctx.change("security", "authz-source-added", name, f"`{name}` admits {line}", None, line)
        ctx.risk("authz-widened", name, f"`{name}` admits {line}")
    for line in sorted(before - set(new.access)):
        ctx.change("security", "authz-source-removed", name, f"`{name}` no longer admits {line}", line, None)
    was = old.jwt if old is not None else None
    if was == new.jwt:
        return
    ctx.change(
        "security",
        "service-jwt",
        name,
        f"`{name}` JWT: {jwt_text(was)} → {jwt_text(new.jwt)}",
        jwt_text(was),
        jwt_text(new.jwt),
    )
    why = jwt_relaxed(was, new.jwt)
    if why is not None:
        kind = "claims-relaxed" if why.startswith("required claim") else "authz-widened"
        ctx.risk(kind, name, f"`{name}` {why}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def injection_mode(ctx: DiffContext, old: ServiceView, new: ServiceView) -> None:
    """A switch between webhook and manual injection, or a new pinned proxy: every pod of the
    workload is replaced, and who decides the proxy version changes."""
    if not new.injection or not any(v.image for v in new.versions.values()):
        return
    name = new.name
    if old.injection_mode != new.injection_mode:
        ctx.change(
            "security",
            "injection-mode",
            name,
            f"`{name}` sidecar injection: {old.injection_mode} → {new.injection_mode}",
            old.injection_mode,
            new.injection_mode,
        )
        if new.injection_mode == "manual":
            detail = f"proxy version pinned to `{new.proxy_image}`"
        else:
            detail = f"the proxy now comes from the webhook of revision `{new.revision or 'default'}`"
        ctx.risk(
            "injection-mode",
            name,
            f"`{name}` sidecar injection {old.injection_mode} → {new.injection_mode}: pods restart; {detail}",
        )
    elif new.injection_mode == "manual" and old.proxy_image != new.proxy_image:
        ctx.change(
            "security",
            "proxy-image",
            name,
            f"`{name}` pinned proxy: `{old.proxy_image}` → `{new.proxy_image}`",
            old.proxy_image,
            new.proxy_image,
        )
        ctx.risk(
            "injection-mode",
            name,
            f"`{name}` pinned proxy `{old.proxy_image}` → `{new.proxy_image}`: pods restart; "
            f"proxy version pinned to `{new.proxy_image}`",
        )


def service_security(ctx: DiffContext, old: ServiceView, new: ServiceView, relaxed_ns: set[str]) -> None:
    name = new.name
    if old.account != new.account:
        ctx.change(
            "security",
            "identity-changed",
            name,
            f"`{name}` identity: service account `{old.account}` → `{new.account}`",
            old.account,
            new.account,
        )
    moved = old.namespace != new.namespace
    explicit = old.own_mtls is not None or new.own_mtls is not None
    if old.mtls != new.mtls and (explicit or moved):
        ctx.change("security", "mtls", name, f"`{name}` mTLS: {old.mtls} → {new.mtls}", old.mtls, new.mtls)
    if relaxed(old.mtls, new.mtls) and (explicit or moved or new.namespace not in relaxed_ns):
        why = f" (moved to namespace `{new.namespace}`)" if moved and not explicit else ""
        ctx.risk("mtls-relaxed", name, f"`{name}`: {old.mtls} → {new.mtls}{why}")
    for port in sorted(set(old.port_mtls) | set(new.port_mtls)):
        a = old.port_mtls.get(port, old.mtls)
        b = new.port_mtls.get(port, new.mtls)
        if a != b:
            ctx.change("security", "port-mtls", name, f"`{name}` port {port} mTLS: {a} → {b}", a, b)
            if relaxed(a, b):
                ctx.risk("mtls-relaxed", name, f"`{name}` port {port}: {a} → {b}")
    if old.injection != new.injection and (
        old.own_injection is not None or new.own_injection is not None or moved
    ):
        ctx.change(
            "security",
            "injection",
            name,
            f"`{name}` sidecar injection: {onoff(old.injection)} → {onoff(new.injection)}",
            old.injection,
            new.injection,
        )
        if old.injection and not new.injection:
            ctx.risk(
                "mtls-relaxed",
                name,
                f"sidecar injection disabled for `{name}`: it loses mTLS and authorization",
            )
