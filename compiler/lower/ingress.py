"""Ingress: a Gateway per declared gateway, the VirtualService bound to it, and JWT enforcement."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshc.spec.models import Gateway, GatewayRoute

from ..index import MeshIndex, Scope, ServiceInfo
from . import names
from .common import NETWORKING, SECURITY, Manifest, manifest, string_match
from .traffic import destination, http_match, presentation, weighted


def server_hosts(gateway: Gateway, hosts: list[str]) -> list[str]:
    return list(hosts or gateway.hosts)


def gateway_hosts(gateway: Gateway) -> list[str]:
    seen: dict[str, None] = {}
    for server in gateway.servers:
        for host in server_hosts(gateway, server.hosts):
            seen.setdefault(host, None)
    if not gateway.servers:
        for host in gateway.hosts:
            seen.setdefault(host, None)
    return list(seen)


def _server(gateway: Gateway, server: Any) -> dict[str, Any]:
    protocol = server.protocol.upper()
    out: dict[str, Any] = {
        "port": {
            "number": server.port,
            "name": server.name or f"{server.protocol}-{server.port}",
            "protocol": protocol,
        },
        "hosts": server_hosts(gateway, server.hosts),
    }
    if server.tls is not None:
        out["tls"] = {"mode": server.tls.mode, "credentialName": server.tls.credential_name}
    elif server.https_redirect:
        out["tls"] = {"httpsRedirect": True}
    return out


def route_is_http(index: MeshIndex, route: GatewayRoute) -> bool:
    # Lowering only runs on specs the rules accepted, where this is always known.
    return index.gateway_route_is_http(route) is not False


def gateway_destinations(info: ServiceInfo, port: int | None) -> list[dict[str, Any]]:
    """Gateway traffic bypasses the mesh VirtualService, so the service's split is repeated here."""
    if port is None and len(info.ports) == 1:
        port = info.ports[0].number
    if info.traffic.split:
        return weighted(info, info.traffic.split, port)
    return [{"destination": destination(info, None, port)}]


def authority_regex(host: str) -> str:
    """RE2 for the :authority of requests to `host` (a `*.` wildcard allowed), with any port."""
    if host.startswith("*."):
        return r"^[^.:]+\." + re.escape(host[2:]) + r"(:[0-9]+)?$"
    return "^" + re.escape(host) + r"(:[0-9]+)?$"


def _http_route(index: MeshIndex, route: GatewayRoute) -> dict[str, Any]:
    info = index.services[route.to.service]
    rule: dict[str, Any] = {}
    if route.name:
        rule["name"] = route.name
    matches = [http_match(m) for m in route.match]
    if route.hosts:
        # One VirtualService carries every route of the gateway (several VirtualServices for one
        # host merge in an unspecified order), so a route limited to some hosts matches on them.
        hosts = [h for h in route.hosts if h != "*"]
        if hosts and len(hosts) == len(route.hosts):
            matches = [
                {**m, "authority": {"regex": authority_regex(h)}} for m in (matches or [{}]) for h in hosts
            ]
    if matches:
        rule["match"] = matches
    if route.rewrite is not None:
        rewrite = {k: v for k, v in (("uri", route.rewrite.uri), ("authority", route.rewrite.authority)) if v}
        if rewrite:
            rule["rewrite"] = rewrite
    rule["route"] = gateway_destinations(info, route.to.port)
    if route.timeout:
        rule["timeout"] = route.timeout
    # The service's headers and CORS policy hold at the gateway too: browsers reach a service
    # through it, and gateway traffic does not pass the service's mesh VirtualService.
    rule.update(presentation(info.traffic, None))
    return rule


def _tcp_route(index: MeshIndex, gateway: Gateway, route: GatewayRoute) -> dict[str, Any]:
    info = index.services[route.to.service]
    ports = [m.port for m in route.match if m.port is not None]
    if not ports:
        ports = [s.port for s in gateway.servers if s.protocol in ("tcp", "tls")]
    rule: dict[str, Any] = {}
    if ports:
        rule["match"] = [{"port": p} for p in ports]
    rule["route"] = gateway_destinations(info, route.to.port)
    return rule


