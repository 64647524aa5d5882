"""Probes generated from the spec (never from the output): requests with the outcome the spec
means them to have.

- `edge`: every declared edge, per callee port, with one of its methods and paths: allowed, on the
  declared versions in the declared proportions. `edge-no-sidecar`: the same to a workload meshc
  does not own or does not inject (it may run without a sidecar): still allowed.
- `least-privilege`: on a declared edge, a port, method or path it does not declare: denied.
- `non-edge`: a workload calling a service it declares no call to (gateways included): denied
  under `defaultDeny`, allowed without it. Every pair up to FULL_PAIRS services, a stratified
  sample beyond (same namespace, other namespaces, callers of callers, reversed edges).
- `gateway`: every gateway route with the Host header as `host`, `host:port` and another host;
  with a valid token, without one, without the route's claims, with another issuer's token.
- `egress`: every egress host from each declared caller (reached) and from a service in the same
  namespace that is no caller, directly and through the egress gateway (refused).
- `plaintext`: a pod without sidecar calling each port: refused where mTLS is STRICT or
  authorization denies by default.
- `foreign`: a workload of another team, outside the mesh's namespaces: no resource of this output
  decides its mTLS, authorization, request authentication, telemetry or sidecar scope; and
  resources in namespaces the mesh does not own carry the mesh's name.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from meshc.spec.models import HTTP_PROTOCOLS

from ..index import MeshIndex, ResolvedPort, ServiceInfo, call_ports
from . import intent
from .matching import dns_match
from .request import Request, Token
from .spec_world import SpecWorld, has_sidecar, owned
from .world import Workload

FULL_PAIRS = 300
"""Up to this many services every edge, route and undeclared pair is probed; beyond, a sample
stratified by namespace (and, for undeclared pairs, by how close the pair is in the graph), so a
compile of 10,000 services pays for a few thousand probes, not for N^2 (the report says how many)."""
SAMPLE_PER_STRATUM = 75
SAMPLED_CALLERS = 100
SAMPLED_ROUTES_PER_GATEWAY = 3
OTHER_HOST = "meshc-probe.invalid"
OTHER_ISSUER = "https://issuer.other-team.invalid"
SHARED_GATEWAY = {"istio": "ingressgateway"}
"""The default profile's ingress gateway, which every team's Gateways select unless they install
their own: policies on it reach other teams' traffic."""


@dataclass(frozen=True, slots=True)
class Expect:
    allow: bool
    service: str | None = None
    """Every allowed branch must land on this destination host (a service FQDN or external host)."""
    versions: tuple[tuple[str, float], ...] | None = None
    """...in these proportions (`service/version` -> share); None: any version."""
    forbidden: tuple[str, str] | None = None
    """(service FQDN, path): no branch may deliver this path to this service."""
    neutral: bool = False
    """No resource of this output may refuse it (401/403): it is not this spec's business."""
    advisory: bool = False
    """Reported by `meshc verify`, but not a meshc bug on compile: no Istio output can do what the
    spec asks (a RequestAuthentication applies to every request of its gateway pods), so the fix is
    in the spec (a dedicated gateway), which a rule can only warn about."""


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str
    source: str
    target: str
    detail: str
    expect: Expect
    via: str
    """`send` (through the caller's sidecar), `plaintext`, `ingress`, `foreign`, `names`."""
    workload: Workload
    request: Request | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}: {self.source} -> {self.target} {self.detail}".rstrip()


@dataclass
class Plan:
    probes: list[Probe]
    undeclared_pairs: int
    """Caller/callee pairs with no declared edge (what `non-edge` probes sample from)."""
    sampled: bool
    edges: int = 0
    """Declared edges in the spec (caller, callee)."""
    edges_probed: int = 0


def _http(port: ResolvedPort) -> bool:
    return port.protocol in HTTP_PROTOCOLS


def _request(info: ServiceInfo, port: ResolvedPort, method: str | None, path: str | None) -> Request:
    if _http(port):
        return Request(info.fqdn, port.number, "http", method or "GET", path or "/")
    return Request(info.fqdn, port.number, "tcp")


def _versions(info: ServiceInfo, port: ResolvedPort, req: Request) -> tuple[tuple[str, float], ...] | None:
    found = intent.mesh_versions(
        info, http=_http(port), port=port.number, path=req.path, method=req.method, headers={}
    )
    return tuple(sorted(found.items())) if found else None


