"""What the spec means a request should do, read from the typed spec (never from the output):
which route of a service's traffic or a gateway's routes it takes, and the versions it lands on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from meshc.spec.models import Gateway, GatewayRoute, Match, StringMatch

from ..index import ServiceInfo
from .matching import dns_match, host_part, string_match


def _sm(match: StringMatch | None, value: str | None) -> bool:
    if match is None:
        return True
    spec = {
        k: v
        for k, v in (("exact", match.exact), ("prefix", match.prefix), ("regex", match.regex))
        if v is not None
    }
    return string_match(spec, value)


def match_holds(
    m: Match,
    *,
    path: str | None,
    method: str | None,
    headers: Mapping[str, str],
    claims: Mapping[str, str] | None,
    port: int | None,
) -> bool:
    if m.port is not None and m.port != port:
        return False
    if not (_sm(m.path, path) and _sm(m.method, method)):
        return False
    if m.query:
        return False
    if any(not _sm(sm, headers.get(name.lower())) for name, sm in m.headers.items()):
        return False
    return all(_sm(sm, None if claims is None else claims.get(name)) for name, sm in m.claims.items())


def _normalise(split: Mapping[str, int], service: str) -> dict[str, float]:
    total = sum(w for w in split.values() if w > 0)
    return {f"{service}/{v}": w / total for v, w in sorted(split.items()) if w > 0}


def default_versions(info: ServiceInfo) -> dict[str, float] | None:
    """Where a request no route matches lands: the split, the only version, or None (any)."""
    if info.traffic.split:
        return _normalise(info.traffic.split, info.key)
    if len(info.versions) == 1:
        return {f"{info.key}/{info.versions[0].name}": 1.0}
    return None


def mesh_versions(
    info: ServiceInfo,
    *,
    http: bool,
    port: int,
    path: str | None,
    method: str | None,
    headers: Mapping[str, str],
) -> dict[str, float] | None:
    """The versions a mesh request lands on, per the service's ordered routes then its split;
    empty when the route that takes it is answered by the proxy (a redirect or direct response)."""
    for route in info.traffic.routes:
        if not http and not any(m.port is not None for m in route.match):
            continue
        if route.match and not any(
            match_holds(m, path=path, method=method, headers=headers, claims=None, port=port)
            for m in route.match
        ):
            continue
        if http and (route.redirect is not None or route.direct_response is not None):
            return {}
        if route.split:
            return _normalise(route.split, info.key)
        if route.to:
            return {f"{info.key}/{route.to}": 1.0}
        return default_versions(info)
    return default_versions(info)


def gateway_route(
    gateway: Gateway,
    *,
    host: str,
    path: str | None,
    method: str | None,
    headers: Mapping[str, str],
    claims: Mapping[str, str] | None,
    port: int,
) -> tuple[int, GatewayRoute] | None:
    """The first route of `gateway` the request takes, by the spec's order and conditions."""
    name = host_part(host)
    for i, route in enumerate(gateway.routes):
        if route.hosts and not any(dns_match(h, name) for h in route.hosts):
            continue
        if route.match and not any(
            match_holds(m, path=path, method=method, headers=headers, claims=claims, port=port)
            for m in route.match
        ):
            continue
        return i, route
    return None


def requires_jwt(gateway: Gateway, route: GatewayRoute) -> bool:
    return gateway.jwt is not None and (route.require_jwt if route.require_jwt is not None else True)


def rewritten_path(route: GatewayRoute, path: str | None) -> str | None:
    """The path the backend receives from `route` (a prefix or exact rewrite)."""
    if route.rewrite is None or route.rewrite.uri is None or path is None:
        return path
    for m in route.match:
        if m.path is not None and m.path.prefix is not None and path.startswith(m.path.prefix):
            return route.rewrite.uri + path[len(m.path.prefix) :]
    return route.rewrite.uri


def concrete(match: StringMatch | None, default: str | None) -> str | None:
    """A value satisfying `match` (None: cannot be written down, e.g. a regex)."""
    if match is None:
        return default
    if match.exact is not None:
        return match.exact
    if match.prefix is not None:
        return match.prefix + ("probe" if match.prefix.endswith("/") else "/probe")
    return None


def concrete_path(pattern: str) -> str:
    """A path an AuthorizationPolicy-style pattern (`/x/*`, `*/x`, `*`) admits."""
    if pattern == "*":
        return "/probe"
    if pattern.endswith("*"):
        return pattern[:-1] + "probe"
    if pattern.startswith("*"):
        return "/probe" + pattern[1:]
    return pattern


def concrete_host(pattern: str) -> str:
    if pattern == "*":
        return "probe.example.test"
    if pattern.startswith("*."):
        return "probe." + pattern[2:]
    return pattern


def unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
