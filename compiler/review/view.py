"""A reviewer's view of a compiled mesh: the facts a diff compares, derived once from `MeshIndex`.

Everything is keyed by a stable identity (service name, caller -> callee, gateway + route name,
egress name) so that comparing two views is dictionary lookups, linear in the size of the mesh.
Values are plain, comparable data (tuples, frozen pydantic models), never positions in the spec,
so reordering a spec changes nothing here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from meshc.spec.models import (
    EgressTraffic,
    Gateway,
    GatewayRoute,
    Retries,
    Route,
    ServiceJwt,
    Telemetry,
    TelemetryOverride,
    TlsOrigination,
    Traffic,
    Workload,
    WorkloadDefaults,
    review_value_fields,
    wire_name,
)

from ..index import MeshIndex, ServiceInfo
from .access import allow_text
from .workloads import WorkloadView

MTLS_RANK = {"STRICT": 2, "PERMISSIVE": 1, "DISABLE": 0}


def canonical(value: Any) -> Any:
    """Plain JSON-like data for a model, list or scalar (for messages and JSON output)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


def compact(value: Any, limit: int = 80) -> str:
    """A short one-line rendering of a value for messages."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(canonical(value), sort_keys=True, separators=(", ", ": "))
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reviewed_values(model: BaseModel) -> dict[str, Any]:
    """The model's fields declared `FieldMeta(review="value")` that are set (not None), by
    attribute: the review diff compares them generically, with no code per field."""
    values = ((name, getattr(model, name)) for name, _ in review_value_fields(type(model)))
    return {name: value for name, value in values if value is not None}


@dataclass(frozen=True, slots=True)
class Restriction:
    """What one declared call allows: empty means "any"."""

    ports: tuple[int, ...]
    methods: tuple[str, ...]
    paths: tuple[str, ...]

    def covers(self, other: Restriction) -> bool:
        """Everything `other` allows is allowed by this one (paths compared literally)."""
        return all(
            not mine or (theirs and set(theirs) <= set(mine))
            for mine, theirs in (
                (self.ports, other.ports),
                (self.methods, other.methods),
                (self.paths, other.paths),
            )
        )

    def describe(self) -> str:
        parts = []
        if self.ports:
            parts.append("ports " + ",".join(str(p) for p in self.ports))
        if self.methods:
            parts.append(" ".join(self.methods))
        if self.paths:
            parts.append(" ".join(self.paths))
        return " ".join(parts) if parts else "any request"


@dataclass(frozen=True, slots=True)
class EdgeView:
    caller: str
    callee: str
    protocol: str
    restrictions: tuple[Restriction, ...]

    def describe(self) -> str:
        return "; ".join(r.describe() for r in self.restrictions)


@dataclass(frozen=True, slots=True)
class VersionView:
    image: str | None
    replicas: int


@dataclass(slots=True)
class ServiceView:
    name: str
    namespace: str
    clusters: tuple[str, ...]
    account: str
    ports: dict[int, str]
    """Service port -> protocol (`?` when unknown)."""
    versions: dict[str, VersionView]
    weights: dict[str, float] | None
    """Share of unmatched requests per version (percent), None when not weighted by the spec."""
    routes: dict[str, Route]
    timeout: str | None
    retries: Retries | None
    policies: dict[str, Any]
    """Other traffic settings (fault, mirror, connection pool, outlier detection, load balancer)."""
    mtls: str
    own_mtls: str | None
    port_mtls: dict[int, str]
    injection: bool
    own_injection: bool | None
    own_traffic: frozenset[str] = frozenset()
    """Traffic fields the service sets itself (the others come from `spec.defaults.traffic`)."""
    injection_mode: str = "auto"
    """`manual` when meshc writes the sidecar into this service's Deployments, else `auto`."""
    proxy_image: str | None = None
    """The proxy image manual injection pins the pods to (None in auto mode)."""
    revision: str | None = None
    """The control-plane revision the workload asks for (None: the default revision)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Fields of `Service` declared `FieldMeta(review="value")`, by attribute (see `reviewed_values`)."""
    access: tuple[str, ...] = ()
    """`security.allow`: one canonical line per source beyond the declared edges (review.access)."""
    jwt: ServiceJwt | None = None
    """`security.jwt`: the tokens the service validates and requires itself."""
    workload: WorkloadView | None = None
    """The effective settings of the Deployments meshc writes (None: it writes none)."""
    own_workload: Workload | None = None
    """The service's own `workload` (the rest comes from `spec.defaults.workload`)."""
    telemetry: TelemetryOverride | None = None
    """The service's own telemetry override."""