def gateways(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for gateway in scope.gateways:
        ns = index.gateway_namespace(gateway)
        spec = {"selector": dict(gateway.selector), "servers": [_server(gateway, s) for s in gateway.servers]}
        owner = f"gateway/{gateway.name}"
        name = names.gateway(index.name, gateway.name)
        yield manifest(index, NETWORKING, "Gateway", name, ns, spec, owner=owner)
        routes = [r for r in gateway.routes if r.to.service in index.services]
        if routes:
            vs: dict[str, Any] = {"hosts": gateway_hosts(gateway), "gateways": [name]}
            http = [_http_route(index, r) for r in routes if route_is_http(index, r)]
            tcp = [_tcp_route(index, gateway, r) for r in routes if not route_is_http(index, r)]
            if http:
                vs["http"] = http
            if tcp:
                vs["tcp"] = tcp
            yield manifest(index, NETWORKING, "VirtualService", name, ns, vs, owner=owner)
        yield from _jwt(index, gateway)
        yield from _required_claims(index, gateway)


def _requires_jwt(gateway: Gateway, route: GatewayRoute) -> bool:
    return gateway.jwt is not None and (route.require_jwt if route.require_jwt is not None else True)


def _protected_paths(route: GatewayRoute) -> list[str] | None:
    """AuthorizationPolicy paths covering the route, or None when only "every path" is safe."""
    if not route.match:
        return None
    paths: list[str] = []
    for m in route.match:
        if m.path is None or m.path.regex is not None:
            return None  # a regex cannot be expressed in an AuthorizationPolicy: protect everything
        sm = string_match(m.path)
        paths.append(sm["exact"] if "exact" in sm else sm["prefix"] + "*")
    return sorted(set(paths))


def authorization_hosts(hosts: list[str]) -> list[str] | None:
    """AuthorizationPolicy `hosts` covering every :authority the gateway routes for `hosts`, or
    None when only "every host" is safe.

    The gateway's routes match `host` and `host:<port>` (Envoy adds `host:*` domains), but
    authorization `hosts` are exact strings (or one `*` at either end): listing `host` alone lets
    `Host: host:443` past a DENY. A `*.` wildcard would need a `*` at both ends, which Istio cannot
    express, so a rule for such hosts is not limited by host at all (it then covers more, never less).
    """
    if not hosts or any(h.startswith("*") for h in hosts):
        return None
    return sorted({form for h in hosts for form in (h, f"{h}:*")})


def _jwt(index: MeshIndex, gateway: Gateway) -> Iterator[Manifest]:
    jwt = gateway.jwt
    if jwt is None:
        return
    workload_ns = gateway.workload.namespace
    selector = {"matchLabels": dict(gateway.selector)}
    rule: dict[str, Any] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri}
    if jwt.audiences:
        rule["audiences"] = list(jwt.audiences)
    if jwt.forward_original_token:
        rule["forwardOriginalToken"] = True
    if jwt.from_headers:
        rule["fromHeaders"] = [{"name": h} for h in jwt.from_headers]
    yield manifest(
        index,
        SECURITY,
        "RequestAuthentication",
        names.gateway_jwt(index.name, gateway.name),
        workload_ns,
        {"selector": selector, "jwtRules": [rule]},
        owner=f"gateway/{gateway.name}",
    )
    # A RequestAuthentication alone lets requests *without* a token through; denying requests that
    # have no request principal on the protected routes is what makes the token mandatory.
    to: list[dict[str, Any]] = []
    hosts = gateway_hosts(gateway)
    whole = False
    for route in gateway.routes:
        if not _requires_jwt(gateway, route):
            continue
        if route.match and all(m.claims for m in route.match):
            # Only a validated token's claims match it: a request without a token never takes this
            # route but the next one that matches, which decides about the token itself (denying
            # here would refuse a later `requireJwt: false` route's requests; found by the verifier).
            continue
        paths = _protected_paths(route)
        if paths is None:
            whole = True
            break
        op: dict[str, Any] = {"paths": paths}
        route_hosts = authorization_hosts(list(route.hosts) or hosts)
        if route_hosts:
            op["hosts"] = route_hosts
        to.append({"operation": op})
    if not whole and not to:
        return
    deny: dict[str, Any] = {"from": [{"source": {"notRequestPrincipals": ["*"]}}]}
    if whole:
        every = authorization_hosts(hosts)
        if every:
            deny["to"] = [{"operation": {"hosts": every}}]
    else:
        deny["to"] = to
    yield manifest(
        index,
        SECURITY,
        "AuthorizationPolicy",
        names.gateway_require_jwt(index.name, gateway.name),
        workload_ns,
        {"selector": selector, "action": "DENY", "rules": [deny]},
        owner=f"gateway/{gateway.name}",
    )


def claim_key(name: str) -> str:
    """The authorization condition key of a claim (`a.b` is the nested claim b of a)."""
    return "request.auth.claims" + "".join(f"[{part}]" for part in name.split("."))


def _required_claims(index: MeshIndex, gateway: Gateway) -> Iterator[Manifest]:
    """A DENY policy on the gateway pods: requests to a route's hosts and paths whose token lacks a
    required claim value. `notValues` also holds when the claim (or the token) is missing, so the
    policy fails closed. It decides before routing, so a request that would fall through to a
    later route to the same backend is refused too: the claim is access control, not routing."""
    rules: list[dict[str, Any]] = []
    for route in gateway.routes:
        if not route.require_claims:
            continue
        op: dict[str, Any] = {}
        paths = _protected_paths(route)
        if paths is not None:
            op["paths"] = paths
        route_hosts = authorization_hosts(list(route.hosts) or gateway_hosts(gateway))
        if route_hosts:
            op["hosts"] = route_hosts
        for name, values in sorted(route.require_claims.items()):
            rule: dict[str, Any] = {}
            if op:
                rule["to"] = [{"operation": op}]
            rule["when"] = [{"key": claim_key(name), "notValues": sorted(set(values))}]
            rules.append(rule)
    if not rules:
        return
    yield manifest(
        index,
        SECURITY,
        "AuthorizationPolicy",
        names.gateway_require_claims(index.name, gateway.name),
        gateway.workload.namespace,
        {"selector": {"matchLabels": dict(gateway.selector)}, "action": "DENY", "rules": rules},
        owner=f"gateway/{gateway.name}",
    )
