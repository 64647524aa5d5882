"""Two parts of the spec compile to objects of one kind with one name in one namespace.

Why: Kubernetes keeps one object per kind, namespace and name; applying the second replaces the
first without a word. A service named `default-deny` would get an ALLOW policy that replaces the
namespace's allow-nothing policy and opens the namespace to everyone; service `a` version `b-c`
and service `a-b` version `c` would both be Deployment `a-b-c`, one running the other's image.
meshc keeps the names users already have (renaming every object on upgrade would churn every
mesh), so the few that can collide are reported here, at both places in the spec.

Example:
    services:
      - name: a
        versions: [{ name: b-c, image: ... }]    # Deployment a-b-c
      - name: a-b
        versions: [{ name: c, image: ... }]      # Deployment a-b-c again

Fix: rename one of the two (a service, version, gateway or egress entry). Names reserved for
namespace-wide objects (`default`, `default-deny`) cannot be used by a service that would compile
to an object of that kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from meshc.spec.models import Egress
from meshc.spec.source import PathItem

from ..index import ServiceInfo
from ..lower import names
from ..lower.egress import host_policy, http_route_policy, is_http, mesh_leg_namespaces, numbered
from ..lower.egress import placements as egress_placements
from .base import Finding, RuleContext

CODE = "MC150"
NAME = "name-collision"
SEVERITY = "error"
SCOPE = "mesh"


class Source(NamedTuple):
    """A spec element that compiles to objects (no path: the mesh's own namespace-wide objects)."""

    description: str
    path: tuple[PathItem, ...] | None


_SERVICE, _JWT, _VERSION = object(), object(), object()
"""Where a service's objects come from, as a token (`(_SERVICE, i)`, `(_JWT, i)`, `(_VERSION, i, j)`
for service entry i and its version j): equal exactly when their `_source`s are, never equal to a
`Source`, and cheap to make for the ~70,000 objects of a 10,000-service mesh."""

Token = Source | tuple[object, ...]

Planned = tuple[str, str, str, Token]
"""kind, namespace, name of an object lowering will produce, and where it comes from. Plain
tuples: a 10,000-service mesh plans ~75,000 of them."""


def _source(ctx: RuleContext, token: Token) -> Source:
    if isinstance(token, Source):
        return token
    what, i = token[0], int(token[1])  # type: ignore[call-overload]
    svc = ctx.mesh.spec.services[i]
    info = ctx.index.find(svc.namespace or ctx.mesh.spec.defaults.namespace, svc.name)
    assert info is not None
    where = f"service '{info.key}'"
    if what is _JWT:
        return Source(f"the JWT policy of {where}", (*info.path, "security", "jwt"))
    if what is _VERSION:
        j = int(token[2])  # type: ignore[call-overload]
        return Source(f"{where} version '{svc.versions[j].name}'", (*info.path, "versions", j, "name"))
    return Source(where, (*info.path, "name"))


def planned(ctx: RuleContext) -> Iterator[Planned]:
    """The objects whose names depend on user-chosen names, as `meshc.compiler.lower` names them."""
    yield from _namespace_wide(ctx)
    for info in ctx.index.services.values():  # spec order, without the duplicates (MC102)
        yield from _service_objects(info, own=True, deployments=True)
    yield from _gateway_and_egress_objects(ctx)


def _namespace_wide(ctx: RuleContext) -> Iterator[Planned]:
    index, spec, mesh = ctx.index, ctx.mesh.spec, ctx.index.name
    if any(scope.east_west for scope in index.scopes):
        cp = spec.control_plane.namespace
        yield ("Gateway", cp, names.east_west_gateway(mesh), Source("the east-west gateway", None))
    if spec.mesh_wide:
        root = spec.control_plane.root_namespace
        yield ("PeerAuthentication", root, names.NAMESPACE_POLICY, Source("the mesh-wide mTLS policy", None))
        if spec.telemetry is not None:
            yield ("Telemetry", root, names.MESH_TELEMETRY, Source("the mesh-wide telemetry", None))
    for ns in index.app_namespaces:
        what = f"namespace '{ns}'"
        if spec.security.authorization.default_deny:
            allow_nothing = Source(f"the allow-nothing policy of {what}", None)
            yield ("AuthorizationPolicy", ns, names.ALLOW_NOTHING, allow_nothing)
        settings = index.namespace_settings.get(ns)
        if not spec.mesh_wide or (settings is not None and settings.mtls is not None):
            mtls = f"the mTLS policy of {what}"
            yield ("PeerAuthentication", ns, names.NAMESPACE_POLICY, Source(mtls, None))
        if spec.telemetry is not None and not spec.mesh_wide:
            yield ("Telemetry", ns, names.NAMESPACE_POLICY, Source(f"the telemetry of {what}", None))


def _service_objects(info: ServiceInfo, *, own: bool, deployments: bool) -> Iterator[Planned]:
    """A service's objects: those named after the service itself (token `(_SERVICE, i)`) with
    `own`, its JWT policy, its Deployments with `deployments`."""
    svc, ns, name = info.model, info.namespace, info.model.name
    token = (_SERVICE, info.index)  # its Source is written only for a collision (`_source`)
    security = svc.security
    jwt = security.jwt if security is not None else None
    if own:
        yield ("Service", ns, name, token)
        yield ("DestinationRule", ns, name, token)
        yield ("VirtualService", ns, name, token)
        yield ("Sidecar", ns, name, token)
        yield ("AuthorizationPolicy", ns, name, token)
        if jwt is not None:
            yield ("RequestAuthentication", ns, name, token)
    policy = _jwt_policy(info) if jwt is not None else None
    if policy is not None:
        yield policy
    if own and security is not None and (security.mtls is not None or security.port_mtls):
        yield ("PeerAuthentication", ns, name, token)
    if own and svc.telemetry is not None:
        yield ("Telemetry", ns, name, token)
    if deployments:
        for j, version in enumerate(svc.versions):
            if version.image:
                yield ("Deployment", ns, names.deployment(name, version.name), (_VERSION, info.index, j))


def _jwt_policy(info: ServiceInfo) -> Planned | None:
    """The service's own JWT policy (lower.security.service_jwt), if it gets one."""
    security = info.model.security
    jwt = security.jwt if security is not None else None
    if jwt is not None and info.speaks_http and (jwt.required or jwt.require_claims):
        name = names.service_require_jwt(info.model.name)
        return ("AuthorizationPolicy", info.namespace, name, (_JWT, info.index))
    return None


def _gateway_and_egress_objects(ctx: RuleContext) -> Iterator[Planned]:
    index, spec, mesh = ctx.index, ctx.mesh.spec, ctx.index.name
    owned = set(index.app_namespaces)
    pods_allowed: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for _, gw in sorted(index.gateways.values(), key=lambda found: found[1].name):
        pods_allowed.setdefault((gw.workload.namespace, tuple(sorted(gw.selector.items()))), gw.name)
    for i, gw in enumerate(spec.gateways):
        if index.gateways.get(gw.name, (None,))[0] != i:
            continue
        ns, source = (
            index.gateway_namespace(gw),
            Source(f"gateway '{gw.name}'", ("spec", "gateways", i, "name")),
        )
        yield ("Gateway", ns, names.gateway(mesh, gw.name), source)
        yield ("VirtualService", ns, names.gateway(mesh, gw.name), source)
        pods = (gw.workload.namespace, tuple(sorted(gw.selector.items())))
        if spec.security.authorization.default_deny and pods[0] in owned and pods_allowed[pods] == gw.name:
            # lower.security.gateway_pods_allowed: once per set of pods, named after the first gateway
            yield ("AuthorizationPolicy", pods[0], names.gateway_pods_allow(mesh, gw.name), source)
        if gw.jwt is not None:
            workload = gw.workload.namespace
            yield ("RequestAuthentication", workload, names.gateway_jwt(mesh, gw.name), source)
            required = names.gateway_require_jwt(mesh, gw.name)
            yield ("AuthorizationPolicy", workload, required, source)
        if any(route.require_claims for route in gw.routes):
            claims = names.gateway_require_claims(mesh, gw.name)
            yield ("AuthorizationPolicy", gw.workload.namespace, claims, source)
        if any(route.remote_ip_blocks for route in gw.routes):
            client_ips = names.gateway_client_ips(mesh, gw.name)
            yield ("AuthorizationPolicy", gw.workload.namespace, client_ips, source)
    shared: set[tuple[str, str, str]] = set()
    for i, egress in enumerate(spec.egress):
        if index.egress.get(egress.name, (None,))[0] != i:
            continue
        ns, source = (
            index.egress_namespace(egress),
            Source(f"egress '{egress.name}'", ("spec", "egress", i, "name")),
        )
        places = egress_placements(index, egress)
        for ns in sorted({ns for ns, _ in places}):
            yield ("ServiceEntry", ns, names.service_entry(mesh, egress.name), source)
        yield from _egress_policies(mesh, egress, places, source)
        if egress.gateway is not None and places:
            gw_ns, gw_name, count = (
                egress.gateway.namespace,
                names.egress_gateway(mesh, egress.name),
                len(egress.hosts),
            )
            for kind in ("Gateway", "AuthorizationPolicy"):
                yield (kind, gw_ns, gw_name, source)
            subsets = ("DestinationRule", gw_ns, names.egress_gateway_subsets(mesh, egress.gateway.service))
            if subsets not in shared:  # one for every entry through the gateway
                shared.add(subsets)
                yield (*subsets, source)
            callers = sorted({c.namespace for c in index.egress_callers(egress)})
            for i in range(count):
                yield ("VirtualService", gw_ns, numbered(gw_name, i, count), source)
                leg = numbered(names.egress_mesh_leg(mesh, egress.name), i, count)
                for ns in mesh_leg_namespaces(egress, places, callers):
                    yield ("VirtualService", ns, leg, source)


def _egress_policies(
    mesh: str, egress: Egress, places: list[tuple[str, list[str]]], source: Source
) -> Iterator[tuple[str, str, str, Source]]:
    """lower.egress: the host policies (TLS origination, limits, timeouts and retries), named after
    the ServiceEntry: beside each of its copies without a gateway, in the gateway's namespace with one."""
    base = names.service_entry(mesh, egress.name)
    count = len(egress.hosts)
    gw = egress.gateway
    if (
        gw is not None
        and places
        and egress.tls_origination is not None
        and all(ns != gw.namespace for ns, _ in places)
    ):
        yield ("ServiceEntry", gw.namespace, base, source)
    routes = bool(http_route_policy(egress)) and any(is_http(p) for p in egress.ports)
    for i, host in enumerate(egress.hosts):
        name, policy = numbered(base, i, count), bool(host_policy(egress, host))
        if gw is not None:
            if policy and places:
                yield ("DestinationRule", gw.namespace, name, source)
            continue
        for ns in sorted({ns for ns, _ in places}):
            if policy:
                yield ("DestinationRule", ns, name, source)
            if routes:
                yield ("VirtualService", ns, name, source)


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The collisions of `planned(ctx)`, in its order, with the objects that are planned once only
    (of ~7 a service, most) left out of the stream: such an object neither collides nor decides
    which of two is "earlier", so leaving it out changes nothing (tests/test_rule_fast_paths.py).

    - The objects a service names after itself are unique among the services' (services are unique
      by namespace and name): they can only collide with an object of another source whose
      namespace and name are the service's (`taken`).
    - Deployments are the only objects of their kind a service plans: when their names are
      distinct, none collides.
    """
    head = list(_namespace_wide(ctx))
    tail = list(_gateway_and_egress_objects(ctx))
    services = ctx.index.services.values()
    taken = {(ns, name) for _, ns, name, _ in head}
    taken.update((ns, name) for _, ns, name, _ in tail)
    jwt: dict[int, Planned] = {}
    for info in services:
        policy = _jwt_policy(info) if info.model.security is not None else None
        if policy is not None:  # the only object a service names other than after itself
            jwt[info.index] = policy
            taken.add((policy[1], policy[2]))
    deployments = [
        ("Deployment", info.namespace, names.deployment(info.model.name, version.name))
        for info in services
        for version in info.model.versions
        if version.image
    ]
    deployments_collide = len(set(deployments)) != len(deployments) or any(
        kind == "Deployment" for kind, _, _, _ in (*head, *tail)
    )

    def stream() -> Iterator[Planned]:
        yield from head
        for info in services:
            own = (info.namespace, info.model.name) in taken
            if own or deployments_collide or info.index in jwt:
                yield from _service_objects(info, own=own, deployments=deployments_collide)
        yield from tail

    yield from _collisions(ctx, stream())


def _collisions(ctx: RuleContext, objects: Iterable[Planned]) -> Iterator[Finding]:
    first: dict[tuple[str, str, str], Token] = {}
    for kind, namespace, name, token in objects:
        found = first.setdefault((kind, namespace, name), token)
        if found is token or found == token:
            continue
        earlier, source = _source(ctx, found), _source(ctx, token)
        message = f"{source.description} and {earlier.description} both compile to {kind} {namespace}/{name}"
        hint = "rename one of them; Kubernetes keeps one object per kind, namespace and name"
        for one in (earlier, source):
            if one.path is not None:
                yield Finding(one.path, message, hint)