@dataclass(frozen=True, slots=True)
class PublicRoute:
    gateway: str
    key: str
    hosts: tuple[str, ...]
    match: tuple[Any, ...]
    service: str
    port: int | None
    requires_jwt: bool
    timeout: str | None
    rewrite: Any
    protocol: str
    required_claims: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """`requireClaims`: claim -> allowed values, enforced by authorization at the gateway."""
    backend_methods: tuple[str, ...] = ()
    """`to.methods`: what the service admits from the gateway (empty: any)."""
    backend_paths: tuple[str, ...] = ()
    """`to.paths` (empty: any)."""
    client_ips: tuple[str, ...] | None = None
    """`remoteIpBlocks` (None: any client)."""
    policy: str = "service"
    """`policy`: whether the route's requests get the service's own traffic policy (`service`) or
    only its split (`none`)."""

    @property
    def target(self) -> str:
        return f"{self.service}:{self.port}" if self.port else self.service

    def describe_match(self) -> str:
        if not self.match:
            return "every request"
        out = []
        for m in self.match:
            path = getattr(m, "path", None)
            if path is not None and len(getattr(m, "model_fields_set", ())) == 1:
                if path.exact is not None:
                    out.append(path.exact)
                elif path.prefix is not None:
                    out.append(path.prefix + "*")
                else:
                    out.append(f"~{path.regex}")
            else:
                out.append(compact(m, 60))
        return ", ".join(out)


@dataclass(frozen=True, slots=True)
class GatewayView:
    name: str
    namespace: str
    hosts: tuple[str, ...]
    servers: tuple[tuple[int, str, str | None], ...]
    """(port, protocol, TLS mode or None)."""
    jwt_issuer: str | None
    clusters: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)
    """Fields of `Gateway` declared `FieldMeta(review="value")`, by attribute."""


@dataclass(frozen=True, slots=True)
class EgressView:
    name: str
    namespace: str
    hosts: tuple[str, ...]
    callers: tuple[str, ...]
    ports: tuple[tuple[int, str], ...]
    via_gateway: bool
    values: dict[str, Any] = field(default_factory=dict)
    """Fields of `Egress` declared `FieldMeta(review="value")`, by attribute."""
    tls_origination: TlsOrigination | None = None
    """The proxy (sidecar or egress gateway) opens TLS to the hosts for the callers' HTTP."""
    traffic: EgressTraffic | None = None
    """Timeouts, retries and connection limits towards the hosts."""


@dataclass(slots=True)
class MeshView:
    name: str
    mtls: str
    default_deny: bool
    namespace_mtls: dict[str, str]
    """Effective mTLS per namespace the mesh owns."""
    namespace_own_mtls: dict[str, str | None]
    namespace_injection: dict[str, bool]
    services: dict[str, ServiceView] = field(default_factory=dict)
    edges: dict[tuple[str, str], EdgeView] = field(default_factory=dict)
    gateways: dict[str, GatewayView] = field(default_factory=dict)
    routes: dict[tuple[str, str], PublicRoute] = field(default_factory=dict)
    egress: dict[str, EgressView] = field(default_factory=dict)
    clusters: tuple[str, ...] = ()
    default_traffic: Traffic | None = None
    """`spec.defaults.traffic`: a change there changes every service that does not override it."""
    root_namespace: str = "istio-system"
    """Istio's root namespace: its mTLS mode is the whole cluster's."""
    mesh_wide: bool = False
    """`meshWide`: the spec writes the cluster-wide mTLS mode and telemetry."""
    default_workload: WorkloadDefaults | None = None
    """`spec.defaults.workload`: a change there changes every Deployment that does not override it."""
    telemetry: Telemetry | None = None
    """`spec.telemetry`: the providers and the mesh's tracing, access logging and metrics."""


