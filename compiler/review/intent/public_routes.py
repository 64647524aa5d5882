"""Public routes: what a gateway exposes, to whom, and whether a JWT (and which claims) it requires."""

from __future__ import annotations

from meshc.spec.models import GatewayRoute

from ..view import PublicRoute
from .base import DiffContext, paired
from .fmt import claims_relaxed, claims_text, listed, opt, route_json

CUSTOM_FIELDS = {GatewayRoute: ("policy", "remote_ip_blocks")}
"""Fields declared `FieldMeta(review="custom")` that this module reports by name."""


def _policy(value: str) -> str:
    return "the service's own" if value == "service" else "the split only"


def diff(ctx: DiffContext) -> None:
    exposed_before = {(r.gateway, r.service) for r in ctx.base.routes.values()}
    for _, old, route in paired(ctx.base.routes, ctx.head.routes):
        if route is None:
            if old is not None:
                ctx.change(
                    "public",
                    "public-route-removed",
                    f"{old.gateway}/{old.key}",
                    f"route `{old.key}` on gateway `{old.gateway}` removed (was → `{old.target}`)",
                    route_json(old),
                    None,
                )
            continue
        subject = f"{route.gateway}/{route.key}"
        auth = "JWT required" if route.requires_jwt else "no authentication"
        if old is None:
            ctx.change(
                "public",
                "public-route-added",
                subject,
                f"route `{route.key}` on gateway `{route.gateway}` added: {route.describe_match()} "
                f"(hosts {listed(route.hosts)}) → `{route.target}` ({auth})",
                None,
                route_json(route),
            )
            if (route.gateway, route.service) not in exposed_before:
                exposed_before.add((route.gateway, route.service))  # one risk per newly exposed service
                ctx.risk(
                    "authz-widened",
                    route.service,
                    f"`{route.service}` is newly exposed through gateway `{route.gateway}` "
                    f"(route `{route.key}`)",
                )
            if not route.requires_jwt:
                ctx.risk(
                    "unauthenticated-route",
                    subject,
                    f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` "
                    f"requires no authentication",
                )
            continue
        if old == route:
            continue
        details = []
        if old.target != route.target:
            details.append(f"target `{old.target}` → `{route.target}`")
        if old.match != route.match:
            details.append(f"match {old.describe_match()} → {route.describe_match()}")
        if old.hosts != route.hosts:
            details.append(f"hosts {listed(old.hosts)} → {listed(route.hosts)}")
        if old.requires_jwt != route.requires_jwt:
            details.append(
                "JWT required → not required" if old.requires_jwt else "JWT not required → required"
            )
        if old.required_claims != route.required_claims:
            details.append(f"required claims {claims_text(old)} → {claims_text(route)}")
        if old.timeout != route.timeout:
            details.append(f"timeout {old.timeout or 'none'} → {route.timeout or 'none'}")
        if old.rewrite != route.rewrite:
            details.append(f"rewrite {opt(old.rewrite)} → {opt(route.rewrite)}")
        for label, a, b in _limits(old, route):
            details.append(f"{label} {a} → {b}")
        if old.policy != route.policy:
            details.append(f"traffic policy {_policy(old.policy)} → {_policy(route.policy)}")
        if not details:
            details.append(f"protocol {old.protocol} → {route.protocol}")
        ctx.change(
            "public",
            "public-route-changed",
            subject,
            f"route `{route.key}` on gateway `{route.gateway}`: {'; '.join(details)}",
            route_json(old),
            route_json(route),
        )
        if old.service != route.service and (route.gateway, route.service) not in exposed_before:
            exposed_before.add((route.gateway, route.service))
            ctx.risk(
                "authz-widened",
                route.service,
                f"`{route.service}` is newly exposed through gateway `{route.gateway}` (route `{route.key}`)",
            )
        if old.requires_jwt and not route.requires_jwt:
            ctx.risk(
                "unauthenticated-route",
                subject,
                f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` "
                f"no longer requires a JWT",
            )
        for label, a, b in _limits(old, route):
            if _widened(label, old, route):
                ctx.risk(
                    "authz-widened",
                    subject,
                    f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` admits more: "
                    f"{label} {a} → {b}",
                )
        if claims_relaxed(old, route):
            ctx.risk(
                "claims-relaxed",
                subject,
                f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` admits more "
                f"tokens: required claims {claims_text(old)} → {claims_text(route)}",
            )


def _limits(old: PublicRoute, new: PublicRoute) -> list[tuple[str, str, str]]:
    """The gateway edge's limits that changed: (label, before, after)."""
    out = []
    for label, a, b in (
        ("methods", old.backend_methods, new.backend_methods),
        ("paths", old.backend_paths, new.backend_paths),
    ):
        if a != b:
            out.append((label, listed(a) if a else "any", listed(b) if b else "any"))
    if old.client_ips != new.client_ips:
        out.append(
            (
                "client addresses",
                listed(old.client_ips) if old.client_ips else "any",
                listed(new.client_ips) if new.client_ips else "any",
            )
        )
    return out


def _widened(label: str, old: PublicRoute, new: PublicRoute) -> bool:
    """A limit dropped, or a value added: more requests get through (for addresses: any change but
    a narrowing to a subset of the listed strings is treated as wider, ranges are not compared)."""
    a, b = {
        "methods": (old.backend_methods, new.backend_methods),
        "paths": (old.backend_paths, new.backend_paths),
        "client addresses": (old.client_ips or (), new.client_ips or ()),
    }[label]
    return bool(a) and (not b or not set(b) <= set(a))
