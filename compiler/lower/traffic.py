"""DestinationRules (subsets, circuit breaking, TLS where auto mTLS cannot tell) and mesh
VirtualServices (routing) per service."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from meshc.spec.models import (
    ConnectionPool,
    Cors,
    DirectResponse,
    Fault,
    HeaderOperations,
    Headers,
    LoadBalancer,
    Match,
    Mirror,
    OutlierDetection,
    Redirect,
    Retries,
    Route,
    Traffic,
)

from ..index import HTTP_ONLY_POLICIES, MeshIndex, Scope, ServiceInfo
from .common import NETWORKING, Manifest, drop_none, manifest, string_match


def connection_pool(pool: ConnectionPool) -> dict[str, Any]:
    tcp = drop_none(
        {
            "maxConnections": pool.max_connections,
            "connectTimeout": pool.connect_timeout,
            "idleTimeout": None,
        }
    )
    http = drop_none(
        {
            "http1MaxPendingRequests": pool.http1_max_pending_requests,
            "http2MaxRequests": pool.http2_max_requests,
            "maxRequestsPerConnection": pool.max_requests_per_connection,
            "maxRetries": pool.max_retries,
            "idleTimeout": pool.idle_timeout,
        }
    )
    return drop_none({"tcp": tcp, "http": http})


def outlier_detection(od: OutlierDetection) -> dict[str, Any]:
    return drop_none(
        {
            "consecutive5xxErrors": od.consecutive_5xx_errors,
            "consecutiveGatewayErrors": od.consecutive_gateway_errors,
            "interval": od.interval,
            "baseEjectionTime": od.base_ejection_time,
            "maxEjectionPercent": od.max_ejection_percent,
        }
    )


def load_balancer(lb: LoadBalancer) -> dict[str, Any]:
    if lb.consistent_hash is not None:
        ch = lb.consistent_hash
        if ch.header:
            return {"consistentHash": {"httpHeaderName": ch.header}}
        if ch.cookie:
            return {"consistentHash": {"httpCookie": {"name": ch.cookie, "ttl": "0s"}}}
        if ch.query_parameter:
            return {"consistentHash": {"httpQueryParameterName": ch.query_parameter}}
        if ch.source_ip:
            return {"consistentHash": {"useSourceIp": True}}
    return {"simple": lb.simple} if lb.simple else {}


def traffic_policy(index: MeshIndex, info: ServiceInfo) -> dict[str, Any]:
    traffic = info.traffic
    # Client TLS is left to Istio's auto mTLS, which sends mTLS exactly to endpoints that have a
    # sidecar: a `tls` setting here would switch that off and make clients originate mTLS to pods
    # without one (workloads meshc does not own, pods not yet restarted after injection). Only
    # DISABLE is said, because auto mTLS infers it from mesh- and namespace-wide
    # PeerAuthentication only, not from a workload's or a port's own mode.
    disabled_workload = index.mtls_mode(info) == "DISABLE"
    policy: dict[str, Any] = {"tls": {"mode": "DISABLE"}} if disabled_workload else {}
    if traffic.connection_pool is not None:
        policy["connectionPool"] = connection_pool(traffic.connection_pool)
    if traffic.outlier_detection is not None:
        policy["outlierDetection"] = outlier_detection(traffic.outlier_detection)
    if traffic.load_balancer is not None:
        policy["loadBalancer"] = load_balancer(traffic.load_balancer)
    disabled = [] if disabled_workload else _disabled_ports(info)
    if disabled:
        policy["portLevelSettings"] = [{"port": {"number": n}, "tls": {"mode": "DISABLE"}} for n in disabled]
    return drop_none(policy)


def _disabled_ports(info: ServiceInfo) -> list[int]:
    """Service ports whose workload port has mTLS disabled: clients must not originate mTLS there."""
    security = info.model.security
    if security is None:
        return []
    by_target = {p.target: p.number for p in info.ports}
    by_number = {p.number for p in info.ports}
    out = set()
    for entry in security.port_mtls:
        if entry.mode == "DISABLE":
            out.add(entry.port if entry.port in by_number else by_target.get(entry.port, entry.port))
    return sorted(out)


def locality_failover(index: MeshIndex, info: ServiceInfo) -> dict[str, Any] | None:
    """Fail over between the regions a service runs in (each region to the next, in order).

    Istio only fails over when outlier detection ejects the local endpoints; MC122 warns when a
    multi-region service has none."""
    regions = index.regions(info)
    if len(regions) < 2:
        return None
    pairs = [{"from": r, "to": regions[(i + 1) % len(regions)]} for i, r in enumerate(regions)]
    return {"enabled": True, "failover": pairs}


def export_to(index: MeshIndex, info: ServiceInfo) -> list[str] | None:
    """The service's `exportTo`, or None for Istio's mesh default (every namespace).

    `callers`: the namespaces whose proxies route to the service: its own (`.`), its declared
    callers', the workload namespaces of the gateways that route to it (the gateway proxy needs the
    DestinationRule's subsets), and in a multi-cluster mesh the control-plane namespace, where the
    east-west gateway runs (it builds its per-subset clusters from the DestinationRule)."""
    wanted = info.traffic.export_to
    if wanted is None:
        return None
    if wanted == "callers":
        namespaces = {edge.caller.namespace for edge in info.callers}
        namespaces.update(gateway.workload.namespace for gateway, _, _ in info.gateway_routes)
        if len(index.clusters) > 1:
            namespaces.add(index.mesh.spec.control_plane.namespace)
        namespaces.discard(info.namespace)
        return [".", *sorted(namespaces)]
    own = "." if "." in wanted or info.namespace in wanted else None
    others = sorted({ns for ns in wanted if ns not in {".", info.namespace}})
    return [own, *others] if own else others


def destination_rules(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.visible(scope):
        policy = traffic_policy(index, info)
        failover = locality_failover(index, info) if scope.cluster else None
        if failover is not None:
            policy["loadBalancer"] = {**policy.get("loadBalancer", {}), "localityLbSetting": failover}
        spec: dict[str, Any] = {"host": info.fqdn}
        if policy:
            spec["trafficPolicy"] = policy
        if info.versions:
            spec["subsets"] = [{"name": v.name, "labels": info.version_labels(v)} for v in info.versions]
        if len(spec) == 1:
            continue  # no subsets and no policy: a DestinationRule would say nothing
        exported = export_to(index, info)
        if exported is not None:
            spec["exportTo"] = exported
        yield manifest(
            index, NETWORKING, "DestinationRule", info.name, info.namespace, spec, owner=info.owner
        )


def destination(info: ServiceInfo, subset: str | None, port: int | None = None) -> dict[str, Any]:
    dest: dict[str, Any] = {"host": info.fqdn}
    if subset:
        dest["subset"] = subset
    if port is not None:
        dest["port"] = {"number": port}
    return dest


def weighted(info: ServiceInfo, split: dict[str, int], port: int | None = None) -> list[dict[str, Any]]:
    """Destinations of a split; zero weights are left out, a lone destination carries no weight."""
    entries = [(version, weight) for version, weight in split.items() if weight > 0]
    if len(entries) == 1:
        return [{"destination": destination(info, entries[0][0], port)}]
    return [{"destination": destination(info, v, port), "weight": w} for v, w in entries]


def default_destinations(info: ServiceInfo, port: int | None = None) -> list[dict[str, Any]]:
    """Where requests that no route matches go: the split, the only version, or the plain service."""
    split = info.traffic.split
    if split:
        return weighted(info, split, port)
    if len(info.versions) == 1 and (info.traffic.routes or info.traffic.mirror):
        return [{"destination": destination(info, info.versions[0].name, port)}]
    return [{"destination": destination(info, None, port)}]


def http_match(match: Match) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if match.path is not None:
        out["uri"] = string_match(match.path)
    if match.method is not None:
        out["method"] = string_match(match.method)
    headers = {name: string_match(m) for name, m in match.headers.items()}
    # Istio matches JWT claims (validated by a RequestAuthentication) through this pseudo-header.
    headers.update({f"@request.auth.claims.{name}": string_match(m) for name, m in match.claims.items()})
    if headers:
        out["headers"] = headers
    if match.query:
        out["queryParams"] = {name: string_match(m) for name, m in match.query.items()}
    if match.port is not None:
        out["port"] = match.port
    return out


GRPC_PROTOCOLS = frozenset({"grpc", "grpc-web"})

GRPC_RETRY_ON = ("cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable")
"""Envoy's gRPC retry conditions (`x-envoy-retry-grpc-on`): they read the `grpc-status` a gRPC
server answers with, inside an HTTP 200 response."""

_GRPC_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    # A failed gRPC call is an HTTP 200 with a grpc-status: Envoy's `5xx` and `gateway-error` never
    # see it. Their gRPC counterparts are the server-side failure codes (gRPC maps HTTP 502-504 to
    # UNAVAILABLE). Connection-level conditions (`reset`, `connect-failure`, ...) work for both.
    "5xx": GRPC_RETRY_ON,
    "gateway-error": ("unavailable",),
}


def retry_on(conditions: list[str], protocols: Collection[str | None]) -> list[str]:
    """Retry conditions as the HTTP ports' `protocols` need them: where they speak gRPC, HTTP
    status conditions become their gRPC equivalents (kept beside them when some port speaks plain
    HTTP: Envoy applies each kind to its own responses)."""
    protocols = set(protocols)
    grpc = bool(protocols & GRPC_PROTOCOLS)
    if not grpc:
        return list(conditions)
    keep_http = bool(protocols - GRPC_PROTOCOLS)
    out: dict[str, None] = {}
    for condition in conditions:
        equivalents = _GRPC_EQUIVALENTS.get(condition)
        if equivalents is None or keep_http:
            out.setdefault(condition, None)
        for equivalent in equivalents or ():
            out.setdefault(equivalent, None)
    return list(out)


def retries(r: Retries, protocols: Collection[str | None]) -> dict[str, Any]:
    """A route's `retries`; `protocols`: those of the HTTP ports it serves (see `retry_on`)."""
    out: dict[str, Any] = {"attempts": r.attempts}
    if r.attempts > 0:
        if r.per_try_timeout:
            out["perTryTimeout"] = r.per_try_timeout
        if r.retry_on:
            out["retryOn"] = ",".join(retry_on(r.retry_on, protocols))
    return out