def build_view(index: MeshIndex, qualify: frozenset[str] | None = None) -> MeshView:
    """The view of one revision. Services are named `namespace/name` when their name is in
    `qualify` (by default: the names several namespaces of this mesh hold), else by name; a diff
    passes the names either revision shares, so one service keeps one key on both sides."""
    spec = index.mesh.spec
    shared = index.shared_names if qualify is None else qualify

    def label(info: ServiceInfo) -> str:
        return info.qualified if info.name in shared else info.name

    def reference(ref: str) -> str:
        target = index.resolve(ref)
        return label(target) if target is not None else ref

    ns_settings = index.namespace_settings
    namespaces = index.app_namespaces
    view = MeshView(
        name=index.name,
        mtls=spec.security.mtls,
        default_deny=spec.security.authorization.default_deny,
        namespace_own_mtls={ns: ns_settings[ns].mtls if ns in ns_settings else None for ns in namespaces},
        namespace_mtls={},
        namespace_injection={ns: index.namespace_injection(ns).enabled for ns in namespaces},
        clusters=tuple(getattr(index, "clusters", None) or ()),
        default_traffic=spec.defaults.traffic,
        root_namespace=spec.control_plane.root_namespace,
        mesh_wide=spec.mesh_wide,
        default_workload=spec.defaults.workload,
        telemetry=spec.telemetry,
    )
    for ns, own in view.namespace_own_mtls.items():
        view.namespace_mtls[ns] = own or spec.security.mtls
    placement = getattr(index, "placement", None)
    for info in index.services.values():
        view.services[label(info)] = _service(
            index, info, label(info), tuple(placement(info)) if placement else ()
        )
        for edge in info.callers:
            key = (label(edge.caller), label(info))
            restriction = Restriction(
                tuple(sorted(set(edge.call.ports))),
                tuple(sorted(set(edge.call.methods))),
                tuple(sorted(set(edge.call.paths))),
            )
            previous = view.edges.get(key)
            protocol = _call_protocol(info, edge.call.protocol, edge.call.ports)
            if previous is None:
                view.edges[key] = EdgeView(key[0], key[1], protocol, (restriction,))
            elif restriction not in previous.restrictions:
                view.edges[key] = EdgeView(
                    key[0],
                    key[1],
                    _join_protocols(previous.protocol, protocol),
                    tuple(sorted((*previous.restrictions, restriction), key=repr)),
                )
    gateway_placement = getattr(index, "gateway_placement", None)
    for _, gateway in index.gateways.values():
        view.gateways[gateway.name] = GatewayView(
            gateway.name,
            index.gateway_namespace(gateway),
            tuple(_gateway_hosts(gateway)),
            tuple(sorted((s.port, s.protocol, s.tls.mode if s.tls else None) for s in gateway.servers)),
            gateway.jwt.issuer if gateway.jwt else None,
            tuple(gateway_placement(gateway)) if gateway_placement else (),
            reviewed_values(gateway),
        )
        seen: dict[str, int] = {}
        for position, route in enumerate(gateway.routes):
            route_key = _route_key(route, position)
            if route_key in seen:
                route_key = f"{route_key} #{position + 1}"
            seen[route_key] = position
            target = index.resolve(route.to.service)
            view.routes[(gateway.name, route_key)] = PublicRoute(
                gateway=gateway.name,
                key=route_key,
                hosts=tuple(route.hosts or _gateway_hosts(gateway)),
                match=tuple(route.match),
                service=reference(route.to.service),
                port=route.to.port,
                requires_jwt=gateway.jwt is not None
                and (route.require_jwt if route.require_jwt is not None else True),
                timeout=route.timeout,
                rewrite=route.rewrite,
                protocol=_call_protocol(target, None, [route.to.port] if route.to.port else [])
                if target
                else "?",
                required_claims=tuple(
                    (claim, tuple(sorted(set(values))))
                    for claim, values in sorted(route.require_claims.items())
                ),
                backend_methods=tuple(sorted(set(route.to.methods))),
                backend_paths=tuple(sorted(set(route.to.paths))),
                client_ips=tuple(sorted(set(route.remote_ip_blocks))) if route.remote_ip_blocks else None,
                policy=route.policy,
            )
    for _, egress in index.egress.values():
        view.egress[egress.name] = EgressView(
            egress.name,
            index.egress_namespace(egress),
            tuple(egress.hosts),
            tuple(sorted({reference(c) for c in egress.callers})),
            tuple((p.port, p.protocol) for p in egress.ports),
            egress.gateway is not None,
            reviewed_values(egress),
            egress.tls_origination,
            egress.traffic,
        )
    return view


