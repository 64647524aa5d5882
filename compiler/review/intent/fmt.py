"""Message formatting shared by the category differs: short renderings of ports, routes, retries,
weights and the JSON shapes of `Change.before`/`after`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshc.spec.models import Retries, Route, review_value_fields, wire_name

from ..view import (
    MTLS_RANK,
    EdgeView,
    EgressView,
    GatewayView,
    PublicRoute,
    canonical,
    compact,
    format_weights,
    percent,
)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def relaxed(before: str, after: str) -> bool:
    return MTLS_RANK.get(after, 0) < MTLS_RANK.get(before, 0)


def onoff(value: bool) -> str:
    return "on" if value else "off"


def listed(items: Iterable[str], *, code: bool = False) -> str:
    items = list(items)
    if not items:
        return "none"
    return ", ".join(f"`{i}`" if code else i for i in items)


def ports_text(ports: dict[int, str]) -> str:
    return ", ".join(f"{p}/{proto}" for p, proto in sorted(ports.items())) or "none"


def servers_text(gw: GatewayView) -> str:
    return (
        ", ".join(f"{p}/{proto}" + (f" (TLS {tls})" if tls else "") for p, proto, tls in gw.servers) or "none"
    )


def egress_ports_text(eg: EgressView) -> str:
    return ", ".join(f"{p}/{proto}" for p, proto in eg.ports) or "none"


def opt(value: Any) -> str:
    return "none" if value is None else compact(value)


def retries_text(r: Retries | None) -> str:
    if r is None:
        return "Istio default"
    if r.attempts == 0:
        return "off"
    text = f"{r.attempts} attempt{'s' if r.attempts != 1 else ''}"
    if r.per_try_timeout:
        text += f", {r.per_try_timeout} per try"
    if r.retry_on:
        text += f", on {','.join(r.retry_on)}"
    return text


def shift(before: dict[str, float] | None, after: dict[str, float] | None) -> str:
    """`v1 50% → 0%, v3 50% → 100%`: only the versions whose share moved."""
    if before is None or after is None:
        return f"{format_weights(before)} → {format_weights(after)}"
    parts = []
    for version in list(before) + [v for v in after if v not in before]:
        a, b = before.get(version, 0.0), after.get(version, 0.0)
        if a != b:
            parts.append(f"{version} {percent(a)} → {percent(b)}")
    return ", ".join(parts) or f"{format_weights(before)} → {format_weights(after)}"


def destination(route: Route) -> str:
    # A redirect or direct response is where the route leads, though no version receives it.
    if route.redirect is not None:
        r = route.redirect
        parts = [
            f"{k} {v}"
            for k, v in (("scheme", r.scheme), ("host", r.authority), ("port", r.port), ("uri", r.uri))
            if v
        ]
        return f"redirect {r.redirect_code or 301} ({', '.join(parts) or 'same URL'})"
    if route.direct_response is not None:
        return f"direct response {route.direct_response.status}"
    if route.split:
        return "split " + ", ".join(f"{v} {w}" for v, w in route.split.items())
    if route.to:
        return route.to
    return "the default split"


def describe_route(route: Route) -> str:
    match = compact(route.match, 60) if route.match else "every request"
    return f"{match} → {destination(route)}"


def route_changes(old: Route, new: Route) -> str:
    details = []
    if old.match != new.match:
        details.append(f"match {compact(old.match, 50)} → {compact(new.match, 50)}")
    if destination(old) != destination(new):
        details.append(f"{destination(old)} → {destination(new)}")
    if old.timeout != new.timeout:
        details.append(f"timeout {old.timeout or 'none'} → {new.timeout or 'none'}")
    if old.retries != new.retries:
        details.append(f"retries {retries_text(old.retries)} → {retries_text(new.retries)}")
    for attr, _ in review_value_fields(Route):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            details.append(f"{wire_name(Route, attr)} {opt(a)} → {opt(b)}")
    return "; ".join(details) or "changed"


def edge_json(edge: EdgeView) -> dict[str, Any]:
    return {
        "protocol": edge.protocol,
        "allows": [
            {"ports": list(r.ports), "methods": list(r.methods), "paths": list(r.paths)}
            for r in edge.restrictions
        ],
    }


def gateway_json(gw: GatewayView) -> dict[str, Any]:
    return {
        "namespace": gw.namespace,
        "hosts": list(gw.hosts),
        "ports": servers_text(gw),
        "jwtIssuer": gw.jwt_issuer,
    }


def route_json(route: PublicRoute) -> dict[str, Any]:
    out = {
        "gateway": route.gateway,
        "hosts": list(route.hosts),
        "match": canonical(list(route.match)),
        "to": route.target,
        "requiresJwt": route.requires_jwt,
        "timeout": route.timeout,
    }
    if route.required_claims:
        out["requiresClaims"] = {claim: list(values) for claim, values in route.required_claims}
    if route.backend_methods:
        out["methods"] = list(route.backend_methods)
    if route.backend_paths:
        out["paths"] = list(route.backend_paths)
    if route.client_ips:
        out["remoteIpBlocks"] = list(route.client_ips)
    if route.policy != "service":
        out["policy"] = route.policy
    return out


def claims_text(route: PublicRoute) -> str:
    if not route.required_claims:
        return "none"
    return ", ".join(f"{claim} in [{', '.join(values)}]" for claim, values in route.required_claims)


def claims_relaxed(old: PublicRoute, new: PublicRoute) -> bool:
    """A required claim dropped, or given more allowed values."""
    now = dict(new.required_claims)
    return any(
        claim not in now or not set(now[claim]) <= set(values) for claim, values in old.required_claims
    )


def egress_json(eg: EgressView) -> dict[str, Any]:
    return {"hosts": list(eg.hosts), "callers": list(eg.callers), "ports": egress_ports_text(eg)}