def fault(f: Fault) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f.delay is not None:
        out["delay"] = {"fixedDelay": f.delay.fixed, "percentage": {"value": float(f.delay.percent)}}
    if f.abort is not None:
        out["abort"] = {"httpStatus": f.abort.status, "percentage": {"value": float(f.abort.percent)}}
    return out


def _header_operations(ops: HeaderOperations) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ops.set:
        out["set"] = dict(sorted(ops.set.items()))
    if ops.add:
        out["add"] = dict(sorted(ops.add.items()))
    if ops.remove:
        out["remove"] = list(ops.remove)
    return out


def headers(h: Headers) -> dict[str, Any]:
    out = {
        side: _header_operations(ops)
        for side, ops in (("request", h.request), ("response", h.response))
        if ops is not None
    }
    return {side: ops for side, ops in out.items() if ops}


def cors_policy(c: Cors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.allow_origins:
        out["allowOrigins"] = [string_match(o) for o in c.allow_origins]
    for key, values in (
        ("allowMethods", c.allow_methods),
        ("allowHeaders", c.allow_headers),
        ("exposeHeaders", c.expose_headers),
    ):
        if values:
            out[key] = list(values)
    if c.max_age:
        out["maxAge"] = c.max_age
    if c.allow_credentials is not None:
        out["allowCredentials"] = c.allow_credentials
    return out


def redirect(r: Redirect) -> dict[str, Any]:
    return drop_none(
        {
            "uri": r.uri,
            "authority": r.authority,
            "scheme": r.scheme,
            "port": r.port,
            "redirectCode": r.redirect_code,
        }
    )


def direct_response(d: DirectResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"status": d.status}
    if d.body is not None:
        out["body"] = {"string": d.body}
    return out


def answer_of(route: Route) -> dict[str, Any] | None:
    """The proxy's own answer for a route that does not call the service (redirect or direct
    response), or None. Such a rule has no destination, and the service's timeout, retries, fault
    and mirror do not apply to it (Istio rejects fault alongside; MC231 flags the route's own)."""
    if route.redirect is not None:
        return {"redirect": redirect(route.redirect)}
    if route.direct_response is not None:
        return {"directResponse": direct_response(route.direct_response)}
    return None


def presentation(traffic: Traffic, route: Route | None) -> dict[str, Any]:
    """Headers and CORS: a route's own, else the service's (they apply to proxy answers too)."""
    h = (route.headers if route else None) or traffic.headers
    c = (route.cors if route else None) or traffic.cors
    out: dict[str, Any] = {}
    if h is not None and headers(h):
        out["headers"] = headers(h)
    if c is not None:
        out["corsPolicy"] = cors_policy(c)
    return out


def rule_extras(
    info: ServiceInfo, traffic: Traffic, route: Route | None, port: int | None = None
) -> dict[str, Any]:
    """Timeout, retries, fault and mirror: a route's own, else the service's. `port`: the service
    port the rule sends to, which a gateway's mirror must name (a sidecar's keeps the request's)."""
    timeout = (route.timeout if route else None) or traffic.timeout
    r = (route.retries if route else None) or traffic.retries
    f = (route.fault if route else None) or traffic.fault
    m: Mirror | None = (route.mirror if route else None) or traffic.mirror
    out: dict[str, Any] = {}
    if timeout:
        out["timeout"] = timeout
    if r is not None:
        out["retries"] = retries(r, {p.protocol for p in info.http_ports})
    if f is not None and (f.delay or f.abort):
        out["fault"] = fault(f)
    if m is not None:
        out["mirror"] = destination(info, m.version, port)
        out["mirrorPercentage"] = {"value": float(m.percent)}
    return out


def http_rules(info: ServiceInfo) -> list[dict[str, Any]]:
    traffic = info.traffic
    rules: list[dict[str, Any]] = []
    for route in traffic.routes:
        rule: dict[str, Any] = {}
        if route.name:
            rule["name"] = route.name
        matches = [http_match(m) for m in route.match]
        if matches:
            rule["match"] = matches
        answer = answer_of(route)
        if answer is not None:
            rule.update(answer)
            rule.update(presentation(traffic, route))
            rules.append(rule)
            continue
        if route.split:
            rule["route"] = weighted(info, route.split)
        elif route.to:
            rule["route"] = [{"destination": destination(info, route.to)}]
        else:
            rule["route"] = default_destinations(info)
        rewrite = (
            drop_none({"uri": route.rewrite.uri, "authority": route.rewrite.authority})
            if route.rewrite
            else {}
        )
        if rewrite:
            rule["rewrite"] = rewrite
        rule.update(rule_extras(info, traffic, route))
        rule.update(presentation(traffic, route))
        rules.append(rule)
    default: dict[str, Any] = {"route": default_destinations(info)}
    default.update(rule_extras(info, traffic, None))
    default.update(presentation(traffic, None))
    rules.append(default)
    return rules


def tcp_rules(info: ServiceInfo) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for route in info.traffic.routes:
        ports = [m.port for m in route.match if m.port is not None]
        if not ports:
            continue
        target = weighted(info, route.split) if route.split else None
        if target is None:
            target = (
                [{"destination": destination(info, route.to)}] if route.to else default_destinations(info)
            )
        rules.append({"match": [{"port": p} for p in ports], "route": target})
    rules.append({"route": default_destinations(info)})
    return rules


def needs_virtual_service(info: ServiceInfo) -> bool:
    """Only when it changes something: several versions, routing, or HTTP policies on HTTP ports."""
    t = info.traffic
    if len(info.versions) > 1 or t.split or t.routes:
        return True
    return bool(info.http_ports and any(getattr(t, name) for name in HTTP_ONLY_POLICIES))


def virtual_services(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.visible(scope):
        if not needs_virtual_service(info) or not info.ports:
            continue
        spec: dict[str, Any] = {"hosts": [info.fqdn]}
        if info.http_ports:
            spec["http"] = http_rules(info)
        if any(p.protocol not in {"http", "http2", "grpc", "grpc-web"} for p in info.ports):
            spec["tcp"] = tcp_rules(info)
        exported = export_to(index, info)
        if exported is not None:
            spec["exportTo"] = exported
        yield manifest(index, NETWORKING, "VirtualService", info.name, info.namespace, spec, owner=info.owner)