def build_views(base: MeshIndex | None, head: MeshIndex | None) -> tuple[MeshView | None, MeshView | None]:
    """The views of two revisions for a diff. A name either revision holds in several namespaces
    is shown `namespace/name` on both sides, so adding `bar/httpbin` reads as an addition, not
    as `httpbin` renamed to `foo/httpbin`."""
    shared = frozenset().union(*(index.shared_names for index in (base, head) if index is not None))
    return (
        build_view(base, shared) if base is not None else None,
        build_view(head, shared) if head is not None else None,
    )


def _service(index: MeshIndex, info: ServiceInfo, name: str, clusters: tuple[str, ...]) -> ServiceView:
    traffic = info.traffic
    model = info.model
    security = model.security
    injection = model.injection if model.injection is not None else index.namespace_injection(info.namespace)
    routes: dict[str, Route] = {}
    for position, route in enumerate(traffic.routes):
        key = route.name or f"route {position + 1}"
        routes[key if key not in routes else f"{key} #{position + 1}"] = route
    policies = {
        wire_name(Traffic, attr): getattr(traffic, attr)
        for attr, _ in review_value_fields(Traffic)
        if getattr(traffic, attr) is not None
    }
    return ServiceView(
        name=name,
        namespace=info.namespace,
        clusters=clusters,
        account=info.account,
        ports={p.number: p.protocol or "?" for p in info.ports},
        versions={v.name: VersionView(v.image, v.replicas) for v in info.versions},
        weights=_weights(info),
        routes=routes,
        timeout=traffic.timeout,
        retries=traffic.retries,
        policies=policies,
        mtls=index.mtls_mode(info),
        own_mtls=security.mtls if security is not None else None,
        port_mtls={p.port: p.mode for p in security.port_mtls} if security is not None else {},
        injection=injection.enabled,
        own_injection=model.injection.enabled if model.injection is not None else None,
        own_traffic=frozenset(model.traffic.model_fields_set) if model.traffic is not None else frozenset(),
        values=reviewed_values(model),
        access=tuple(sorted({allow_text(rule) for rule in security.allow})) if security is not None else (),
        jwt=security.jwt if security is not None else None,
        workload=WorkloadView.of(index, info),
        own_workload=model.workload,
        telemetry=model.telemetry,
        **_injection(index, info),
    )


def _injection(index: MeshIndex, info: ServiceInfo) -> dict[str, Any]:
    manually_injected = getattr(index, "manually_injected", None)
    if manually_injected is None or not index.owns_workload(info) or not manually_injected(info):
        return {"revision": info.model.injection.revision if info.model.injection else None}
    injector = index.mesh.spec.sidecar_injector
    return {
        "injection_mode": "manual",
        "proxy_image": f"{injector.hub}/proxyv2:{injector.tag}",
        "revision": index.injection_revision(info),
    }


def _weights(info: ServiceInfo) -> dict[str, float] | None:
    split = info.traffic.split
    if split:
        total = sum(split.values()) or 1
        return {version: weight * 100.0 / total for version, weight in split.items()}
    if len(info.versions) == 1:
        return {info.versions[0].name: 100.0}
    return None


def _call_protocol(callee: ServiceInfo, declared: str | None, ports: list[int]) -> str:
    if declared:
        return declared
    chosen = [callee.port(p) for p in ports] if ports else list(callee.ports)
    found = sorted({p.protocol or "tcp" for p in chosen if p is not None})
    return "/".join(found) if found else "?"


def _join_protocols(a: str, b: str) -> str:
    return "/".join(sorted(set(a.split("/")) | set(b.split("/"))))


def _gateway_hosts(gateway: Gateway) -> list[str]:
    seen: dict[str, None] = {}
    for server in gateway.servers:
        for host in server.hosts or gateway.hosts:
            seen.setdefault(host, None)
    if not gateway.servers:
        for host in gateway.hosts:
            seen.setdefault(host, None)
    return list(seen)


def _route_key(route: GatewayRoute, position: int) -> str:
    """A route is known by its name; an unnamed one by what it matches (its position would make
    inserting a route look like changing every route after it)."""
    if route.name:
        return route.name
    if not route.match:
        return "(every request)"
    return compact(route.match, 120)


def format_weights(weights: dict[str, float] | None) -> str:
    if weights is None:
        return "unweighted"
    return ", ".join(f"{v} {percent(w)}" for v, w in weights.items())


def percent(value: float) -> str:
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"
