"""Ingress: a Gateway per declared gateway, the VirtualService bound to it, and JWT enforcement."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshc.spec.models import Gateway, GatewayRoute, Match, Route

from ..index import MeshIndex, Scope, ServiceInfo
from . import names
from .common import NETWORKING, SECURITY, Manifest, manifest, string_match
from .gateway_policy import combine_all
from .security import claim_key, jwt_rule
from .traffic import (
    answer_of,
    default_destinations,
    destination,
    http_match,
    presentation,
    rule_extras,
    weighted,
)


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


def target_port(info: ServiceInfo, route: GatewayRoute) -> int | None:
    """The service port a gateway route sends to (`to.port`, or the service's only port)."""
    if route.to.port is None and len(info.ports) == 1:
        return info.ports[0].number
    return route.to.port


def _matches(route: GatewayRoute, matches: list[Match]) -> list[dict[str, Any]] | None:
    """The HTTPMatchRequests of a rule; None when it takes every request of the gateway."""
    found = [http_match(m) for m in matches]
    if route.hosts:
        # One VirtualService carries every route of the gateway (several VirtualServices for one
        # host merge in an unspecified order), so a route limited to some hosts matches on them.
        hosts = [h for h in route.hosts if h != "*"]
        if hosts and len(hosts) == len(route.hosts):
            found = [
                {**m, "authority": {"regex": authority_regex(h)}} for m in (found or [{}]) for h in hosts
            ]
    if not found or any(not m for m in found):
        return None  # an empty alternative matches every request
    return found


def _rule(
    route: GatewayRoute,
    name: str | None,
    matches: list[dict[str, Any]] | None,
    dests: list[dict[str, Any]] | None,
    uri: str | None = None,
    own: Route | None = None,
) -> dict[str, Any]:
    """A rule of the gateway route; `uri` replaces the route's `rewrite.uri` (see rewrite_for).
    `own`: the service route applied under it, whose own rewrite wins (its `uri` replaces what the
    combined match matched) and whose redirect or direct response replaces `dests`."""
    rule: dict[str, Any] = {}
    if name:
        rule["name"] = name
    if matches is not None:
        rule["match"] = matches
    answer = answer_of(own) if own is not None else None
    if answer is not None:
        rule.update(answer)  # the proxy answers: no destination, no rewrite
        return rule
    if route.rewrite is not None:
        uri = uri or route.rewrite.uri
    own_rewrite = own.rewrite if own is not None else None
    authority = route.rewrite.authority if route.rewrite is not None else None
    if own_rewrite is not None:
        uri = own_rewrite.uri or uri
        authority = own_rewrite.authority or authority
    rewrite = {k: v for k, v in (("uri", uri), ("authority", authority)) if v}
    if rewrite:
        rule["rewrite"] = rewrite
    rule["route"] = dests
    return rule


def _rule_name(route: GatewayRoute, own: Route, i: int) -> str | None:
    """A service route's rule under a gateway route: both names, so either can be found."""
    if route.name is None:
        return own.name
    return f"{route.name}-{own.name or f'route-{i + 1}'}"


def _http_rules(index: MeshIndex, route: GatewayRoute) -> list[dict[str, Any]]:
    """The rules of one gateway route. With `policy: service` (the default) the service's own
    routes come first, each ANDed with the route's match, then the route itself to the service's
    default destinations, all with the service's timeout, retries, fault and mirror (a service
    route's own over the service's), as a sidecar's request gets them; the gateway route's own
    `timeout` wins over both. With `policy: none`, only the split and the route's own timeout."""
    info = index.service(route.to.service)
    port = target_port(info, route)
    if route.policy == "none":
        rule = _rule(route, route.name, _matches(route, route.match), gateway_destinations(info, port))
        if route.timeout:
            rule["timeout"] = route.timeout
        return [rule]
    traffic = info.traffic
    rewrite = route.rewrite.uri if route.rewrite is not None else None
    rules: list[dict[str, Any]] = []
    for i, own in enumerate(traffic.routes):
        combined = combine_all(route.match, own.match, rewrite, port)
        if not isinstance(combined, list) or not combined:
            continue  # never together (or not expressible: MC183 rejects the spec)
        if own.split:
            dests = weighted(info, own.split, port)
        elif own.to:
            dests = [{"destination": destination(info, own.to, port)}]
        else:
            dests = default_destinations(info, port)
        # One rule per rewrite: alternatives whose path the service route narrowed need their own.
        groups: dict[str | None, list[Match]] = {}
        for match, uri in combined:
            groups.setdefault(uri, []).append(match)
        name = _rule_name(route, own, i)
        for n, (uri, matches) in enumerate(groups.items()):
            numbered = f"{name}-{n + 1}" if name and len(groups) > 1 else name
            rule = _rule(route, numbered, _matches(route, matches), dests, uri, own)
            if answer_of(own) is None:
                rule.update(rule_extras(info, traffic, own, port))
            rule.update(presentation(traffic, own))
            rules.append(rule)
    rule = _rule(route, route.name, _matches(route, route.match), default_destinations(info, port))
    rule.update(rule_extras(info, traffic, None, port))
    # The service's headers and CORS policy hold at the gateway too: browsers reach a service
    # through it, and gateway traffic does not pass the service's mesh VirtualService.
    rule.update(presentation(traffic, None))
    rules.append(rule)
    if route.timeout:
        for rule in rules:
            if "route" in rule:  # a proxy answer has no upstream to time out
                rule["timeout"] = route.timeout
    return rules


def _tcp_route(index: MeshIndex, gateway: Gateway, route: GatewayRoute) -> dict[str, Any]:
    info = index.service(route.to.service)
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
        # An incremental compile reusing a gateway's namespace (`units.gateway_targets`), or this
        # gateway's objects in it (`units.gateway_keys`), does not want them: the routes are not
        # combined for nothing.
        if ns not in scope.skip and gateway.name not in scope.skip_gateways:
            yield from _gateway_and_routes(index, gateway, ns)
        if gateway.workload.namespace not in scope.skip:
            yield from _jwt(index, gateway)
            yield from _required_claims(index, gateway)
            yield from _client_ips(index, gateway)


def _gateway_and_routes(index: MeshIndex, gateway: Gateway, ns: str) -> Iterator[Manifest]:
    spec = {"selector": dict(gateway.selector), "servers": [_server(gateway, s) for s in gateway.servers]}
    owner = f"gateway/{gateway.name}"
    name = names.gateway(index.name, gateway.name)
    yield manifest(index, NETWORKING, "Gateway", name, ns, spec, owner=owner)
    routes = [r for r in gateway.routes if index.resolve(r.to.service) is not None]
    if routes:
        vs: dict[str, Any] = {"hosts": gateway_hosts(gateway), "gateways": [name]}
        http = [rule for r in routes if route_is_http(index, r) for rule in _http_rules(index, r)]
        tcp = [_tcp_route(index, gateway, r) for r in routes if not route_is_http(index, r)]
        if http:
            vs["http"] = http
        if tcp:
            vs["tcp"] = tcp
        yield manifest(index, NETWORKING, "VirtualService", name, ns, vs, owner=owner)


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
    rule = jwt_rule(jwt)
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


def _gateway_deny(
    index: MeshIndex, gateway: Gateway, name: str, rules: list[dict[str, Any]]
) -> Iterator[Manifest]:
    """A DENY AuthorizationPolicy on the gateway pods with `rules`; none when there are no rules."""
    if rules:
        yield manifest(
            index,
            SECURITY,
            "AuthorizationPolicy",
            name,
            gateway.workload.namespace,
            {"selector": {"matchLabels": dict(gateway.selector)}, "action": "DENY", "rules": rules},
            owner=f"gateway/{gateway.name}",
        )


def _route_operation(gateway: Gateway, route: GatewayRoute) -> dict[str, Any]:
    """The requests of a route as an authorization `operation`: its protected paths and hosts."""
    op: dict[str, Any] = {}
    paths = _protected_paths(route)
    if paths is not None:
        op["paths"] = paths
    route_hosts = authorization_hosts(list(route.hosts) or gateway_hosts(gateway))
    if route_hosts:
        op["hosts"] = route_hosts
    return op


def _required_claims(index: MeshIndex, gateway: Gateway) -> Iterator[Manifest]:
    """A DENY policy on the gateway pods: requests to a route's hosts and paths whose token lacks a
    required claim value. `notValues` also holds when the claim (or the token) is missing, so the
    policy fails closed. It decides before routing, so a request that would fall through to a
    later route to the same backend is refused too: the claim is access control, not routing."""
    rules: list[dict[str, Any]] = []
    for route in gateway.routes:
        if not route.require_claims:
            continue
        op = _route_operation(gateway, route)
        for name, values in sorted(route.require_claims.items()):
            rule: dict[str, Any] = {}
            if op:
                rule["to"] = [{"operation": op}]
            rule["when"] = [{"key": claim_key(name), "notValues": sorted(set(values))}]
            rules.append(rule)
    yield from _gateway_deny(index, gateway, names.gateway_require_claims(index.name, gateway.name), rules)


def _client_ips(index: MeshIndex, gateway: Gateway) -> Iterator[Manifest]:
    """A DENY policy on the gateway pods: requests to a route's hosts and paths from a client
    address outside its `remoteIpBlocks`. `remote.ip` is the client as Envoy derives it (the peer,
    or `X-Forwarded-For` from the trusted proxies' hops), not the load balancer's address."""
    rules: list[dict[str, Any]] = []
    for route in gateway.routes:
        if not route.remote_ip_blocks:
            continue
        op = _route_operation(gateway, route)
        rule: dict[str, Any] = {
            "from": [{"source": {"notRemoteIpBlocks": sorted(set(route.remote_ip_blocks))}}]
        }
        if op:
            rule["to"] = [{"operation": op}]
        rules.append(rule)
    yield from _gateway_deny(index, gateway, names.gateway_client_ips(index.name, gateway.name), rules)
