"""What a change means, in the spec's own terms: edges, traffic, public routes, egress, security.

`diff_intent(base, head)` compares two `MeshView`s (either may be None: a spec added or deleted by
the change) and returns every `Change`, grouped by category, plus the `Risk`s a reviewer must not
miss: mTLS relaxed, authorization widened, a route exposed without authentication, egress widened,
TLS removed from a gateway port. Messages quote identifiers in backticks (the text renderer drops
them). Everything is dictionary lookups keyed by identity: linear in the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshc.spec.models import Retries, Route

from .view import (
    MTLS_RANK,
    EdgeView,
    EgressView,
    GatewayView,
    MeshView,
    PublicRoute,
    ServiceView,
    canonical,
    compact,
    format_weights,
    percent,
)

CATEGORIES: dict[str, str] = {
    "services": "Services",
    "edges": "Edges",
    "traffic": "Traffic",
    "resilience": "Timeouts & retries",
    "public": "Public routes & hosts",
    "egress": "Egress",
    "security": "Security",
}
RISKS: dict[str, str] = {
    "mtls-relaxed": "mTLS relaxed",
    "authz-widened": "Authorization widened",
    "unauthenticated-route": "Route exposed without authentication",
    "claims-relaxed": "Required claims relaxed",
    "egress-widened": "Egress widened",
    "tls-relaxed": "TLS removed",
    "injection-mode": "Sidecar injection mode changed",
}
_CAMEL = {
    "connection_pool": "connectionPool",
    "outlier_detection": "outlierDetection",
    "load_balancer": "loadBalancer",
}
_SNAKE = {camel: snake for snake, camel in _CAMEL.items()}
_CATEGORY_ORDER = {name: i for i, name in enumerate(CATEGORIES)}
_RISK_ORDER = {name: i for i, name in enumerate(RISKS)}


@dataclass(frozen=True, slots=True)
class Change:
    category: str
    kind: str
    subject: str
    message: str
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "kind": self.kind,
            "subject": self.subject,
            "message": plain(self.message),
            "before": canonical(self.before),
            "after": canonical(self.after),
        }


@dataclass(frozen=True, slots=True)
class Risk:
    kind: str
    subject: str
    message: str

    @property
    def title(self) -> str:
        return RISKS[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "subject": self.subject,
            "message": plain(self.message),
        }


@dataclass(slots=True)
class IntentDiff:
    changes: list[Change] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)

    def by_category(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.category, []).append(change)
        return grouped

    def by_risk(self) -> dict[str, list[Risk]]:
        grouped: dict[str, list[Risk]] = {}
        for risk in self.risks:
            grouped.setdefault(risk.kind, []).append(risk)
        return grouped


def plain(message: str) -> str:
    """A message without its Markdown code quotes."""
    return message.replace("`", "")


def _empty(like: MeshView | None) -> MeshView:
    return MeshView(
        name=like.name if like else "",
        mtls=like.mtls if like else "STRICT",
        default_deny=like.default_deny if like else True,
        namespace_mtls={},
        namespace_own_mtls={},
        namespace_injection={},
    )


class _Differ:
    def __init__(self, base: MeshView | None, head: MeshView | None) -> None:
        self.new_spec = base is None
        self.deleted = head is None
        self.base = base if base is not None else _empty(head)
        self.head = head if head is not None else _empty(base)
        self.out = IntentDiff()
        self.changed_defaults: set[str] = set()

    def change(
        self, category: str, kind: str, subject: str, message: str, before: Any = None, after: Any = None
    ) -> None:
        self.out.changes.append(Change(category, kind, subject, message, before, after))

    def risk(self, kind: str, subject: str, message: str) -> None:
        self.out.risks.append(Risk(kind, subject, message))

    def run(self) -> IntentDiff:
        self.defaults()
        self.services()
        self.edges()
        self.gateways()
        self.public_routes()
        self.egress()
        self.security()
        self.out.changes.sort(key=lambda c: (_CATEGORY_ORDER[c.category], c.subject, c.kind, c.message))
        self.out.risks.sort(key=lambda r: (_RISK_ORDER[r.kind], r.subject, r.message))
        return self.out

    # --- services -------------------------------------------------------------------------------

    def services(self) -> None:
        base, head = self.base.services, self.head.services
        for name, svc in head.items():
            old = base.get(name)
            if old is None:
                versions = f"; versions {', '.join(svc.versions)}" if svc.versions else ""
                self.change(
                    "services",
                    "service-added",
                    name,
                    f"`{name}` added in namespace `{svc.namespace}`{versions}",
                    None,
                    {"namespace": svc.namespace},
                )
                continue
            self.service_changed(old, svc)
        for name, svc in base.items():
            if name not in head:
                self.change(
                    "services",
                    "service-removed",
                    name,
                    f"`{name}` removed from namespace `{svc.namespace}`",
                    {"namespace": svc.namespace},
                    None,
                )

    def service_changed(self, old: ServiceView, new: ServiceView) -> None:
        name = new.name
        if old.namespace != new.namespace:
            self.change(
                "services",
                "service-moved",
                name,
                f"`{name}` moved: namespace `{old.namespace}` → `{new.namespace}`",
                old.namespace,
                new.namespace,
            )
        if old.clusters != new.clusters:
            self.change(
                "services",
                "service-placement",
                name,
                f"`{name}` clusters: {_list(old.clusters)} → {_list(new.clusters)}",
                list(old.clusters),
                list(new.clusters),
            )
        if old.ports != new.ports:
            self.change(
                "services",
                "service-ports",
                name,
                f"`{name}` ports: {_ports(old.ports)} → {_ports(new.ports)}",
                _ports(old.ports),
                _ports(new.ports),
            )
        for version, v in new.versions.items():
            was = old.versions.get(version)
            if was is None:
                self.change(
                    "services", "version-added", name, f"`{name}` version `{version}` added", None, version
                )
                continue
            if was.image != v.image:
                self.change(
                    "services",
                    "version-image",
                    name,
                    f"`{name}` `{version}` image: {was.image or 'none'} → {v.image or 'none'}",
                    was.image,
                    v.image,
                )
            if was.replicas != v.replicas:
                self.change(
                    "services",
                    "version-replicas",
                    name,
                    f"`{name}` `{version}` replicas: {was.replicas} → {v.replicas}",
                    was.replicas,
                    v.replicas,
                )
        for version in old.versions:
            if version not in new.versions:
                self.change(
                    "services",
                    "version-removed",
                    name,
                    f"`{name}` version `{version}` removed",
                    version,
                    None,
                )
        if old.account != new.account:
            self.change(
                "security",
                "identity-changed",
                name,
                f"`{name}` identity: service account `{old.account}` → `{new.account}`",
                old.account,
                new.account,
            )
        self.traffic(old, new)

    def from_defaults(self, field_name: str, old: ServiceView, new: ServiceView) -> bool:
        """The service inherits `field_name` in both revisions and the default itself changed: the
        change is reported once, for the defaults, not once per service."""
        return (
            field_name in self.changed_defaults
            and field_name not in old.own_traffic
            and field_name not in new.own_traffic
        )

    def defaults(self) -> None:
        old = self.base.default_traffic
        new = self.head.default_traffic
        if self.new_spec or self.deleted or old == new:
            return
        names = (
            "split",
            "routes",
            "timeout",
            "retries",
            "fault",
            "mirror",
            "connection_pool",
            "outlier_detection",
            "load_balancer",
        )
        for field_name in names:
            a = getattr(old, field_name) if old is not None else None
            b = getattr(new, field_name) if new is not None else None
            if (a in (None, []) and b in (None, [])) or a == b:
                continue
            self.changed_defaults.add(field_name)
            label = _CAMEL.get(field_name, field_name)
            count = sum(1 for svc in self.head.services.values() if _inherits(svc, field_name, label, b))
            if field_name == "timeout":
                shown = f"{a or 'none'} → {b or 'none'}"
            elif field_name == "retries":
                shown = f"{_retries(a)} → {_retries(b)}"
            else:
                shown = f"{_opt(a)} → {_opt(b)}"
            category = "traffic" if field_name in ("split", "routes", "fault", "mirror") else "resilience"
            verb = "inherits" if count == 1 else "inherit"
            self.change(
                category,
                f"default-{label}",
                "defaults",
                f"defaults {label}: {shown} ({_plural(count, 'service')} {verb} it)",
                a,
                b,
            )

    def traffic(self, old: ServiceView, new: ServiceView) -> None:
        name = new.name
        if old.weights != new.weights:
            self.change(
                "traffic",
                "traffic-split",
                name,
                f"`{name}`: {_shift(old.weights, new.weights)}",
                old.weights,
                new.weights,
            )
        for key, route in new.routes.items():
            was = old.routes.get(key)
            if was is None:
                self.change(
                    "traffic",
                    "route-added",
                    name,
                    f"`{name}` route `{key}` added: {_describe_route(route)}",
                    None,
                    route,
                )
            elif was != route:
                self.change(
                    "traffic",
                    "route-changed",
                    name,
                    f"`{name}` route `{key}`: {_route_changes(was, route)}",
                    was,
                    route,
                )
        for key, route in old.routes.items():
            if key not in new.routes:
                self.change(
                    "traffic",
                    "route-removed",
                    name,
                    f"`{name}` route `{key}` removed (was {_describe_route(route)})",
                    route,
                    None,
                )
        if old.timeout != new.timeout and not self.from_defaults("timeout", old, new):
            self.change(
                "resilience",
                "timeout",
                name,
                f"`{name}` timeout: {old.timeout or 'none'} → {new.timeout or 'none'}",
                old.timeout,
                new.timeout,
            )
        if old.retries != new.retries and not self.from_defaults("retries", old, new):
            self.change(
                "resilience",
                "retries",
                name,
                f"`{name}` retries: {_retries(old.retries)} → {_retries(new.retries)}",
                old.retries,
                new.retries,
            )
        for policy in sorted(set(old.policies) | set(new.policies)):
            a, b = old.policies.get(policy), new.policies.get(policy)
            if a != b and not self.from_defaults(_SNAKE.get(policy, policy), old, new):
                category = "traffic" if policy in ("fault", "mirror") else "resilience"
                self.change(
                    category, f"policy-{policy}", name, f"`{name}` {policy}: {_opt(a)} → {_opt(b)}", a, b
                )

    # --- edges ----------------------------------------------------------------------------------

    def edges(self) -> None:
        base, head = self.base.edges, self.head.edges
        for key, edge in head.items():
            caller, callee = key
            old = base.get(key)
            subject = f"{caller} → {callee}"
            if old is None:
                self.change(
                    "edges",
                    "edge-added",
                    subject,
                    f"`{caller}` → `{callee}` added ({edge.protocol}; {edge.describe()})",
                    None,
                    _edge_json(edge),
                )
                if callee in self.base.services:
                    self.risk(
                        "authz-widened",
                        callee,
                        f"`{callee}` accepts a new caller: `{caller}` ({edge.describe()})",
                    )
                continue
            if old == edge:
                continue
            details = []
            if old.protocol != edge.protocol:
                details.append(f"protocol {old.protocol} → {edge.protocol}")
            if old.restrictions != edge.restrictions:
                details.append(f"{old.describe()} → {edge.describe()}")
            self.change(
                "edges",
                "edge-changed",
                subject,
                f"`{caller}` → `{callee}`: {'; '.join(details)}",
                _edge_json(old),
                _edge_json(edge),
            )
            widened = [r for r in edge.restrictions if not any(o.covers(r) for o in old.restrictions)]
            if widened:
                self.risk(
                    "authz-widened",
                    callee,
                    f"`{caller}` → `{callee}` now allows more: {old.describe()} → {edge.describe()}",
                )
        for key, edge in base.items():
            if key not in head:
                self.change(
                    "edges",
                    "edge-removed",
                    f"{key[0]} → {key[1]}",
                    f"`{key[0]}` → `{key[1]}` removed",
                    _edge_json(edge),
                    None,
                )

    # --- gateways and public routes ---------------------------------------------------------------

    def gateways(self) -> None:
        base, head = self.base.gateways, self.head.gateways
        for name, gw in head.items():
            old = base.get(name)
            if old is None:
                self.change(
                    "public",
                    "gateway-added",
                    name,
                    f"gateway `{name}` added in namespace `{gw.namespace}`: hosts {_list(gw.hosts)}; "
                    f"ports {_servers(gw)}",
                    None,
                    _gateway_json(gw),
                )
                for host in gw.hosts:
                    if "*" in host:
                        self.risk("authz-widened", name, f"gateway `{name}` accepts wildcard host `{host}`")
                continue
            self.gateway_changed(old, gw)
        for name, gw in base.items():
            if name not in head:
                self.change(
                    "public",
                    "gateway-removed",
                    name,
                    f"gateway `{name}` removed (hosts {_list(gw.hosts)})",
                    _gateway_json(gw),
                    None,
                )

    def gateway_changed(self, old: GatewayView, new: GatewayView) -> None:
        name = new.name
        for host in new.hosts:
            if host not in old.hosts:
                self.change(
                    "public",
                    "host-added",
                    name,
                    f"public host `{host}` added on gateway `{name}`",
                    None,
                    host,
                )
                if "*" in host:
                    self.risk("authz-widened", name, f"gateway `{name}` accepts wildcard host `{host}`")
        for host in old.hosts:
            if host not in new.hosts:
                self.change(
                    "public",
                    "host-removed",
                    name,
                    f"public host `{host}` removed from gateway `{name}`",
                    host,
                    None,
                )
        if old.servers != new.servers:
            self.change(
                "public",
                "gateway-ports",
                name,
                f"gateway `{name}` ports: {_servers(old)} → {_servers(new)}",
                _servers(old),
                _servers(new),
            )
            old_tls = {port: tls for port, _, tls in old.servers if tls}
            for port, _, tls in new.servers:
                if port in old_tls and not tls:
                    self.risk(
                        "tls-relaxed", name, f"gateway `{name}` port {port}: TLS {old_tls[port]} → none"
                    )
        if old.jwt_issuer != new.jwt_issuer:
            self.change(
                "public",
                "gateway-jwt",
                name,
                f"gateway `{name}` JWT issuer: {old.jwt_issuer or 'none'} → {new.jwt_issuer or 'none'}",
                old.jwt_issuer,
                new.jwt_issuer,
            )
        if old.namespace != new.namespace:
            self.change(
                "public",
                "gateway-moved",
                name,
                f"gateway `{name}` moved: namespace `{old.namespace}` → `{new.namespace}`",
                old.namespace,
                new.namespace,
            )
        if old.clusters != new.clusters:
            self.change(
                "public",
                "gateway-placement",
                name,
                f"gateway `{name}` clusters: {_list(old.clusters)} → {_list(new.clusters)}",
                list(old.clusters),
                list(new.clusters),
            )

    def public_routes(self) -> None:
        base, head = self.base.routes, self.head.routes
        exposed_before = {(r.gateway, r.service) for r in base.values()}
        for key, route in head.items():
            old = base.get(key)
            subject = f"{route.gateway}/{route.key}"
            auth = "JWT required" if route.requires_jwt else "no authentication"
            if old is None:
                self.change(
                    "public",
                    "public-route-added",
                    subject,
                    f"route `{route.key}` on gateway `{route.gateway}` added: {route.describe_match()} "
                    f"(hosts {_list(route.hosts)}) → `{route.target}` ({auth})",
                    None,
                    _route_json(route),
                )
                if (route.gateway, route.service) not in exposed_before:
                    exposed_before.add((route.gateway, route.service))  # one risk per newly exposed service
                    self.risk(
                        "authz-widened",
                        route.service,
                        f"`{route.service}` is newly exposed through gateway `{route.gateway}` "
                        f"(route `{route.key}`)",
                    )
                if not route.requires_jwt:
                    self.risk(
                        "unauthenticated-route",
                        subject,
                        f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` "
                        f"requires no authentication",
                    )
                continue
            if old == route:
                continue
            details = []
            if old.target != route.target:
                details.append(f"target `{old.target}` → `{route.target}`")
            if old.match != route.match:
                details.append(f"match {old.describe_match()} → {route.describe_match()}")
            if old.hosts != route.hosts:
                details.append(f"hosts {_list(old.hosts)} → {_list(route.hosts)}")
            if old.requires_jwt != route.requires_jwt:
                details.append(
                    "JWT required → not required" if old.requires_jwt else "JWT not required → required"
                )
            if old.required_claims != route.required_claims:
                details.append(f"required claims {_claims(old)} → {_claims(route)}")
            if old.timeout != route.timeout:
                details.append(f"timeout {old.timeout or 'none'} → {route.timeout or 'none'}")
            if old.rewrite != route.rewrite:
                details.append(f"rewrite {_opt(old.rewrite)} → {_opt(route.rewrite)}")
            if not details:
                details.append(f"protocol {old.protocol} → {route.protocol}")
            self.change(
                "public",
                "public-route-changed",
                subject,
                f"route `{route.key}` on gateway `{route.gateway}`: {'; '.join(details)}",
                _route_json(old),
                _route_json(route),
            )
            if old.service != route.service and (route.gateway, route.service) not in exposed_before:
                exposed_before.add((route.gateway, route.service))
                self.risk(
                    "authz-widened",
                    route.service,
                    f"`{route.service}` is newly exposed through gateway `{route.gateway}` "
                    f"(route `{route.key}`)",
                )
            if old.requires_jwt and not route.requires_jwt:
                self.risk(
                    "unauthenticated-route",
                    subject,
                    f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` "
                    f"no longer requires a JWT",
                )
            if _claims_relaxed(old, route):
                self.risk(
                    "claims-relaxed",
                    subject,
                    f"route `{route.key}` on gateway `{route.gateway}` → `{route.target}` admits more "
                    f"tokens: required claims {_claims(old)} → {_claims(route)}",
                )
        for key, route in base.items():
            if key not in head:
                self.change(
                    "public",
                    "public-route-removed",
                    f"{route.gateway}/{route.key}",
                    f"route `{route.key}` on gateway `{route.gateway}` removed (was → `{route.target}`)",
                    _route_json(route),
                    None,
                )

    # --- egress ---------------------------------------------------------------------------------

    def egress(self) -> None:
        base, head = self.base.egress, self.head.egress
        for name, eg in head.items():
            old = base.get(name)
            old_hosts = set(old.hosts) if old else set()
            old_callers = set(old.callers) if old else set()
            if old is None:
                self.change(
                    "egress",
                    "egress-added",
                    name,
                    f"egress `{name}` added: {_list(eg.hosts)} ports {_egress_ports(eg)} "
                    f"for {_list(eg.callers, code=True)}",
                    None,
                    _egress_json(eg),
                )
            else:
                for host in eg.hosts:
                    if host not in old_hosts:
                        self.change(
                            "egress",
                            "egress-host-added",
                            name,
                            f"egress `{name}`: host `{host}` added",
                            None,
                            host,
                        )
                for host in old.hosts:
                    if host not in eg.hosts:
                        self.change(
                            "egress",
                            "egress-host-removed",
                            name,
                            f"egress `{name}`: host `{host}` removed",
                            host,
                            None,
                        )
                for caller in eg.callers:
                    if caller not in old_callers:
                        self.change(
                            "egress",
                            "egress-caller-added",
                            name,
                            f"egress `{name}`: caller `{caller}` added",
                            None,
                            caller,
                        )
                for caller in old.callers:
                    if caller not in eg.callers:
                        self.change(
                            "egress",
                            "egress-caller-removed",
                            name,
                            f"egress `{name}`: caller `{caller}` removed",
                            caller,
                            None,
                        )
                if old.ports != eg.ports:
                    self.change(
                        "egress",
                        "egress-ports",
                        name,
                        f"egress `{name}` ports: {_egress_ports(old)} → {_egress_ports(eg)}",
                        _egress_ports(old),
                        _egress_ports(eg),
                    )
                if old.via_gateway != eg.via_gateway:
                    self.change(
                        "egress",
                        "egress-gateway",
                        name,
                        f"egress `{name}`: "
                        + (
                            "now through an egress gateway"
                            if eg.via_gateway
                            else "no longer through an egress gateway"
                        ),
                        old.via_gateway,
                        eg.via_gateway,
                    )
                if old.namespace != eg.namespace:
                    self.change(
                        "egress",
                        "egress-moved",
                        name,
                        f"egress `{name}` moved: namespace `{old.namespace}` → `{eg.namespace}`",
                        old.namespace,
                        eg.namespace,
                    )
            new_hosts = [h for h in eg.hosts if h not in old_hosts]
            new_callers = [c for c in eg.callers if c not in old_callers]
            for host in new_hosts:
                if host.startswith("*") or host == "*":
                    self.risk(
                        "egress-widened",
                        name,
                        f"wildcard egress host `{host}` "
                        f"(egress `{name}`, callers {_list(eg.callers, code=True)})",
                    )
                else:
                    self.risk(
                        "egress-widened",
                        name,
                        f"new egress host `{host}` (egress `{name}`, callers {_list(eg.callers, code=True)})",
                    )
            if old is not None and new_callers:
                self.risk(
                    "egress-widened",
                    name,
                    f"{_list(new_callers, code=True)} may now call {_list(eg.hosts)} (egress `{name}`)",
                )
            if old is not None:
                old_ports = set(old.ports)
                added_ports = [p for p in eg.ports if p not in old_ports]
                if added_ports:
                    self.risk(
                        "egress-widened",
                        name,
                        f"egress `{name}` opens port(s) "
                        + ", ".join(f"{p}/{proto}" for p, proto in added_ports),
                    )
        for name, eg in base.items():
            if name not in head:
                self.change(
                    "egress",
                    "egress-removed",
                    name,
                    f"egress `{name}` removed ({_list(eg.hosts)})",
                    _egress_json(eg),
                    None,
                )

    # --- security -------------------------------------------------------------------------------

    def security(self) -> None:
        compare_mesh = not self.new_spec and not self.deleted
        base, head = self.base, self.head
        mesh_relaxed = False
        if compare_mesh and base.mtls != head.mtls:
            self.change(
                "security", "mtls", "mesh", f"mesh-wide mTLS: {base.mtls} → {head.mtls}", base.mtls, head.mtls
            )
            if _relaxed(base.mtls, head.mtls):
                mesh_relaxed = True
                self.risk("mtls-relaxed", "mesh", f"mesh-wide mTLS: {base.mtls} → {head.mtls}")
        if compare_mesh and base.mesh_wide != head.mesh_wide:
            self.change(
                "security",
                "mesh-wide",
                "mesh",
                f"cluster-wide defaults (meshWide): {_onoff(base.mesh_wide)} → {_onoff(head.mesh_wide)}",
                base.mesh_wide,
                head.mesh_wide,
            )
            if base.mesh_wide and base.mtls != "DISABLE":
                self.risk(
                    "mtls-relaxed",
                    "mesh",
                    f"the mesh-wide mTLS mode {base.mtls} is no longer set: namespaces no spec owns "
                    "fall back to Istio's default (PERMISSIVE)",
                )
        if compare_mesh and base.default_deny != head.default_deny:
            self.change(
                "security",
                "default-deny",
                "mesh",
                f"default deny: {_onoff(base.default_deny)} → {_onoff(head.default_deny)}",
                base.default_deny,
                head.default_deny,
            )
            if base.default_deny and not head.default_deny:
                self.risk(
                    "authz-widened",
                    "mesh",
                    "default deny turned off: calls that are not declared edges are no longer denied",
                )
        relaxed_ns: set[str] = set()
        for ns, mode in head.namespace_mtls.items():
            old_mode = base.namespace_mtls.get(ns)
            if old_mode is None:
                if not compare_mesh:
                    continue
                # A namespace new to the spec was under the spec's mesh mode before: declaring it
                # with a weaker mode relaxes it (for the root namespace: the whole cluster).
                old_mode = base.mtls
            explicit = (
                head.namespace_own_mtls.get(ns) is not None or base.namespace_own_mtls.get(ns) is not None
            )
            if old_mode != mode and explicit:
                self.change(
                    "security",
                    "mtls",
                    f"namespace {ns}",
                    f"namespace `{ns}` mTLS: {old_mode} → {mode}",
                    old_mode,
                    mode,
                )
            if _relaxed(old_mode, mode):
                relaxed_ns.add(ns)
                if explicit or not mesh_relaxed:
                    whole = " (Istio's root namespace: every namespace)" if ns == head.root_namespace else ""
                    self.risk(
                        "mtls-relaxed", f"namespace {ns}", f"namespace `{ns}`{whole}: {old_mode} → {mode}"
                    )
        for ns, enabled in head.namespace_injection.items():
            was = base.namespace_injection.get(ns)
            if was is not None and was != enabled:
                self.change(
                    "security",
                    "injection",
                    f"namespace {ns}",
                    f"namespace `{ns}` sidecar injection: {_onoff(was)} → {_onoff(enabled)}",
                    was,
                    enabled,
                )
                if was and not enabled:
                    self.risk(
                        "mtls-relaxed",
                        f"namespace {ns}",
                        f"sidecar injection disabled for namespace `{ns}`: its workloads lose mTLS and "
                        "authorization",
                    )
        for name, svc in head.services.items():
            old = base.services.get(name)
            if old is not None:
                self.service_security(old, svc, relaxed_ns)
                self.injection_mode(old, svc)

    def injection_mode(self, old: ServiceView, new: ServiceView) -> None:
        """A switch between webhook and manual injection, or a new pinned proxy: every pod of the
        workload is replaced, and who decides the proxy version changes."""
        if not new.injection or not any(v.image for v in new.versions.values()):
            return
        name = new.name
        if old.injection_mode != new.injection_mode:
            self.change(
                "security",
                "injection-mode",
                name,
                f"`{name}` sidecar injection: {old.injection_mode} → {new.injection_mode}",
                old.injection_mode,
                new.injection_mode,
            )
            if new.injection_mode == "manual":
                detail = f"proxy version pinned to `{new.proxy_image}`"
            else:
                detail = f"the proxy now comes from the webhook of revision `{new.revision or 'default'}`"
            self.risk(
                "injection-mode",
                name,
                f"`{name}` sidecar injection {old.injection_mode} → {new.injection_mode}: "
                f"pods restart; {detail}",
            )
        elif new.injection_mode == "manual" and old.proxy_image != new.proxy_image:
            self.change(
                "security",
                "proxy-image",
                name,
                f"`{name}` pinned proxy: `{old.proxy_image}` → `{new.proxy_image}`",
                old.proxy_image,
                new.proxy_image,
            )
            self.risk(
                "injection-mode",
                name,
                f"`{name}` pinned proxy `{old.proxy_image}` → `{new.proxy_image}`: pods restart; "
                f"proxy version pinned to `{new.proxy_image}`",
            )

    def service_security(self, old: ServiceView, new: ServiceView, relaxed_ns: set[str]) -> None:
        name = new.name
        moved = old.namespace != new.namespace
        explicit = old.own_mtls is not None or new.own_mtls is not None
        if old.mtls != new.mtls and (explicit or moved):
            self.change(
                "security", "mtls", name, f"`{name}` mTLS: {old.mtls} → {new.mtls}", old.mtls, new.mtls
            )
        if _relaxed(old.mtls, new.mtls) and (explicit or moved or new.namespace not in relaxed_ns):
            why = f" (moved to namespace `{new.namespace}`)" if moved and not explicit else ""
            self.risk("mtls-relaxed", name, f"`{name}`: {old.mtls} → {new.mtls}{why}")
        for port in sorted(set(old.port_mtls) | set(new.port_mtls)):
            a = old.port_mtls.get(port, old.mtls)
            b = new.port_mtls.get(port, new.mtls)
            if a != b:
                self.change("security", "port-mtls", name, f"`{name}` port {port} mTLS: {a} → {b}", a, b)
                if _relaxed(a, b):
                    self.risk("mtls-relaxed", name, f"`{name}` port {port}: {a} → {b}")
        if old.injection != new.injection and (
            old.own_injection is not None or new.own_injection is not None or moved
        ):
            self.change(
                "security",
                "injection",
                name,
                f"`{name}` sidecar injection: {_onoff(old.injection)} → {_onoff(new.injection)}",
                old.injection,
                new.injection,
            )
            if old.injection and not new.injection:
                self.risk(
                    "mtls-relaxed",
                    name,
                    f"sidecar injection disabled for `{name}`: it loses mTLS and authorization",
                )


def diff_intent(base: MeshView | None, head: MeshView | None) -> IntentDiff:
    """Every intent-level change from `base` to `head`, and the risks among them."""
    return _Differ(base, head).run()


# --- formatting helpers -----------------------------------------------------------------------------


def _inherits(svc: ServiceView, field_name: str, label: str, value: Any) -> bool:
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
    return svc.policies.get(label) == value


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _relaxed(before: str, after: str) -> bool:
    return MTLS_RANK.get(after, 0) < MTLS_RANK.get(before, 0)


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _list(items: Iterable[str], *, code: bool = False) -> str:
    items = list(items)
    if not items:
        return "none"
    return ", ".join(f"`{i}`" if code else i for i in items)


def _ports(ports: dict[int, str]) -> str:
    return ", ".join(f"{p}/{proto}" for p, proto in sorted(ports.items())) or "none"


def _servers(gw: GatewayView) -> str:
    return (
        ", ".join(f"{p}/{proto}" + (f" (TLS {tls})" if tls else "") for p, proto, tls in gw.servers) or "none"
    )


def _egress_ports(eg: EgressView) -> str:
    return ", ".join(f"{p}/{proto}" for p, proto in eg.ports) or "none"


def _opt(value: Any) -> str:
    return "none" if value is None else compact(value)


def _retries(r: Retries | None) -> str:
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


def _shift(before: dict[str, float] | None, after: dict[str, float] | None) -> str:
    """`v1 50% → 0%, v3 50% → 100%`: only the versions whose share moved."""
    if before is None or after is None:
        return f"{format_weights(before)} → {format_weights(after)}"
    parts = []
    for version in list(before) + [v for v in after if v not in before]:
        a, b = before.get(version, 0.0), after.get(version, 0.0)
        if a != b:
            parts.append(f"{version} {percent(a)} → {percent(b)}")
    return ", ".join(parts) or f"{format_weights(before)} → {format_weights(after)}"


def _destination(route: Route) -> str:
    if route.split:
        return "split " + ", ".join(f"{v} {w}" for v, w in route.split.items())
    if route.to:
        return route.to
    return "the default split"


def _describe_route(route: Route) -> str:
    match = compact(route.match, 60) if route.match else "every request"
    return f"{match} → {_destination(route)}"


def _route_changes(old: Route, new: Route) -> str:
    details = []
    if old.match != new.match:
        details.append(f"match {compact(old.match, 50)} → {compact(new.match, 50)}")
    if (old.to, old.split) != (new.to, new.split):
        details.append(f"{_destination(old)} → {_destination(new)}")
    if old.timeout != new.timeout:
        details.append(f"timeout {old.timeout or 'none'} → {new.timeout or 'none'}")
    if old.retries != new.retries:
        details.append(f"retries {_retries(old.retries)} → {_retries(new.retries)}")
    for attr in ("fault", "mirror"):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            details.append(f"{attr} {_opt(a)} → {_opt(b)}")
    return "; ".join(details) or "changed"


def _edge_json(edge: EdgeView) -> dict[str, Any]:
    return {
        "protocol": edge.protocol,
        "allows": [
            {"ports": list(r.ports), "methods": list(r.methods), "paths": list(r.paths)}
            for r in edge.restrictions
        ],
    }


def _gateway_json(gw: GatewayView) -> dict[str, Any]:
    return {
        "namespace": gw.namespace,
        "hosts": list(gw.hosts),
        "ports": _servers(gw),
        "jwtIssuer": gw.jwt_issuer,
    }


def _route_json(route: PublicRoute) -> dict[str, Any]:
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
    return out


def _claims(route: PublicRoute) -> str:
    if not route.required_claims:
        return "none"
    return ", ".join(f"{claim} in [{', '.join(values)}]" for claim, values in route.required_claims)


def _claims_relaxed(old: PublicRoute, new: PublicRoute) -> bool:
    """A required claim dropped, or given more allowed values."""
    now = dict(new.required_claims)
    return any(
        claim not in now or not set(now[claim]) <= set(values) for claim, values in old.required_claims
    )


def _egress_json(eg: EgressView) -> dict[str, Any]:
    return {"hosts": list(eg.hosts), "callers": list(eg.callers), "ports": _egress_ports(eg)}
