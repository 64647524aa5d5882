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
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace

from meshc.spec.models import HTTP_PROTOCOLS

from ..index import MeshIndex, ResolvedPort, ServiceInfo, call_ports, same_edge_routes
from . import access, intent
from .access import Sender
from .matching import authz_value, dns_match, host_part
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


def _request(
    info: ServiceInfo,
    port: ResolvedPort,
    method: str | None,
    path: str | None,
    *,
    with_token: bool = False,
    claims: dict[str, str] | None = None,
) -> Request:
    """`with_token`: a token the service's own `jwt` accepts, when it validates tokens on the port
    (so that the probe tests what it names, not the token)."""
    if _http(port):
        token = access.valid_token(info, claims) if with_token and access.jwt_applies(info, port) else None
        return Request(info.fqdn, port.number, "http", method or "GET", path or "/", token=token)
    return Request(info.fqdn, port.number, "tcp")


def _plaintext_address(index: MeshIndex, callee: ServiceInfo, port: ResolvedPort, req: Request) -> str | None:
    """An address inside the `ipBlocks` of the first plaintext source of `callee` that admits the
    request: the spec declares a caller without sidecar there (MC123 refuses it otherwise)."""
    for rule in access.allow_rules(callee):
        if not rule.source.plaintext:
            continue
        ip = access.inside_ip(rule.source.ip_blocks or [])
        sender = Sender(None, ip, req.token)
        if access.rule_admits(index, callee, rule, port, sender, req.method, req.path):
            return ip
    return None


def _token_probes(
    index: MeshIndex,
    caller: ServiceInfo,
    callee: ServiceInfo,
    port: ResolvedPort,
    req: Request,
    src: Workload,
) -> Iterator[Probe]:
    """A declared caller's request to a service with its own `jwt`: without a token, with another
    issuer's, with one lacking the required claims; each as the spec says (denied when required)."""
    base = f":{port.number} {req.method} {req.path}"
    jwt = access.jwt_of(callee)
    assert jwt is not None
    variants: list[tuple[str, Token | None]] = [
        ("without JWT", None),
        ("with another issuer's JWT", Token(OTHER_ISSUER)),
    ]
    if jwt.require_claims:
        first = jwt.issuers[0]
        variants.append(
            (
                f"with JWT lacking {sorted(jwt.require_claims)}",
                Token(first.issuer, audiences=tuple(first.audiences)),
            )
        )
    for label, token in variants:
        expect = Expect(True, callee.fqdn) if access.token_passes(callee, port, token) else Expect(False)
        yield Probe(
            "jwt", caller.key, callee.key, f"{base} {label}", expect, "send", src, replace(req, token=token)
        )


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


ANSWERED = "answered by the proxy: redirect or direct response"


def _proxy_answers(workload: Workload, info: ServiceInfo, port: ResolvedPort, req: Request) -> bool:
    """`workload`'s own proxy answers the request (see `_answered`): the service is never called,
    whatever its authorization would say, so every probe of that request expects it not to arrive."""
    return workload.sidecar and _answered(info, port, req)


