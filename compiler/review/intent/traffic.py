"""Traffic and resilience: `spec.defaults.traffic`, then each service's split, routes, timeout,
retries and the other traffic settings (those are generic: every `Traffic` field declared
`FieldMeta(review="value")` is compared with no code of its own here)."""

from __future__ import annotations

from typing import Any

from meshc.spec.models import Match, Route, Traffic, meta_fields, review_value_fields, wire_name

from ..view import ServiceView
from .base import DiffContext, diff_values, paired
from .fmt import describe_route, opt, plural, retries_text, route_changes, shift

CUSTOM_FIELDS = {
    Traffic: ("split", "routes", "timeout", "retries"),
    Route: ("name", "match", "to", "split", "timeout", "retries"),
    Match: ("path", "method", "headers", "query", "claims", "port"),
}
"""Fields declared `FieldMeta(review="custom")` that this module reports by name (a route is
compared as a whole, its fields in `fmt.route_changes`)."""


def diff(ctx: DiffContext) -> None:
    defaults(ctx)
    for _, old, new in paired(ctx.base.services, ctx.head.services):
        if old is not None and new is not None:
            traffic(ctx, old, new)


def policies(svc: ServiceView) -> dict[str, Any]:
    """The service's generically reviewed traffic settings, by attribute name."""
    return {name: svc.policies.get(wire_name(Traffic, name)) for name, _ in review_value_fields(Traffic)}


def inherits(svc: ServiceView, field_name: str, value: Any) -> bool:
    """The service takes `field_name` from the defaults and ends up with `value` (HTTP-only
    defaults do not reach services without HTTP ports)."""
    if field_name in svc.own_traffic or value is None:
        return False
    if field_name == "timeout":
        return svc.timeout == value
    if field_name == "retries":
        return svc.retries == value
    if field_name in ("split", "routes"):
        return True
    return policies(svc).get(field_name) == value


def from_defaults(ctx: DiffContext, field_name: str, old: ServiceView, new: ServiceView) -> bool:
    """The service inherits `field_name` in both revisions and the default itself changed: the
    change is reported once, for the defaults, not once per service."""
    return (
        field_name in ctx.changed_defaults
        and field_name not in old.own_traffic
        and field_name not in new.own_traffic
    )


def defaults(ctx: DiffContext) -> None:
    old = ctx.base.default_traffic
    new = ctx.head.default_traffic
    if ctx.new_spec or ctx.deleted or old == new:
        return
    for field_name, meta in meta_fields(Traffic):
        if meta.review == "none":
            continue
        a = getattr(old, field_name) if old is not None else None
        b = getattr(new, field_name) if new is not None else None
        if (a in (None, []) and b in (None, [])) or a == b:
            continue
        ctx.changed_defaults.add(field_name)
        label = wire_name(Traffic, field_name)
        count = sum(1 for svc in ctx.head.services.values() if inherits(svc, field_name, b))
        if field_name == "timeout":
            shown = f"{a or 'none'} → {b or 'none'}"
        elif field_name == "retries":
            shown = f"{retries_text(a)} → {retries_text(b)}"
        else:
            shown = f"{opt(a)} → {opt(b)}"
        verb = "inherits" if count == 1 else "inherit"
        ctx.change(
            meta.category,
            f"default-{label}",
            "defaults",
            f"defaults {label}: {shown} ({plural(count, 'service')} {verb} it)",
            a,
            b,
        )


def traffic(ctx: DiffContext, old: ServiceView, new: ServiceView) -> None:
    name = new.name
    if old.weights != new.weights:
        ctx.change(
            "traffic",
            "traffic-split",
            name,
            f"`{name}`: {shift(old.weights, new.weights)}",
            old.weights,
            new.weights,
        )
    for key, was, route in paired(old.routes, new.routes):
        if was is None and route is not None:
            ctx.change(
                "traffic",
                "route-added",
                name,
                f"`{name}` route `{key}` added: {describe_route(route)}",
                None,
                route,
            )
        elif route is None and was is not None:
            ctx.change(
                "traffic",
                "route-removed",
                name,
                f"`{name}` route `{key}` removed (was {describe_route(was)})",
                was,
                None,
            )
        elif was is not None and route is not None and was != route:
            ctx.change(
                "traffic",
                "route-changed",
                name,
                f"`{name}` route `{key}`: {route_changes(was, route)}",
                was,
                route,
            )
    if old.timeout != new.timeout and not from_defaults(ctx, "timeout", old, new):
        ctx.change(
            "resilience",
            "timeout",
            name,
            f"`{name}` timeout: {old.timeout or 'none'} → {new.timeout or 'none'}",
            old.timeout,
            new.timeout,
        )
    if old.retries != new.retries and not from_defaults(ctx, "retries", old, new):
        ctx.change(
            "resilience",
            "retries",
            name,
            f"`{name}` retries: {retries_text(old.retries)} → {retries_text(new.retries)}",
            old.retries,
            new.retries,
        )
    diff_values(
        ctx,
        Traffic,
        policies(old),
        policies(new),
        kind="policy",
        subject=name,
        label=f"`{name}`",
        skip=lambda field_name: from_defaults(ctx, field_name, old, new),
    )