def _answered(info: ServiceInfo, port: ResolvedPort, req: Request) -> bool:
    """The spec routes this request to a redirect or a direct response: the caller's proxy answers
    it and the service is never called."""
    found = intent.mesh_versions(
        info, http=_http(port), port=port.number, path=req.path, method=req.method, headers={}
    )
    return found == {}


def plan(index: MeshIndex, sw: SpecWorld, *, seed: int = 0) -> Plan:
    probes: list[Probe] = []
    callers = list(index.services.values())
    sampled = len(callers) > FULL_PAIRS
    if sampled:  # every k-th service in namespace order: each namespace keeps its share
        ordered = sorted(callers, key=lambda s: (s.namespace, s.index))
        step = max(1, len(ordered) // SAMPLED_CALLERS)
        callers = ordered[::step]
    probes += _edges(index, sw, callers)
    pairs, _, found = _non_edges(index, sw, seed)
    probes += found
    probes += _gateways(index, sw, SAMPLED_ROUTES_PER_GATEWAY if sampled else None)
    probes += _egress(index, sw)
    probes += _plaintext(index, sw, seed)
    probes += _foreign(index, sw)
    edges = {
        (c.name, call.service)
        for c in index.services.values()
        for call in c.model.calls
        if call.service in index.services
    }
    probed = {(p.source, p.target) for p in probes if p.kind == "edge"}
    return Plan(probes, pairs, sampled, len(edges), len(probed))


def _edges(index: MeshIndex, sw: SpecWorld, callers: list[ServiceInfo]) -> Iterator[Probe]:
    sharing: dict[str, list[ServiceInfo]] = {}
    for info in index.services.values():
        sharing.setdefault(_principal(index, info), []).append(info)
    for caller in callers:
        src = sw.caller(caller.name)
        if src is None:
            continue
        by_callee: dict[str, list] = {}
        for call in caller.model.calls:
            by_callee.setdefault(call.service, []).append(call)
        for callee_name, calls in sorted(by_callee.items()):
            callee = index.services.get(callee_name)
            if callee is None or callee is caller or not sw.runs(callee.name):
                continue
            declared_ports: set[int] = set()
            for call in calls:
                ports = call_ports(callee, call)  # named ports, else those of its `protocol`, else all
                declared_ports.update(p.number for p in ports)
                method = call.methods[0] if call.methods else None
                path = intent.concrete_path(call.paths[0]) if call.paths else None
                for port in ports:
                    req = _request(callee, port, method, path)
                    detail = f":{port.number}" + (f" {req.method} {req.path}" if req.http else " tcp")
                    if src.sidecar and _answered(callee, port, req):
                        expect = Expect(False, callee.fqdn)
                        detail += " (answered by the proxy: redirect or direct response)"
                        yield Probe("edge", caller.name, callee.name, detail, expect, "send", src, req)
                        continue
                    versions = _versions(callee, port, req)
                    if src.sidecar or versions is None:
                        expect = Expect(True, callee.fqdn, versions)
                        yield Probe("edge", caller.name, callee.name, detail, expect, "send", src, req)
                    else:
                        # Istio routes at the client's proxy: a caller without a sidecar reaches
                        # the service, but no output can split its traffic (the fix is injecting
                        # the caller); the split is reported, advisory.
                        yield Probe(
                            "edge",
                            caller.name,
                            callee.name,
                            detail,
                            Expect(True, callee.fqdn),
                            "send",
                            src,
                            req,
                        )
                        yield Probe(
                            "edge",
                            caller.name,
                            callee.name,
                            detail + " (split; caller without sidecar)",
                            Expect(True, callee.fqdn, versions, advisory=True),
                            "send",
                            src,
                            req,
                        )
                    if not owned(callee) or not has_sidecar(index, callee):
                        yield Probe(
                            "edge-no-sidecar",
                            caller.name,
                            callee.name,
                            detail + " (callee without sidecar)",
                            Expect(True, callee.fqdn),
                            "send-bare",
                            src,
                            req,
                        )
            if not index.mesh.spec.security.authorization.default_deny or not has_sidecar(index, callee):
                continue
            twins = [s for s in sharing[_principal(index, caller)] if s is not caller]
            if twins:  # services sharing the identity: what any of them declares is admitted
                calls = calls + [c for t in twins for c in t.model.calls if c.service == callee.name]
                for call in calls:
                    declared_ports.update(p.number for p in call_ports(callee, call))
            yield from _least_privilege(index, caller, callee, calls, declared_ports, src)


def _least_privilege(
    index: MeshIndex,
    caller: ServiceInfo,
    callee: ServiceInfo,
    calls: list,
    declared_ports: set[int],
    src: Workload,
) -> Iterator[Probe]:
    deny = Expect(False)
    for port in callee.ports:
        if port.number not in declared_ports and _has_identity(index, callee, port):
            req = _request(callee, port, None, None)
            yield Probe(
                "least-privilege",
                caller.name,
                callee.name,
                f":{port.number} (undeclared port)",
                deny,
                "send",
                src,
                req,
            )
    http_ports = [
        p for p in callee.ports if _http(p) and p.number in declared_ports and _has_identity(index, callee, p)
    ]
    if not http_ports:
        return
    if all(call.methods for call in calls):
        allowed = {m for call in calls for m in call.methods}
        other = next((m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in allowed), None)
        if other is not None:
            port = http_ports[0]
            paths: list[str] = next((call.paths for call in calls if call.paths), [])
            req = _request(callee, port, other, intent.concrete_path(paths[0]) if paths else None)
            yield Probe(
                "least-privilege",
                caller.name,
                callee.name,
                f":{port.number} {other} (undeclared method)",
                deny,
                "send",
                src,
                req,
            )
    if all(call.paths for call in calls):
        port = http_ports[0]
        method = next((call.methods[0] for call in calls if call.methods), None)
        req = _request(callee, port, method, "/meshc-probe-undeclared")
        yield Probe(
            "least-privilege",
            caller.name,
            callee.name,
            f":{port.number} {req.method} {req.path} (undeclared path)",
            deny,
            "send",
            src,
            req,
        )


def _principal(index: MeshIndex, info: ServiceInfo) -> str:
    return index.principal(info.namespace, info.account)


def _admitted(index: MeshIndex, sw: SpecWorld) -> dict[str, set[str]]:
    """Callee -> the identities the spec admits: its declared callers' and its gateways'."""
    out: dict[str, set[str]] = {}
    for info in index.services.values():
        for call in info.model.calls:
            out.setdefault(call.service, set()).add(_principal(index, info))
    for _, gw in index.gateways.values():
        pods = sw.gateways.get(gw.name)
        if not pods:
            continue
        for route in gw.routes:
            out.setdefault(route.to.service, set()).add(pods[0].principal(index.trust_domain))
    return out


def _non_edges(index: MeshIndex, sw: SpecWorld, seed: int) -> tuple[int, bool, list[Probe]]:
    services = [s for s in index.services.values() if sw.runs(s.name)]
    declared = {(c.name, call.service) for c in services for call in c.model.calls}
    callees = [s for s in services if s.ports and has_sidecar(index, s)]
    n = len(services)
    callee_names = {c.name for c in callees}
    undeclared = (
        n * len(callees) - sum(1 for (a, b) in declared if b in callee_names and a != b) - len(callees)
    )
    allow = not index.mesh.spec.security.authorization.default_deny
    sampled = n > FULL_PAIRS
    pairs: list[tuple[ServiceInfo, ServiceInfo]] = []
    if not sampled:
        pairs = [(a, b) for a in services for b in callees if a is not b and (a.name, b.name) not in declared]
    else:
        pairs = _stratified(index, services, callees, declared, random.Random(seed))
    admitted = _admitted(index, sw)
    probes: list[Probe] = []
    for a, b in pairs:
        src = sw.caller(a.name)
        if src is None or _principal(index, a) in admitted.get(b.name, ()):
            continue  # it shares the identity of a declared caller: Istio cannot tell them apart
        ports = [p for p in b.ports if _has_identity(index, b, p)]
        for port in ports if not sampled else ports[:1]:
            req = _request(b, port, None, None)
            expect = Expect(True, b.fqdn) if allow else Expect(False)
            probes.append(Probe("non-edge", a.name, b.name, f":{port.number}", expect, "send", src, req))
            if allow:  # without defaultDeny, authorization alone must let it in too
                probes.append(
                    Probe(
                        "non-edge",
                        a.name,
                        b.name,
                        f":{port.number} (authorization only)",
                        expect,
                        "send-unscoped",
                        src,
                        req,
                    )
                )
    for gw_name, workloads in sorted(sw.gateways.items()):
        same_pods = [other for other, w in sw.gateways.items() if w and workloads and w[0] == workloads[0]]
        routed = {r.to.service for other in same_pods for r in index.gateways[other][1].routes}
        me = workloads[0].principal(index.trust_domain)
        if sampled:
            pool = random.Random(seed).sample(callees, min(len(callees), 40))
            others = [b for b in pool if b.name not in routed and me not in admitted.get(b.name, ())][:20]
        else:
            others = [b for b in callees if b.name not in routed and me not in admitted.get(b.name, ())]
        for b in others:
            first = next((p for p in b.ports if _has_identity(index, b, p)), None)
            if first is None:
                continue  # plaintext only: no identity to tell the gateway apart (MC127)
            req = _request(b, first, None, None)
            expect = Expect(True, b.fqdn) if allow else Expect(False)
            probes.append(
                Probe(
                    "non-edge",
                    f"gateway/{gw_name}",
                    b.name,
                    f":{first.number}",
                    expect,
                    "send",
                    workloads[0],
                    req,
                )
            )
    return undeclared, sampled, probes


def _stratified(
    index: MeshIndex,
    services: list[ServiceInfo],
    callees: list[ServiceInfo],
    declared: set[tuple[str, str]],
    rng: random.Random,
) -> list[tuple[ServiceInfo, ServiceInfo]]:
    """Undeclared pairs most likely to be wrongly allowed, then random ones: callers of callers
    (two hops), reversed edges, same namespace, other namespaces; SAMPLE_PER_STRATUM each."""
    by_ns: dict[str, list[ServiceInfo]] = {}
    for s in callees:
        by_ns.setdefault(s.namespace, []).append(s)
    strata: dict[str, list[tuple[ServiceInfo, ServiceInfo]]] = {
        "two-hop": [],
        "reverse": [],
        "same-ns": [],
        "other-ns": [],
    }
    for a in rng.sample(services, min(len(services), SAMPLE_PER_STRATUM)):
        for call in a.model.calls:
            mid = index.services.get(call.service)
            if mid is None:
                continue
            for second in mid.model.calls:
                b = index.services.get(second.service)
                if b is not None and b is not a and (a.name, b.name) not in declared and b in callees:
                    strata["two-hop"].append((a, b))
                    break
            if (mid.name, a.name) not in declared and a in callees:
                strata["reverse"].append((mid, a))
        same = by_ns.get(a.namespace, [])
        if same:
            b = rng.choice(same)
            if b is not a and (a.name, b.name) not in declared:
                strata["same-ns"].append((a, b))
        b = rng.choice(callees)
        if b is not a and b.namespace != a.namespace and (a.name, b.name) not in declared:
            strata["other-ns"].append((a, b))
    chosen: dict[tuple[str, str], tuple[ServiceInfo, ServiceInfo]] = {}
    for name in sorted(strata):
        for a, b in strata[name][:SAMPLE_PER_STRATUM]:
            chosen.setdefault((a.name, b.name), (a, b))
    return [chosen[k] for k in sorted(chosen)]


def _gateways(index: MeshIndex, sw: SpecWorld, routes_per_gateway: int | None) -> Iterator[Probe]:
    for _, gw in index.gateways.values():
        pods = sw.gateways.get(gw.name)
        if not pods:
            continue
        pod = pods[0]
        servers = [s for s in gw.servers if not s.https_redirect]
        for k, route in enumerate(gw.routes[:routes_per_gateway]):
            target = index.services.get(route.to.service)
            if target is None:
                continue
            http = index.gateway_route_is_http(route) is not False
            for server in servers:
                if (server.protocol in ("tcp", "tls")) == http:
                    continue
                served = server.hosts or gw.hosts
                hosts = route.hosts or served
                for pattern in intent.unique([h for h in hosts if _served(served, h)]):
                    yield from _gateway_route(
                        index, gw, k, route, server.port, intent.concrete_host(pattern), pod, http
                    )
        if gw.jwt is not None and gw.selector == SHARED_GATEWAY:
            # Another team's host on the shared gateway pods, with their issuer's token: not ours to refuse.
            for server in servers:
                if server.protocol in ("tcp", "tls"):
                    continue
                req = Request(OTHER_HOST, server.port, "http", "GET", "/", token=Token(OTHER_ISSUER))
                yield Probe(
                    "gateway",
                    "external",
                    f"gateway/{gw.name}",
                    f":{server.port} Host: {OTHER_HOST} (another team's host, its own JWT)",
                    Expect(False, neutral=True, advisory=True),
                    "ingress",
                    pod,
                    req,
                )


def _gateway_route(
    index: MeshIndex, gw, k: int, route, port: int, host: str, pod: Workload, http: bool
) -> Iterator[Probe]:
    first = route.match[0] if route.match else None
    path = intent.concrete(first.path if first else None, "/")
    method = intent.concrete(first.method if first else None, "GET")
    headers = {n: intent.concrete(m, "") for n, m in (first.headers.items() if first else [])}
    claims = {n: intent.concrete(m, "") for n, m in (first.claims.items() if first else [])}
    if path is None or method is None or None in headers.values() or None in claims.values():
        return  # a regex condition: no concrete request stands for it
    if not http:
        req = Request(host, port, "tcp")
        info = index.services[route.to.service]
        yield Probe(
            "gateway",
            "external",
            f"gateway/{gw.name}",
            f"routes[{k}] :{port} tcp",
            Expect(True, info.fqdn),
            "ingress",
            pod,
            req,
        )
        return
    hdrs = tuple(sorted((n.lower(), str(v)) for n, v in headers.items()))
    label = f"routes[{k}]{f' ({route.name})' if route.name else ''}"
    claimed = tuple(sorted((n, str(v)) for n, v in claims.items()))
    valid = Token(gw.jwt.issuer, claims=claimed, audiences=tuple(gw.jwt.audiences)) if gw.jwt else None

    def expectation(authority: str, token: Token | None) -> Expect:
        chosen = intent.gateway_route(
            gw,
            host=authority,
            path=path,
            method=method,
            headers=dict(hdrs),
            claims=dict(token.claims) if token else None,
            port=port,
        )
        if chosen is None:
            return Expect(False)
        _, taken = chosen
        if intent.requires_jwt(gw, taken) and token is None:
            return Expect(False)
        info = index.services[taken.to.service]
        split = intent.default_versions(info) if info.traffic.split else None
        return Expect(True, info.fqdn, tuple(sorted(split.items())) if split else None)

    for authority in (host, f"{host}:{port}"):
        base = Request(host, port, "http", method, path, authority=authority, headers=hdrs)
        yield Probe(
            "gateway",
            "external",
            f"gateway/{gw.name}",
            f"{label} :{port} Host: {authority} {method} {path}" + (" with JWT" if valid else ""),
            expectation(authority, valid),
            "ingress",
            pod,
            _with(base, valid),
        )
        if gw.jwt is None:
            continue
        yield Probe(
            "gateway",
            "external",
            f"gateway/{gw.name}",
            f"{label} :{port} Host: {authority} {method} {path} without JWT",
            expectation(authority, None),
            "ingress",
            pod,
            base,
        )
        if claims:
            info = index.services[route.to.service]
            without = Token(gw.jwt.issuer, audiences=tuple(gw.jwt.audiences))
            forbidden = (info.fqdn, intent.rewritten_path(route, path) or "/")
            yield Probe(
                "gateway",
                "external",
                f"gateway/{gw.name}",
                f"{label} :{port} Host: {authority} {method} {path} with JWT lacking {dict(claims)}",
                Expect(False, forbidden=forbidden),
                "ingress",
                pod,
                _with(base, without),
            )
        if not intent.requires_jwt(gw, route):
            other = Token(OTHER_ISSUER)
            yield Probe(
                "gateway",
                "external",
                f"gateway/{gw.name}",
                f"{label} :{port} Host: {authority} {method} {path}"
                " with another issuer's JWT (route needs none)",
                replace(expectation(authority, None), advisory=True),
                "ingress",
                pod,
                _with(base, other),
            )
    elsewhere = Request(OTHER_HOST, port, "http", method, path, authority=OTHER_HOST, headers=hdrs)
    if not any(h == "*" for s in gw.servers for h in (s.hosts or gw.hosts)):
        yield Probe(
            "gateway",
            "external",
            f"gateway/{gw.name}",
            f"{label} :{port} Host: {OTHER_HOST} {method} {path}",
            Expect(False),
            "ingress",
            pod,
            _with(elsewhere, valid),
        )


def _served(server_hosts: list[str], host: str) -> bool:
    """A route host the server serves (its hosts, `*`, `*.suffix`): only there can a request for it
    arrive on that server's port."""
    concrete = intent.concrete_host(host)
    return any(dns_match(h, concrete) for h in server_hosts)


def _with(req: Request, token: Token | None) -> Request:
    return replace(req, token=token)


def _egress(index: MeshIndex, sw: SpecWorld) -> Iterator[Probe]:
    by_ns: dict[str, list[ServiceInfo]] = {}
    for s in index.services.values():
        by_ns.setdefault(s.namespace, []).append(s)
    control_plane = index.mesh.spec.control_plane.namespace
    for _, eg in index.egress.values():
        callers = [index.services[c] for c in eg.callers if c in index.services]
        names = {c.name for c in callers}
        gw_fqdn = (
            f"{eg.gateway.service}.{eg.gateway.namespace}.svc.{index.cluster_domain}" if eg.gateway else None
        )
        namespaces = sorted({c.namespace for c in callers})
        neighbours = [(ns, next((s for s in by_ns[ns] if s.name not in names), None)) for ns in namespaces]
        stranger = next((s for s in index.services.values() if s.name not in names), None)
        for port in eg.ports:
            protocol = (
                "tls"
                if port.protocol in ("tls", "https")
                else "http"
                if port.protocol in ("http", "http2", "grpc")
                else "tcp"
            )
            for pattern in eg.hosts:
                host = intent.concrete_host(pattern)
                req = Request(
                    host,
                    port.port,
                    protocol,
                    "GET" if protocol == "http" else None,
                    "/" if protocol == "http" else None,
                )
                for c in callers:
                    src = sw.caller(c.name)
                    if src is not None:
                        yield Probe(
                            "egress", c.name, host, f":{port.port}", Expect(True, host), "send", src, req
                        )
                for _, outsider in neighbours:
                    src = sw.caller(outsider.name) if outsider is not None else None
                    if outsider is not None and src is not None:
                        yield Probe(
                            "egress",
                            outsider.name,
                            host,
                            f":{port.port} (not a caller, same namespace)",
                            # An entry the spec puts into the control-plane namespace, which every
                            # Sidecar imports, is visible to all (MC129 warns): advisory there.
                            Expect(False, advisory=eg.namespace == control_plane),
                            "send",
                            src,
                            req,
                        )
                src = sw.caller(stranger.name) if stranger is not None else None
                if gw_fqdn is not None and stranger is not None and src is not None:
                    direct = Request(
                        gw_fqdn, port.port, protocol, req.method, req.path, authority=host, sni=host
                    )
                    yield Probe(
                        "egress",
                        stranger.name,
                        host,
                        f":{port.port} (not a caller, straight to the egress gateway)",
                        Expect(False),
                        "send",
                        src,
                        direct,
                    )


def _plaintext(index: MeshIndex, sw: SpecWorld, seed: int) -> Iterator[Probe]:
    deny_by_default = index.mesh.spec.security.authorization.default_deny
    services = [s for s in index.services.values() if s.ports and has_sidecar(index, s) and sw.runs(s.name)]
    if len(services) > FULL_PAIRS:
        services = sorted(
            random.Random(seed).sample(services, SAMPLE_PER_STRATUM // 2), key=lambda s: s.index
        )
    for info in services:
        for port in info.ports:
            mode = _port_mode(index, info, port)
            if mode == "DISABLE":
                continue  # no identity on the port: default-deny cannot tell callers apart there
            refused = mode == "STRICT" or deny_by_default
            expect = Expect(False) if refused else Expect(True, info.fqdn)
            req = _request(info, port, None, None)
            yield Probe(
                "plaintext",
                f"probe/legacy.{info.namespace}",
                info.name,
                f":{port.number} (mTLS {mode})",
                expect,
                "plaintext",
                sw.legacy(info.namespace),
                req,
            )


def _has_identity(index: MeshIndex, info: ServiceInfo, port: ResolvedPort) -> bool:
    """Whether callers of the port can be told apart: not when its mTLS is DISABLE (plaintext carries
    no principal), so undeclared callers are only probed where identity exists."""
    return _port_mode(index, info, port) != "DISABLE"


def _port_mode(index: MeshIndex, info: ServiceInfo, port: ResolvedPort) -> str:
    security = info.model.security
    if security is not None:
        for entry in security.port_mtls:
            if entry.port in (port.number, port.target):
                return entry.mode
    return index.mtls_mode(info)


def _foreign(index: MeshIndex, sw: SpecWorld) -> Iterator[Probe]:
    yield Probe(
        "foreign",
        sw.foreign.name,
        sw.foreign.namespace,
        "(a workload outside the mesh)",
        Expect(False, neutral=True),
        "foreign",
        sw.foreign,
    )
    yield Probe(
        "foreign",
        "output",
        "shared namespaces",
        "(names carry the mesh's name)",
        Expect(True),
        "names",
        sw.foreign,
    )