def plan(index: MeshIndex, sw: SpecWorld, *, seed: int = 0, focus: frozenset[str] | None = None) -> Plan:
    """The probes of the spec. `focus` (an incremental compile): only those about these services
    (their edges, undeclared pairs among them, gateway routes and egress entries to or from them,
    their plaintext and authorization-source probes), sampled as for the whole mesh when the
    whole mesh is big."""
    probes: list[Probe] = []
    every = list(index.services.values())
    subjects = every if focus is None else [s for s in every if s.key in focus]
    callers = subjects
    sampled = len(every) > FULL_PAIRS
    if sampled:  # every k-th service in namespace order: each namespace keeps its share
        ordered = sorted(callers, key=lambda s: (s.namespace, s.index))
        step = max(1, len(ordered) // SAMPLED_CALLERS)
        callers = ordered[::step]
    probes += _edges(index, sw, callers)
    # Undeclared pairs are sampled beyond FULL_PAIRS services that run; a focused plan samples
    # its few services as the whole mesh's plan would.
    pairs, _, found = _non_edges(index, sw, seed, subjects, sampled if focus is not None else None)
    probes += found
    probes += _gateways(index, sw, SAMPLED_ROUTES_PER_GATEWAY if sampled else None, focus)
    probes += _egress(index, sw, subjects)
    probes += _plaintext(index, sw, seed, subjects)
    probes += _sources(index, sw, subjects)
    probes += _foreign(index, sw)
    edges = {(c.key, callee.key) for c in subjects for callee in index.callees(c)}
    probed = {(p.source, p.target) for p in probes if p.kind == "edge"}
    return Plan(probes, pairs, sampled, len(edges), len(probed))


def _edges(index: MeshIndex, sw: SpecWorld, callers: list[ServiceInfo]) -> Iterator[Probe]:
    sharing: dict[str, list[ServiceInfo]] = {}
    for info in index.services.values():
        sharing.setdefault(_principal(index, info), []).append(info)
    for caller in callers:
        src = sw.caller(caller.key)
        if src is None:
            continue
        by_callee: dict[str, list] = {}
        for call in caller.model.calls:
            target = index.resolve(call.service)
            if target is not None:
                by_callee.setdefault(target.key, []).append(call)
        for callee_key, calls in sorted(by_callee.items()):
            callee = index.services[callee_key]
            if callee is caller or not sw.runs(callee.key):
                continue
            declared_ports: set[int] = set()
            for call in calls:
                ports = call_ports(callee, call)  # named ports, else those of its `protocol`, else all
                declared_ports.update(p.number for p in ports)
                method = call.methods[0] if call.methods else None
                path = intent.concrete_path(call.paths[0]) if call.paths else None
                for port in ports:
                    req = _request(callee, port, method, path, with_token=True)
                    if not src.sidecar:  # plain text: from the addresses the callee admits it from
                        req = replace(req, source_ip=_plaintext_address(index, callee, port, req))
                    detail = f":{port.number}" + (f" {req.method} {req.path}" if req.http else " tcp")
                    if _proxy_answers(src, callee, port, req):
                        expect = Expect(False, callee.fqdn)
                        detail += f" ({ANSWERED})"
                        yield Probe("edge", caller.key, callee.key, detail, expect, "send", src, req)
                        continue
                    if req.token is not None:
                        detail += " with JWT"
                        yield from _token_probes(index, caller, callee, port, req, src)
                    versions = _versions(callee, port, req)
                    if src.sidecar or versions is None:
                        expect = Expect(True, callee.fqdn, versions)
                        yield Probe("edge", caller.key, callee.key, detail, expect, "send", src, req)
                    else:
                        # Istio routes at the client's proxy: a caller without a sidecar reaches
                        # the service, but no output can split its traffic (the fix is injecting
                        # the caller); the split is reported, advisory.
                        yield Probe(
                            "edge",
                            caller.key,
                            callee.key,
                            detail,
                            Expect(True, callee.fqdn),
                            "send",
                            src,
                            req,
                        )
                        yield Probe(
                            "edge",
                            caller.key,
                            callee.key,
                            detail + " (split; caller without sidecar)",
                            Expect(True, callee.fqdn, versions, advisory=True),
                            "send",
                            src,
                            req,
                        )
                    if not owned(callee) or not has_sidecar(index, callee):
                        yield Probe(
                            "edge-no-sidecar",
                            caller.key,
                            callee.key,
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
                calls = calls + [
                    c for t in twins for c in t.model.calls if index.resolve(c.service) is callee
                ]
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
    sender = Sender(caller.namespace, token=access.valid_token(callee))
    for port in callee.ports:
        if port.number not in declared_ports and _has_identity(index, callee, port):
            req = _request(callee, port, None, None, with_token=True)
            if access.admitted_by_sources(index, callee, port, sender, req.method, req.path) is not None:
                continue  # an extra source of the callee admits it (`security.allow`)
            yield Probe(
                "least-privilege",
                caller.key,
                callee.key,
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
            req = _request(
                callee, port, other, intent.concrete_path(paths[0]) if paths else None, with_token=True
            )
            admitted = access.admitted_by_sources(index, callee, port, sender, req.method, req.path)
            if admitted is None:
                yield Probe(
                    "least-privilege",
                    caller.key,
                    callee.key,
                    f":{port.number} {other} (undeclared method)",
                    deny,
                    "send",
                    src,
                    req,
                )
    undeclared = "/meshc-probe-undeclared"
    if all(call.paths for call in calls) and not any(
        authz_value(p, undeclared) for call in calls for p in call.paths
    ):  # a declared `*` or `/*` admits every path: there is no undeclared one to probe
        port = http_ports[0]
        method = next((call.methods[0] for call in calls if call.methods), None)
        req = _request(callee, port, method, undeclared, with_token=True)
        if access.admitted_by_sources(index, callee, port, sender, req.method, req.path) is not None:
            return
        yield Probe(
            "least-privilege",
            caller.key,
            callee.key,
            f":{port.number} {req.method} {req.path} (undeclared path)",
            deny,
            "send",
            src,
            req,
        )


def _principal(index: MeshIndex, info: ServiceInfo) -> str:
    return index.principal(info.namespace, info.account)


class _Admitted:
    """Callee -> the identities the spec admits: its declared callers' and its gateways'. Worked
    out per callee asked for (a probe plan asks for a few hundred of 10,000 services)."""

    def __init__(self, index: MeshIndex, sw: SpecWorld) -> None:
        self.index = index
        self.gateways: dict[str, set[str]] = {}
        for _, gw in index.gateways.values():
            pods = sw.gateways.get(gw.name)
            if not pods:
                continue
            for route in gw.routes:
                target = index.resolve(route.to.service)
                if target is not None:
                    self.gateways.setdefault(target.key, set()).add(pods[0].principal(index.trust_domain))
        self.found: dict[str, frozenset[str]] = {}

    def get(self, key: str, default: Collection[str] = ()) -> Collection[str]:
        found = self.found.get(key)
        if found is None:
            info = self.index.services.get(key)
            if info is None:
                return default
            callers = {_principal(self.index, edge.caller) for edge in info.callers}
            found = self.found[key] = frozenset(callers | self.gateways.get(key, set()))
        return found or default


def _admitted(index: MeshIndex, sw: SpecWorld) -> _Admitted:
    return _Admitted(index, sw)


def _non_edges(
    index: MeshIndex, sw: SpecWorld, seed: int, subjects: list[ServiceInfo], sampled: bool | None
) -> tuple[int, bool, list[Probe]]:
    services = [s for s in subjects if sw.runs(s.key)]
    declared = {(c.key, callee.key) for c in services for callee in index.callees(c)}
    callees = [s for s in services if s.ports and has_sidecar(index, s)]
    n = len(services)
    if sampled is None:
        sampled = n > FULL_PAIRS
    callee_names = {c.key for c in callees}
    undeclared = (
        n * len(callees) - sum(1 for (a, b) in declared if b in callee_names and a != b) - len(callees)
    )
    allow = not index.mesh.spec.security.authorization.default_deny
    pairs: list[tuple[ServiceInfo, ServiceInfo]] = []
    if not sampled:
        pairs = [(a, b) for a in services for b in callees if a is not b and (a.key, b.key) not in declared]
    else:
        pairs = _stratified(index, services, callees, declared, random.Random(seed))
    admitted = _admitted(index, sw)
    probes: list[Probe] = []
    for a, b in pairs:
        src = sw.caller(a.key)
        if src is None or _principal(index, a) in admitted.get(b.key, ()):
            continue  # it shares the identity of a declared caller: Istio cannot tell them apart
        ports = [p for p in b.ports if _has_identity(index, b, p)]
        for port in ports if not sampled else ports[:1]:
            req = _request(b, port, None, None, with_token=True)
            sender = Sender(a.namespace, token=req.token)
            k = access.admitted_by_sources(index, b, port, sender, req.method, req.path)
            detail = f":{port.number}" + (f" (admitted by security.allow[{k}])" if k is not None else "")
            expect = Expect(True, b.fqdn) if allow or k is not None else Expect(False)
            if _proxy_answers(src, b, port, req):
                expect, detail = Expect(False, b.fqdn), f"{detail} ({ANSWERED})"
            probes.append(Probe("non-edge", a.key, b.key, detail, expect, "send", src, req))
            if allow:  # without defaultDeny, authorization alone must let it in too
                probes.append(
                    Probe(
                        "non-edge",
                        a.key,
                        b.key,
                        f":{port.number} (authorization only)",
                        expect,
                        "send-unscoped",
                        src,
                        req,
                    )
                )
    routes_to: dict[str, set[str]] = {}
    for gw_name in sw.gateways:
        found = (index.resolve(r.to.service) for r in index.gateways[gw_name][1].routes)
        routes_to[gw_name] = {target.key for target in found if target is not None}
    for gw_name, workloads in sorted(sw.gateways.items()):
        same_pods = [other for other, w in sw.gateways.items() if w and workloads and w[0] == workloads[0]]
        routed = {key for other in same_pods for key in routes_to[other]}
        me = workloads[0].principal(index.trust_domain)
        if sampled:
            pool = random.Random(seed).sample(callees, min(len(callees), 40))
            others = [b for b in pool if b.key not in routed and me not in admitted.get(b.key, ())][:20]
        else:
            others = [b for b in callees if b.key not in routed and me not in admitted.get(b.key, ())]
        for b in others:
            first = next((p for p in b.ports if _has_identity(index, b, p)), None)
            if first is None:
                continue  # plaintext only: no identity to tell the gateway apart (MC127)
            req = _request(b, first, None, None, with_token=True)
            sender = Sender(workloads[0].namespace, token=req.token)
            k = access.admitted_by_sources(index, b, first, sender, req.method, req.path)
            expect = Expect(True, b.fqdn) if allow or k is not None else Expect(False)
            detail = f":{first.number}" + (f" (admitted by security.allow[{k}])" if k is not None else "")
            if _proxy_answers(workloads[0], b, first, req):
                expect, detail = Expect(False, b.fqdn), f"{detail} ({ANSWERED})"
            probes.append(
                Probe(
                    "non-edge",
                    f"gateway/{gw_name}",
                    b.key,
                    detail,
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
            mid = index.resolve(call.service)
            if mid is None:
                continue
            for second in mid.model.calls:
                b = index.resolve(second.service)
                if b is not None and b is not a and (a.key, b.key) not in declared and b in callees:
                    strata["two-hop"].append((a, b))
                    break
            if (mid.key, a.key) not in declared and a in callees:
                strata["reverse"].append((mid, a))
        same = by_ns.get(a.namespace, [])
        if same:
            b = rng.choice(same)
            if b is not a and (a.key, b.key) not in declared:
                strata["same-ns"].append((a, b))
        b = rng.choice(callees)
        if b is not a and b.namespace != a.namespace and (a.key, b.key) not in declared:
            strata["other-ns"].append((a, b))
    chosen: dict[tuple[str, str], tuple[ServiceInfo, ServiceInfo]] = {}
    for name in sorted(strata):
        for a, b in strata[name][:SAMPLE_PER_STRATUM]:
            chosen.setdefault((a.key, b.key), (a, b))
    return [chosen[k] for k in sorted(chosen)]


def _gateways(
    index: MeshIndex, sw: SpecWorld, routes_per_gateway: int | None, focus: frozenset[str] | None = None
) -> Iterator[Probe]:
    for _, gw in index.gateways.values():
        pods = sw.gateways.get(gw.name)
        if not pods:
            continue
        pod = pods[0]
        servers = [s for s in gw.servers if not s.https_redirect]
        routes = list(enumerate(gw.routes))
        if focus is not None:
            routes = [(k, r) for k, r in routes if _key(index, r.to.service) in focus]
        for k, route in routes[:routes_per_gateway]:
            target = index.resolve(route.to.service)
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


def _key(index: MeshIndex, ref: str) -> str | None:
    target = index.resolve(ref)
    return target.key if target is not None else None


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
    # A route whose backend admits only some methods and paths (`to.methods`, `to.paths`) is probed
    # with one it admits, where the route's own match allows it (the others are `_gateway_limits`').
    if route.to.paths and route.rewrite is None:
        candidate = intent.concrete_path(route.to.paths[0])
        if first is None or _covers(first.path, candidate):
            path = candidate
    if route.to.methods and (first is None or first.method is None):
        method = route.to.methods[0]
    if not http:
        req = Request(host, port, "tcp")
        info = index.service(route.to.service)
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
    target = index.service(route.to.service)
    if valid is None and access.jwt_of(target) is not None:
        valid = access.valid_token(target, dict(claimed))  # the backend's own issuer, passed through
    client = _client_ip(gw, route)

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
        if _client_refused(gw, authority, path, client):
            return Expect(False)
        info = index.service(taken.to.service)
        if not _backend_admits(index, gw, taken, info, method, intent.rewritten_path(taken, path), token):
            return Expect(False)
        split = intent.default_versions(info) if info.traffic.split else None
        return Expect(True, info.fqdn, tuple(sorted(split.items())) if split else None)

    yield from _gateway_limits(index, gw, label, route, port, host, pod, method, path, hdrs, valid, client)
    for authority in (host, f"{host}:{port}"):
        base = Request(host, port, "http", method, path, authority=authority, headers=hdrs, source_ip=client)
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
        if gw.jwt is None and access.jwt_of(target) is None:
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
        if gw.jwt is None:
            continue
        if claims:
            info = index.service(route.to.service)
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
    elsewhere = Request(
        OTHER_HOST, port, "http", method, path, authority=OTHER_HOST, headers=hdrs, source_ip=client
    )
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


def _client_ip(gw, route) -> str | None:
    """The probing client's address: inside the route's `remoteIpBlocks`, else inside the first
    blocks of any route of the gateway (None when no route limits clients)."""
    for r in [route, *gw.routes]:
        if r.remote_ip_blocks:
            return access.inside_ip(r.remote_ip_blocks)
    return None


def _client_refused(gw, authority: str, path: str | None, client: str | None) -> bool:
    """Whether a route's `remoteIpBlocks` refuses `client` for this host and path: the spec limits
    each such route's hosts and paths (whichever route the request then takes)."""
    name = host_part(authority)
    for r in gw.routes:
        if not r.remote_ip_blocks or access.in_blocks(client, r.remote_ip_blocks):
            continue
        hosts = r.hosts or gw.hosts
        if not any(dns_match(h, name) for h in hosts):
            continue
        if not r.match or any(_covers(m.path, path) for m in r.match):
            return True
    return False


def _covers(match, path: str | None) -> bool:
    if match is None or match.regex is not None:
        return True
    if path is None:
        return False
    return path == match.exact if match.exact is not None else path.startswith(match.prefix or "")


def _edge_admits(route, method: str | None, path: str | None) -> bool:
    to = route.to
    if to.methods and method not in to.methods:
        return False
    return not to.paths or any(authz_value(p, path) for p in to.paths)


def _backend_admits(
    index: MeshIndex,
    gw,
    route,
    info: ServiceInfo,
    method: str | None,
    path: str | None,
    token: Token | None,
) -> bool:
    """What the service admits from the gateway on this route: `to.methods` and `to.paths` (the path
    it receives), and its own JWT with the token the gateway forwards (`forwardOriginalToken`)."""
    to = route.to
    port = info.port(to.port) if to.port else (info.ports[0] if len(info.ports) == 1 else None)
    http = port is None or _http(port)
    if http and not any(_edge_admits(r, method, path) for r in same_edge_routes(index, gw, route)):
        return False
    if port is None or not access.jwt_applies(info, port):
        return True
    forwarded = token
    if (
        token is not None
        and gw.jwt is not None
        and gw.jwt.issuer == token.issuer
        and not gw.jwt.forward_original_token
    ):
        forwarded = None
    return access.token_passes(info, port, forwarded)


def _gateway_limits(
    index: MeshIndex,
    gw,
    label: str,
    route,
    port: int,
    host: str,
    pod: Workload,
    method,
    path,
    hdrs,
    token,
    client,
) -> Iterator[Probe]:
    """The gateway-to-service edge's own limits: a method the route's `to.methods` does not list,
    and for `remoteIpBlocks` a client outside them, also one claiming an inside address in
    `X-Forwarded-For` (not believed: remote.ip is the peer)."""
    base = Request(
        host, port, "http", method, path, authority=host, headers=hdrs, token=token, source_ip=client
    )
    if route.to.methods:
        # The backend tells routes apart by nothing but the gateway's identity: a method another
        # route to the same port admits is admitted (MC198 warns), so only a method none admits.
        siblings = same_edge_routes(index, gw, route)
        other = next(
            (
                m
                for m in ("DELETE", "PATCH", "PUT", "POST", "GET")
                if not any(_edge_admits(r, m, intent.rewritten_path(route, path)) for r in siblings)
            ),
            None,
        )
        if other is not None:
            yield Probe(
                "gateway",
                "external",
                f"gateway/{gw.name}",
                f"{label} :{port} Host: {host} {other} {path} (method not in to.methods)",
                Expect(False),
                "ingress",
                pod,
                replace(base, method=other),
            )
    if route.remote_ip_blocks:
        outside = access.outside_ip(route.remote_ip_blocks)
        if outside is None:
            return
        spoofed = (*hdrs, ("x-forwarded-for", client or ""))
        for detail, req in (
            (f"from {outside}", replace(base, source_ip=outside)),
            (
                f"from {outside} claiming X-Forwarded-For: {client}",
                replace(base, source_ip=outside, headers=spoofed),
            ),
        ):
            yield Probe(
                "gateway",
                "external",
                f"gateway/{gw.name}",
                f"{label} :{port} Host: {host} {method} {path} {detail}",
                Expect(False),
                "ingress",
                pod,
                req,
            )


def _served(server_hosts: list[str], host: str) -> bool:
    """A route host the server serves (its hosts, `*`, `*.suffix`): only there can a request for it
    arrive on that server's port."""
    concrete = intent.concrete_host(host)
    return any(dns_match(h, concrete) for h in server_hosts)


def _with(req: Request, token: Token | None) -> Request:
    return replace(req, token=token)


def _egress(index: MeshIndex, sw: SpecWorld, subjects: list[ServiceInfo]) -> Iterator[Probe]:
    by_ns: dict[str, list[ServiceInfo]] = {}
    for s in subjects:
        by_ns.setdefault(s.namespace, []).append(s)
    control_plane = index.mesh.spec.control_plane.namespace
    for _, eg in index.egress.values():
        names = {c.key for c in index.egress_callers(eg)}
        callers = [c for c in index.egress_callers(eg) if c.namespace in by_ns]
        gw_fqdn = (
            f"{eg.gateway.service}.{eg.gateway.namespace}.svc.{index.cluster_domain}" if eg.gateway else None
        )
        namespaces = sorted({c.namespace for c in callers})
        neighbours = [(ns, next((s for s in by_ns[ns] if s.key not in names), None)) for ns in namespaces]
        stranger = next((s for s in subjects if s.key not in names), None)
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
                    src = sw.caller(c.key)
                    if src is not None:
                        yield Probe(
                            "egress", c.key, host, f":{port.port}", Expect(True, host), "send", src, req
                        )
                for _, outsider in neighbours:
                    src = sw.caller(outsider.key) if outsider is not None else None
                    if outsider is not None and src is not None:
                        yield Probe(
                            "egress",
                            outsider.key,
                            host,
                            f":{port.port} (not a caller, same namespace)",
                            # An entry the spec puts into the control-plane namespace, which every
                            # Sidecar imports, is visible to all (MC129 warns): advisory there.
                            Expect(False, advisory=eg.namespace == control_plane),
                            "send",
                            src,
                            req,
                        )
                src = sw.caller(stranger.key) if stranger is not None else None
                if gw_fqdn is not None and stranger is not None and src is not None:
                    direct = Request(
                        gw_fqdn, port.port, protocol, req.method, req.path, authority=host, sni=host
                    )
                    yield Probe(
                        "egress",
                        stranger.key,
                        host,
                        f":{port.port} (not a caller, straight to the egress gateway)",
                        Expect(False),
                        "send",
                        src,
                        direct,
                    )


def _plaintext(index: MeshIndex, sw: SpecWorld, seed: int, subjects: list[ServiceInfo]) -> Iterator[Probe]:
    deny_by_default = index.mesh.spec.security.authorization.default_deny
    services = [s for s in subjects if s.ports and has_sidecar(index, s) and sw.runs(s.key)]
    if len(services) > FULL_PAIRS:
        services = sorted(
            random.Random(seed).sample(services, SAMPLE_PER_STRATUM // 2), key=lambda s: s.index
        )
    for info in services:
        for port in info.ports:
            mode = _port_mode(index, info, port)
            if mode == "DISABLE":
                continue  # no identity on the port: default-deny cannot tell callers apart there
            req = _request(info, port, None, None, with_token=True)
            admitted = access.admitted_by_sources(
                index, info, port, Sender(None, token=req.token), req.method, req.path
            )
            refused = mode == "STRICT" or (deny_by_default and admitted is None)
            expect = Expect(False) if refused else Expect(True, info.fqdn)
            yield Probe(
                "plaintext",
                f"probe/legacy.{info.namespace}",
                info.key,
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


def _sources(index: MeshIndex, sw: SpecWorld, subjects: list[ServiceInfo]) -> Iterator[Probe]:
    """`source`: each extra authorization source of a service (`security.allow`), from a sender it
    names (admitted) and from its nearest neighbours it does not (refused): a mesh source from a
    workload of another namespace and from a pod without sidecar; a namespace source from that
    namespace and from another; a plaintext source from inside its address blocks, from outside
    them, and from a meshed workload that is no declared caller; claims with a token lacking them.
    Expectations come from the spec (`access`), so a wrong output disagrees with them."""
    for info in subjects:
        rules = access.allow_rules(info)
        if not rules or not has_sidecar(index, info) or not sw.runs(info.key):
            continue
        for k, rule in enumerate(rules):
            port = _rule_port(info, rule)
            if port is None or _port_mode(index, info, port) == "DISABLE":
                continue
            method = rule.methods[0] if rule.methods else None
            path = intent.concrete_path(rule.paths[0]) if rule.paths else None
            claims = {n: access.concrete_claim(v[0]) for n, v in sorted(rule.claims.items())}
            req = _request(info, port, method, path, with_token=True, claims=claims)
            blocks = rule.source.ip_blocks or []
            inside = access.inside_ip(blocks) if blocks else "10.0.0.9"
            senders: list[tuple[str, Workload, bool, str | None]] = []
            foreign = sw.foreign
            legacy = sw.legacy(info.namespace)
            if rule.source.namespaces:
                ns = sorted(rule.source.namespaces)[0]
                senders.append((f"meshed workload in {ns}", sw.meshed(ns), False, inside))
            # A service of this spec the source admits without a declared edge: its own Sidecar
            # (REGISTRY_ONLY) must let it reach the service too.
            declared = {e.caller.key for e in info.callers}
            own = next(
                (
                    o
                    for o in subjects
                    if o is not info
                    and o.key not in declared
                    and has_sidecar(index, o)
                    and sw.runs(o.key)
                    and (rule.source.mesh or o.namespace in rule.source.namespaces)
                ),
                None,
            )
            own_workload = sw.caller(own.key) if own is not None else None
            if own_workload is not None:
                senders.append(
                    (f"service {own_workload.name}, no declared caller", own_workload, False, inside)
                )
            senders.append((f"meshed workload in {foreign.namespace}", foreign, False, inside))
            senders.append(("pod without sidecar", legacy, True, inside))
            if blocks:
                outside = access.outside_ip(blocks)
                if outside is not None:
                    senders.append((f"pod without sidecar from {outside}", legacy, True, outside))
                    if not rule.source.plaintext:
                        senders.append((f"meshed workload from {outside}", foreign, False, outside))
            for label, workload, plaintext, ip in senders:
                sent = replace(req, source_ip=ip)
                expect = _access_expect(index, info, port, workload, plaintext, sent)
                detail = f"security.allow[{k}] :{port.number}" + (
                    f" {req.method} {req.path}" if req.http else ""
                )
                if _proxy_answers(workload, info, port, sent):
                    expect, label = Expect(False, info.fqdn), f"{label}; {ANSWERED}"
                yield Probe(
                    "source",
                    workload.name,
                    info.key,
                    f"{detail} ({label})",
                    expect,
                    "plaintext" if plaintext else "send",
                    workload,
                    sent,
                )
            if rule.claims and req.token is not None:
                lacking = access.valid_token(info)
                sent = replace(req, token=lacking, source_ip=inside)
                workload, plaintext = (legacy, True) if rule.source.plaintext else (foreign, False)
                if rule.source.namespaces:
                    workload = sw.meshed(sorted(rule.source.namespaces)[0])
                lacking_expect = (
                    Expect(False, info.fqdn)
                    if _proxy_answers(workload, info, port, sent)
                    else _access_expect(index, info, port, workload, plaintext, sent)
                )
                yield Probe(
                    "source",
                    workload.name,
                    info.key,
                    f"security.allow[{k}] :{port.number} {req.method} {req.path}"
                    f" (JWT lacking {sorted(rule.claims)})",
                    lacking_expect,
                    "plaintext" if plaintext else "send",
                    workload,
                    sent,
                )


def _rule_port(info: ServiceInfo, rule) -> ResolvedPort | None:
    ports = [p for p in (info.port(n) for n in rule.ports) if p is not None] if rule.ports else info.ports
    if rule.methods or rule.paths or rule.claims:
        ports = [p for p in ports if _http(p)]
    return ports[0] if ports else None


def _access_expect(
    index: MeshIndex, info: ServiceInfo, port: ResolvedPort, workload: Workload, plaintext: bool, req: Request
) -> Expect:
    """What the spec says about a request from a sender that is no declared caller of `info`."""
    identity = not plaintext and workload.sidecar
    if not identity and _port_mode(index, info, port) == "STRICT":
        return Expect(False)
    if not access.token_passes(info, port, req.token):
        return Expect(False)
    if not index.mesh.spec.security.authorization.default_deny:
        return Expect(True, info.fqdn)
    sender = Sender(workload.namespace if identity else None, req.source_ip, req.token)
    admitted = access.admitted_by_sources(index, info, port, sender, req.method, req.path)
    return Expect(True, info.fqdn) if admitted is not None else Expect(False)
