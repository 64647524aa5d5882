"""Derived facts about a parsed mesh, computed once and shared by the rules and the lowering.

Everything that is *derived* (effective namespace, merged traffic defaults, port protocols, who
calls whom) lives here so that a rule and the code that emits a resource can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from meshc.spec.models import (
    HTTP_PROTOCOLS,
    Call,
    Cluster,
    Defaults,
    Egress,
    Gateway,
    GatewayRoute,
    Injection,
    Mesh,
    Namespace,
    Port,
    Proxy,
    Service,
    Traffic,
    Version,
    http_only_fields,
    split_reference,
)

from .workloads import WorkloadPlan, resolve

KNOWN_PROTOCOLS = ("http", "http2", "grpc", "grpc-web", "https", "tcp", "tls", "mongo", "mysql", "redis")


def port_protocol(port: Port) -> str | None:
    """The port's protocol, explicit or from an Istio-style name prefix (`http-web` -> http)."""
    if port.protocol:
        return port.protocol
    if port.name:
        prefix = port.name.split("-", 1)[0].lower()
        if port.name.lower().startswith("grpc-web"):
            return "grpc-web"
        if prefix in KNOWN_PROTOCOLS:
            return prefix
    return None


@dataclass(frozen=True, slots=True)
class ResolvedPort:
    number: int
    name: str
    protocol: str | None
    target: int
    index: int


@dataclass(frozen=True, slots=True)
class Edge:
    caller: ServiceInfo
    call: Call
    call_index: int


@dataclass(eq=False, slots=True)
class ServiceInfo:
    model: Service
    index: int
    namespace: str
    account: str
    fqdn: str
    defaults: Defaults
    """The spec's defaults (`traffic` and `proxy` are the service's own settings over them)."""
    key: str = ""
    """How the mesh refers to the service: its name when no other namespace holds that name,
    else `namespace/name` (the key of `MeshIndex.services`, of its owner, probes and graph nodes)."""
    callers: list[Edge] = field(default_factory=list)
    """Declared edges into this service, in spec order."""
    gateway_routes: list[tuple[Gateway, int, GatewayRoute]] = field(default_factory=list)
    egress: list[Egress] = field(default_factory=list)
    """Egress entries this service may call."""
    # Worked out on first use: an incremental compile's lowering reads a few services' only, and
    # the rules (all of them) in their own process.
    _ports: list[ResolvedPort] | None = None
    _traffic: Traffic | None = None
    _proxy: tuple[Proxy | None] | None = None
    _owns_workload: bool | None = None
    _speaks_http: bool | None = None

    @property
    def ports(self) -> list[ResolvedPort]:
        """The service's ports, with their names and protocols resolved."""
        if self._ports is None:
            self._ports = _resolve_ports(self.model.ports)
        return self._ports

    @property
    def speaks_http(self) -> bool:
        """Whether some port speaks HTTP (`http_ports` is not empty), worked out from the ports'
        protocols alone: the global rules ask it of every service, and need no resolved port names."""
        found = self._speaks_http
        if found is None:
            if self._ports is not None:
                found = any(p.protocol in HTTP_PROTOCOLS for p in self._ports)
            else:
                found = any(port_protocol(p) in HTTP_PROTOCOLS for p in self.model.ports)
            self._speaks_http = found
        return found

    @property
    def traffic(self) -> Traffic:
        """The service's traffic settings over the defaults' (see `_merge_traffic`)."""
        if self._traffic is None:
            self._traffic = _merge_traffic(self.defaults.traffic, self.model.traffic, http=self.speaks_http)
        return self._traffic

    def traffic_value(self, name: str) -> Any:
        """`getattr(self.traffic, name)` without merging the whole model when it is not merged yet:
        the global rules read a field or two of every service's traffic, and a merge is a pydantic
        copy each (`_merge_traffic`'s rules, field by field; tests/test_rule_fast_paths.py holds the
        two to each other)."""
        merged = self._traffic
        if merged is not None:
            return getattr(merged, name)
        own = self.model.traffic
        default = self.defaults.traffic
        # `__pydantic_fields_set__` is what `model_fields_set` returns (read here without the
        # property: this runs for every service, several times)
        if own is not None and (default is None or name in own.__pydantic_fields_set__):
            return getattr(own, name)
        if default is None:
            return getattr(_no_traffic(), name)
        if name in _HTTP_ONLY and not self.speaks_http:
            return None
        return getattr(default, name)

    @property
    def proxy(self) -> Proxy | None:
        """The service's proxy settings over the defaults'."""
        if self._proxy is None:
            self._proxy = (_merge_proxy(self.defaults.proxy, self.model.proxy),)
        return self._proxy[0]

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("spec", "services", self.index)

    @property
    def qualified(self) -> str:
        """`namespace/name`: the service's identity, whatever other services the mesh holds."""
        return f"{self.namespace}/{self.model.name}"

    @property
    def owner(self) -> str:
        return f"service/{self.key}"

    @property
    def versions(self) -> list[Version]:
        return self.model.versions

    def version_labels(self, version: Version) -> dict[str, str]:
        return dict(version.labels) if version.labels else {"version": version.name}

    def port(self, number: int) -> ResolvedPort | None:
        return next((p for p in self.ports if p.number == number), None)

    @property
    def http_ports(self) -> list[ResolvedPort]:
        return [p for p in self.ports if p.protocol in HTTP_PROTOCOLS]


