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

from collections.abc import Iterator
from dataclasses import dataclass

from mesh_spec.source import PathItem

from ..lower import names
from .base import Finding, RuleContext

CODE = "MC150"
NAME = "name-collision"
SEVERITY = "error"


@dataclass(frozen=True, slots=True)
class Planned:
    """An object lowering will produce, and the spec element it comes from (no path: the mesh's
    own namespace-wide objects)."""

    kind: str
    namespace: str
    name: str
    source: str
    path: tuple[PathItem, ...] | None


def planned(ctx: RuleContext) -> Iterator[Planned]:
    """The objects whose names depend on user-chosen names, as `compiler.lower` names them."""
    index, spec, mesh = ctx.index, ctx.mesh.spec, ctx.index.name
    if any(scope.east_west for scope in index.scopes):
        cp = spec.control_plane.namespace
        yield Planned("Gateway", cp, names.EAST_WEST_GATEWAY, "the east-west gateway", None)
    if spec.mesh_wide:
        root = spec.control_plane.root_namespace
        yield Planned("PeerAuthentication", root, names.NAMESPACE_POLICY, "the mesh-wide mTLS policy", None)
        if spec.telemetry is not None:
            yield Planned("Telemetry", root, names.MESH_TELEMETRY, "the mesh-wide telemetry", None)
    for ns in index.app_namespaces:
        what = f"namespace '{ns}'"
        if spec.security.authorization.default_deny:
            yield Planned(
                "AuthorizationPolicy", ns, names.ALLOW_NOTHING, f"the allow-nothing policy of {what}", None
            )
        settings = index.namespace_settings.get(ns)
        if not spec.mesh_wide or (settings is not None and settings.mtls is not None):
            mtls = f"the mTLS policy of {what}"
            yield Planned("PeerAuthentication", ns, names.NAMESPACE_POLICY, mtls, None)
        if spec.telemetry is not None and not spec.mesh_wide:
            yield Planned("Telemetry", ns, names.NAMESPACE_POLICY, f"the telemetry of {what}", None)
    for i, svc in enumerate(spec.services):
        info = index.services.get(svc.name)
        if info is None or info.index != i:
            continue  # a duplicate service: MC102
        ns, where = info.namespace, f"service '{svc.name}'"
        path: tuple[PathItem, ...] = (*info.path, "name")
        for kind in ("Service", "DestinationRule", "VirtualService", "Sidecar", "AuthorizationPolicy"):
            yield Planned(kind, ns, svc.name, where, path)
        if svc.security is not None and (svc.security.mtls is not None or svc.security.port_mtls):
            yield Planned("PeerAuthentication", ns, svc.name, where, path)
        if svc.telemetry is not None:
            yield Planned("Telemetry", ns, svc.name, where, path)
        for j, version in enumerate(svc.versions):
            if version.image:
                yield Planned(
                    "Deployment",
                    ns,
                    names.deployment(svc.name, version.name),
                    f"{where} version '{version.name}'",
                    (*info.path, "versions", j, "name"),
                )
    for i, gw in enumerate(spec.gateways):
        if index.gateways.get(gw.name, (None,))[0] != i:
            continue
        ns, where = index.gateway_namespace(gw), f"gateway '{gw.name}'"
        path = ("spec", "gateways", i, "name")
        yield Planned("Gateway", ns, names.gateway(mesh, gw.name), where, path)
        yield Planned("VirtualService", ns, names.gateway(mesh, gw.name), where, path)
        if gw.jwt is not None:
            workload = gw.workload.namespace
            yield Planned("RequestAuthentication", workload, names.gateway_jwt(mesh, gw.name), where, path)
            deny = names.gateway_require_jwt(mesh, gw.name)
            yield Planned("AuthorizationPolicy", workload, deny, where, path)
    for i, egress in enumerate(spec.egress):
        if index.egress.get(egress.name, (None,))[0] != i:
            continue
        ns, where = index.egress_namespace(egress), f"egress '{egress.name}'"
        path = ("spec", "egress", i, "name")
        yield Planned("ServiceEntry", ns, names.service_entry(mesh, egress.name), where, path)
        if egress.gateway is not None:
            name = names.egress_gateway(mesh, egress.name)
            yield Planned("Gateway", egress.gateway.namespace, name, where, path)
            yield Planned("VirtualService", ns, name, where, path)


def check(ctx: RuleContext) -> Iterator[Finding]:
    first: dict[tuple[str, str, str], Planned] = {}
    for obj in planned(ctx):
        key = (obj.kind, obj.namespace, obj.name)
        earlier = first.setdefault(key, obj)
        if earlier is obj or earlier.source == obj.source:
            continue
        message = f"{obj.source} and {earlier.source} both compile to {obj.kind} {obj.namespace}/{obj.name}"
        hint = "rename one of them; Kubernetes keeps one object per kind, namespace and name"
        for one in (earlier, obj):
            if one.path is not None:
                yield Finding(one.path, message, hint)