def call_ports(callee: ServiceInfo, call: Call) -> list[ResolvedPort]:
    """The callee ports a call uses: those it names, else those of its `protocol`, else all."""
    if call.ports:
        return [p for p in (callee.port(n) for n in call.ports) if p is not None]
    if call.protocol is not None:
        speaking = [p for p in callee.ports if p.protocol == call.protocol]
        if speaking:
            return speaking
    return list(callee.ports)


def same_edge_routes(index: MeshIndex, gateway: Gateway, route: GatewayRoute) -> list[GatewayRoute]:
    """Every route that reaches `route`'s service port with the identity of `gateway` (its own
    included): the service's authorization cannot tell them apart, so what one admits (`to.methods`,
    `to.paths`), all do."""
    identity = (gateway.workload.namespace, gateway.workload.account)
    port = route.to.port
    target = index.resolve(route.to.service)
    out = []
    for _, other in sorted(index.gateways.values(), key=lambda item: item[0]):
        if (other.workload.namespace, other.workload.account) != identity:
            continue
        for r in other.routes:
            if index.resolve(r.to.service) is target and (
                r.to.port is None or port is None or r.to.port == port
            ):
                out.append(r)
    return out


HTTP_ONLY_POLICIES = http_only_fields(Traffic)
"""Traffic settings that only HTTP routing can apply (Envoy's TCP proxy has none of them): the
fields declared `FieldMeta(http_only=True)` on the model."""
_HTTP_ONLY = frozenset(HTTP_ONLY_POLICIES)


@cache
def _no_traffic() -> Traffic:
    """The traffic of a service when neither it nor the defaults say any (read-only; built on first
    use, not at import, which would validate a model on every start-up)."""
    return Traffic()


def _merge_traffic(default: Traffic | None, own: Traffic | None, *, http: bool) -> Traffic:
    """The service's traffic: its own fields over the defaults. Defaults for HTTP-only policies do
    not reach a service without HTTP ports (a service's own such settings stay, and MC115 flags them)."""
    if default is not None and not http:
        default = default.model_copy(update={name: None for name in HTTP_ONLY_POLICIES})
    if default is None:
        return own or Traffic()
    if own is None:
        return default
    return default.model_copy(update={name: getattr(own, name) for name in own.model_fields_set})


def _merge_proxy(default: Proxy | None, own: Proxy | None) -> Proxy | None:
    if default is None or own is None:
        return own or default
    return default.model_copy(update={name: getattr(own, name) for name in own.model_fields_set})


def _resolve_ports(ports: list[Port]) -> list[ResolvedPort]:
    protocols = [port_protocol(p) for p in ports]
    counts: dict[str, int] = defaultdict(int)
    for proto in protocols:
        counts[proto or "tcp"] += 1
    result = []
    for i, (port, proto) in enumerate(zip(ports, protocols, strict=True)):
        name = port.name
        if not name:
            base = proto or "tcp"
            name = base if counts[base] == 1 else f"{base}-{port.port}"
        result.append(ResolvedPort(port.port, name, proto, port.target_port or port.port, i))
    return result


class MeshIndex:
    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        spec = mesh.spec
        self.name = mesh.metadata.name
        self.trust_domain = spec.control_plane.trust_domain
        self.cluster_domain = spec.control_plane.cluster_domain
        self.services: dict[str, ServiceInfo] = {}
        """Every service by its `key`, in spec order."""
        self.by_name: dict[str, dict[str, ServiceInfo]] = {}
        """Services by name, then namespace: a reference resolves here (`resolve`)."""
        in_order: list[ServiceInfo] = []
        for i, svc in enumerate(spec.services):
            ns = svc.namespace or spec.defaults.namespace
            if ns in self.by_name.get(svc.name, {}):
                continue  # duplicates are reported by MC102; the first one wins here
            info = ServiceInfo(
                model=svc,
                index=i,
                namespace=ns,
                account=svc.account or svc.name,
                fqdn=f"{svc.name}.{ns}.svc.{self.cluster_domain}",
                defaults=spec.defaults,
            )
            self.by_name.setdefault(svc.name, {})[ns] = info
            in_order.append(info)
        self._references: dict[str, ServiceInfo] = {}
        """What each valid reference resolves to: `namespace/name` of every service, and the bare
        name of each service no other namespace shares (one lookup per reference)."""
        for info in in_order:
            shared = len(self.by_name[info.name]) > 1
            info.key = info.qualified if shared else info.name
            self.services[info.key] = info
            self._references[info.qualified] = info
            if not shared:
                self._references[info.name] = info
        self.unresolved_calls: list[Edge] = []
        """The calls whose reference resolves to no service (unknown, MC101, or ambiguous, MC240), in
        spec order: what is left of the calls once they are resolved here, so that the rules need not
        resolve every call of the mesh again to find the few that fail."""
        for caller in self.services.values():
            for j, call in enumerate(caller.model.calls):
                callee = self.resolve(call.service)
                if callee is not None:
                    callee.callers.append(Edge(caller, call, j))
                else:
                    self.unresolved_calls.append(Edge(caller, call, j))
        self.gateways: dict[str, tuple[int, Gateway]] = {}
        for i, gw in enumerate(spec.gateways):
            self.gateways.setdefault(gw.name, (i, gw))
            for k, route in enumerate(gw.routes):
                target = self.resolve(route.to.service)
                if target is not None:
                    target.gateway_routes.append((gw, k, route))
        self.egress: dict[str, tuple[int, Egress]] = {}
        for i, eg in enumerate(spec.egress):
            self.egress.setdefault(eg.name, (i, eg))
            for caller in self.egress_callers(eg):
                if eg not in caller.egress:
                    caller.egress.append(eg)
        self._workloads: dict[int, WorkloadPlan] = {}
        self.namespace_settings: dict[str, Namespace] = {}
        for declared in spec.namespaces:
            self.namespace_settings.setdefault(declared.name, declared)

    # --- references -----------------------------------------------------------------------------

    def resolve(self, ref: str) -> ServiceInfo | None:
        """The service a reference names: `namespace/name`, or a bare `name` that one namespace
        holds. None for an unknown reference (MC101) and for a bare name several namespaces hold
        (MC240): never a silent pick, so adding `bar/httpbin` cannot retarget a `httpbin`."""
        return self._references.get(ref)

    def service(self, ref: str) -> ServiceInfo:
        """`resolve` for a reference the rules have accepted (KeyError otherwise: a meshc bug)."""
        found = self.resolve(ref)
        if found is None:
            raise KeyError(ref)
        return found

    def egress_callers(self, egress: Egress) -> list[ServiceInfo]:
        """The services an egress entry's `callers` name (resolved, in spec order)."""
        return [info for info in (self.resolve(c) for c in egress.callers) if info is not None]

    def namespaces_holding(self, ref: str) -> list[str]:
        """The namespaces that hold a bare name several times over (sorted), else []: the
        reference is ambiguous exactly when this is not empty."""
        namespace, name = split_reference(ref)
        held = self.by_name.get(name, {})
        return sorted(held) if namespace is None and len(held) > 1 else []

    def callees(self, info: ServiceInfo) -> list[ServiceInfo]:
        """The services `info` calls (resolved references, in call order; unresolved ones skipped)."""
        return [
            callee for callee in (self.resolve(c.service) for c in info.model.calls) if callee is not None
        ]

    def find(self, namespace: str, name: str) -> ServiceInfo | None:
        """The service `name` of `namespace` (a workload's `app` label in its namespace)."""
        return self.by_name.get(name, {}).get(namespace)

    @cached_property
    def shared_names(self) -> frozenset[str]:
        """Service names several namespaces hold: their bare references are ambiguous (MC240)."""
        return frozenset(name for name, held in self.by_name.items() if len(held) > 1)

    @cached_property
    def qualified_names(self) -> list[str]:
        """`namespace/name` of every service, sorted (for "did you mean" on qualified references)."""
        return sorted(info.qualified for info in self.services.values())

    def gateway_route_is_http(self, route: GatewayRoute) -> bool | None:
        """Whether a gateway route carries HTTP (its target port's protocol); None when that cannot
        be told: unknown service (MC101) or port (MC101), several ports and no `to.port` (MC108),
        or an undeterminable protocol (MC104)."""
        info = self.resolve(route.to.service)
        if info is None:
            return None
        # the declared ports, as `info.port`/`info.ports` would give them (a resolved port's number
        # and protocol are its declared port's and `port_protocol`): the rules ask this of every
        # gateway route, and need no resolved port names
        declared = info.model.ports
        if route.to.port is not None:
            port = next((p for p in declared if p.port == route.to.port), None)
        else:
            port = declared[0] if len(declared) == 1 else None
        protocol = port_protocol(port) if port is not None else None
        if protocol is None:
            return None
        return protocol in HTTP_PROTOCOLS

    def workload(self, info: ServiceInfo) -> WorkloadPlan:
        """The effective resources, probes, security context, budget and autoscaling of the
        service's Deployments (compiler/workloads.py)."""
        found = self._workloads.get(info.index)
        if found is None:
            found = self._workloads[info.index] = resolve(
                info.model.workload,
                self.mesh.spec.defaults.workload,
                own_path=(*info.path, "workload"),
                # the first port's number is the declared one (`ResolvedPort.number`): no need to
                # resolve the ports' names for it
                first_port=info.model.ports[0].port if info.model.ports else None,
            )
        return found

    @cached_property
    def with_pod_settings(self) -> list[ServiceInfo]:
        """The services whose pods a setting of the spec shapes (their own `workload` or `proxy`, or
        every service when `spec.defaults` has either), in spec order: the others run on meshc's
        own plan and the injector's proxy resources, which MC210, MC211 and MC213 need not read."""
        defaults = self.mesh.spec.defaults
        if defaults.workload is not None or defaults.proxy is not None:
            return list(self.services.values())
        return [
            info
            for info in self.services.values()
            if info.model.workload is not None or info.model.proxy is not None
        ]

    def has_bare_workload(self, info: ServiceInfo) -> bool:
        """Neither the service nor `spec.defaults` writes a `workload`: its plan is meshc's own
        defaults (`workloads.resolve`), the same for every such service but for its paths and
        default readiness probe. A rule that no such plan can break skips these services without
        resolving their plans (a 10,000-service mesh has mostly these)."""
        return info.model.workload is None and self.mesh.spec.defaults.workload is None

    def principal(self, namespace: str, account: str) -> str:
        return f"{self.trust_domain}/ns/{namespace}/sa/{account}"

    def gateway_namespace(self, gateway: Gateway) -> str:
        return gateway.namespace or self.mesh.spec.defaults.namespace

    def egress_namespace(self, egress: Egress) -> str:
        """The namespace the spec gives the egress (for the review); lowering writes a copy of the
        ServiceEntry into each caller's namespace when the spec names none."""
        return egress.namespace or self.mesh.spec.control_plane.namespace

    @cached_property
    def app_namespaces(self) -> list[str]:
        """Namespaces the mesh owns (declared or holding services), sorted."""
        names = {s.namespace for s in self.services.values()} | set(self.namespace_settings)
        return sorted(names)

    def namespace_injection(self, namespace: str) -> Injection:
        settings = self.namespace_settings.get(namespace)
        if settings is not None and settings.injection is not None:
            return settings.injection
        return self.mesh.spec.defaults.injection

    # --- sidecar injection ---------------------------------------------------------------------

    def namespace_mode(self, namespace: str) -> str:
        """`auto` (the webhook injects, namespace labels) or `manual` (meshc writes the sidecar)."""
        settings = self.namespace_settings.get(namespace)
        if settings is not None and settings.injection is not None and settings.injection.mode:
            return settings.injection.mode
        return self.mesh.spec.defaults.injection.mode or "auto"

    def injection_mode(self, info: ServiceInfo) -> str:
        """A workload's injection mode: its own, else its namespace's."""
        own = info.model.injection
        if own is not None and own.mode is not None:
            return own.mode
        return self.namespace_mode(info.namespace)

    def injection_enabled(self, info: ServiceInfo) -> bool:
        own = info.model.injection
        if own is not None and "enabled" in own.model_fields_set:
            return own.enabled
        return self.namespace_injection(info.namespace).enabled

    def injection_revision(self, info: ServiceInfo) -> str | None:
        """The control-plane revision a workload asks for (None: the default revision)."""
        own = info.model.injection
        if own is not None and own.revision:
            return own.revision
        return self.namespace_injection(info.namespace).revision

    def manually_injected(self, info: ServiceInfo) -> bool:
        """meshc writes this workload's sidecar itself (manual mode, injection on)."""
        return self.injection_mode(info) == "manual" and self.injection_enabled(info)

    @staticmethod
    def owns_workload(info: ServiceInfo) -> bool:
        """meshc writes the Deployments (a version has an image); otherwise someone else does."""
        owns = info._owns_workload
        if owns is None:  # asked for every service by several rules and lowering steps
            owns = info._owns_workload = any(v.image for v in info.model.versions)
        return owns

    @cached_property
    def webhook_namespaces(self) -> frozenset[str]:
        """Namespaces in manual mode that still hold workloads the webhook injects (mixed modes):
        they carry no namespace label; those workloads select the webhook with pod labels."""
        mixed = set()
        for info in self.services.values():
            if (
                self.namespace_mode(info.namespace) == "manual"
                and self.owns_workload(info)
                and self.injection_mode(info) == "auto"
                and self.injection_enabled(info)
            ):
                mixed.add(info.namespace)
        return frozenset(mixed)

    def namespace_of_services(self) -> dict[str, list[ServiceInfo]]:
        result: dict[str, list[ServiceInfo]] = defaultdict(list)
        for info in self.services.values():
            result[info.namespace].append(info)
        return result

    @cached_property
    def open_to_identities(self) -> list[tuple[ServiceInfo, bool, frozenset[str]]]:
        """Services with `security.allow` sources that admit meshed workloads beyond their declared
        callers: (service, any mesh workload?, namespaces admitted). Those workloads' Sidecars must
        import the service, or REGISTRY_ONLY would refuse what authorization admits."""
        out = []
        for info in self.services.values():
            security = info.model.security
            if security is None or not security.allow:
                continue
            mesh = any(rule.source.mesh for rule in security.allow)
            namespaces = frozenset(ns for rule in security.allow for ns in rule.source.namespaces)
            if mesh or namespaces:
                out.append((info, mesh, namespaces))
        return out

    def mtls_mode(self, info: ServiceInfo) -> str:
        """Effective mTLS of a workload: its own setting, else its namespace's, else the mesh's."""
        security = info.model.security
        if security is not None and security.mtls is not None:
            return security.mtls
        settings = self.namespace_settings.get(info.namespace)
        if settings is not None and settings.mtls is not None:
            return settings.mtls
        return self.mesh.spec.security.mtls

    def plaintext_ports(self, info: ServiceInfo) -> set[int]:
        """Workload (target) ports whose mTLS mode is DISABLE: callers send plain text there, which
        carries no peer identity, so no `principals` condition can match on them. A port's own mode
        wins over the workload's."""
        workload_disabled = self.mtls_mode(info) == "DISABLE"
        security = info.model.security
        by_target: dict[int, str] = {}
        for entry in security.port_mtls if security else []:
            port = info.port(entry.port)
            by_target[port.target if port else entry.port] = entry.mode
        default = "DISABLE" if workload_disabled else ""
        return {p.target for p in info.ports if by_target.get(p.target, default) == "DISABLE"}

    def placed(self, scope: Scope) -> list[ServiceInfo]:
        """Services whose workloads run in the scope, in spec order."""
        if scope.cluster is None:
            found = list(self.services.values())
        else:
            found = [s for s in self.services.values() if s.key in scope.placed]
        return [s for s in found if s.namespace not in scope.skip] if scope.skip else found

    def visible(self, scope: Scope) -> list[ServiceInfo]:
        """Services that need client-side config in the scope, in spec order."""
        if scope.cluster is None:
            found = list(self.services.values())
        else:
            found = [s for s in self.services.values() if s.key in scope.visible]
        return [s for s in found if s.namespace not in scope.skip] if scope.skip else found

    def scope_namespaces(self, scope: Scope) -> list[str]:
        """Namespaces that exist in the scope: those of its visible services, plus declared
        namespaces that hold no service anywhere (created everywhere)."""
        if scope.cluster is None:
            found = self.app_namespaces
        else:
            names = {self.services[s].namespace for s in scope.visible}
            used = {s.namespace for s in self.services.values()}
            names.update(n for n in self.namespace_settings if n not in used)
            found = sorted(names)
        return [n for n in found if n not in scope.skip] if scope.skip else found

    # --- clusters ------------------------------------------------------------------------------

    @cached_property
    def clusters(self) -> dict[str, Cluster]:
        found: dict[str, Cluster] = {}
        for cluster in self.mesh.spec.clusters:
            found.setdefault(cluster.name, cluster)
        return found

    def placement(self, info: ServiceInfo) -> list[str]:
        """Clusters a service runs on (declared ones only; MC120 reports the others)."""
        chosen = info.model.placement
        if chosen is None:
            chosen = self.mesh.spec.defaults.placement
        if chosen is None:
            return list(self.clusters)
        return [name for name in chosen if name in self.clusters]

    def gateway_placement(self, gateway: Gateway) -> list[str]:
        if gateway.placement is None:
            return list(self.clusters)
        return [name for name in gateway.placement if name in self.clusters]

    @staticmethod
    def clients(info: ServiceInfo) -> list[str]:
        """Who sends requests to a service: its callers' keys and `gateway/<name>` of the gateways
        that route to it (a gateway's Envoy reaches a service on another network through that
        network's east-west gateway, as a sidecar does)."""
        names = {edge.caller.key for edge in info.callers}
        names.update(f"gateway/{gw.name}" for gw, _, _ in info.gateway_routes)
        return sorted(names)

    def regions(self, info: ServiceInfo) -> list[str]:
        return sorted({self.clusters[c].region for c in self.placement(info)})

    @cached_property
    def scopes(self) -> list[Scope]:
        """What each cluster receives. A single-cluster mesh has one scope with no cluster name."""
        gateways = [gw for _, gw in self.gateways.values()]
        if not self.clusters:
            every = frozenset(self.services)
            return [Scope(None, every, every, tuple(gateways), False)]
        placed_on: dict[str, set[str]] = {c: set() for c in self.clusters}
        for info in self.services.values():
            for cluster_name in self.placement(info):
                placed_on[cluster_name].add(info.key)
        networks = {c.network for c in self.clusters.values()}
        gateways_on: dict[str, set[str]] = {c: set() for c in self.clusters}
        for gw in gateways:
            for cluster_name in self.gateway_placement(gw):
                gateways_on[cluster_name].add(f"gateway/{gw.name}")
        scopes = []
        for name, cluster in self.clusters.items():
            placed = placed_on[name]
            local_gateways = tuple(gw for gw in gateways if name in self.gateway_placement(gw))
            visible = set(placed)
            for caller in placed:
                visible.update(edge_callee.key for edge_callee in self.callees(self.services[caller]))
            for gw in local_gateways:
                visible.update(
                    target.key
                    for target in (self.resolve(r.to.service) for r in gw.routes)
                    if target is not None
                )
            serves_other_networks = (
                len(networks) > 1
                and cluster.expose_services
                and any(
                    client in placed_on[other] or client in gateways_on[other]
                    for other, other_cluster in self.clusters.items()
                    if other_cluster.network != cluster.network
                    for callee in placed
                    for client in self.clients(self.services[callee])
                )
            )
            scopes.append(
                Scope(name, frozenset(placed), frozenset(visible), local_gateways, serves_other_networks)
            )
        return scopes


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the mesh one cluster receives.

    `placed` services run there: they get workloads and server-side policy (Deployment,
    AuthorizationPolicy, PeerAuthentication, Sidecar). `visible` services are placed or called from
    there: Istio applies routing on the client side and each primary reads only its own cluster,
    so they get their Service, DestinationRule and VirtualService in this cluster too.
    """

    cluster: str | None
    placed: frozenset[str]
    visible: frozenset[str]
    gateways: tuple[Gateway, ...]
    east_west: bool
    """This cluster serves callers on other networks: it needs an east-west gateway."""
    skip: frozenset[str] = frozenset()
    """Namespaces whose objects are not wanted (an incremental compile reuses them, see
    `meshc.compiler.units`): their services and they themselves are left out of `placed`,
    `visible` and `scope_namespaces`, so lowering does no work for them."""
    skip_gateways: frozenset[str] = frozenset()
    """Gateways whose Gateway and VirtualService are not wanted (an incremental compile reuses
    them, see `units.gateway_keys`); their other objects are."""
