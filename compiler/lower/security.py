"""mTLS (PeerAuthentication) and least-privilege authorization derived from the declared edges.

Per namespace the mesh owns: an allow-nothing policy (an ALLOW policy with no rules denies every
request). Per service: one ALLOW policy naming exactly the principals of its declared callers and,
for routes exposed through an ingress gateway, the gateway's principal. Ports in authorization
policies are workload (target) ports, which is what Envoy sees on the inbound side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..index import MeshIndex, Scope, ServiceInfo
from . import names
from .common import SECURITY, Manifest, manifest


def peer_authentications(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    """Namespace-wide PeerAuthentication in every namespace the spec owns; a mesh-wide one in the
    root namespace only with `meshWide: true` (it would change every other team's namespaces).
    MC151 rejects a spec that would also set the root namespace's own mode."""
    spec = index.mesh.spec
    mesh_mode = spec.security.mtls
    if spec.mesh_wide:
        root = spec.control_plane.root_namespace
        yield manifest(
            index, SECURITY, "PeerAuthentication", names.NAMESPACE_POLICY, root, {"mtls": {"mode": mesh_mode}}
        )
    for name in index.scope_namespaces(scope):
        settings = index.namespace_settings.get(name)
        mode = settings.mtls if settings is not None and settings.mtls is not None else None
        if mode is None and not spec.mesh_wide:
            mode = mesh_mode
        if mode is not None:
            yield manifest(
                index, SECURITY, "PeerAuthentication", names.NAMESPACE_POLICY, name, {"mtls": {"mode": mode}}
            )
    for info in index.placed(scope):
        security = info.model.security
        if security is None or (security.mtls is None and not security.port_mtls):
            continue
        body: dict[str, Any] = {"selector": {"matchLabels": {"app": info.name}}}
        if security.mtls is not None:
            body["mtls"] = {"mode": security.mtls}
        if security.port_mtls:
            levels = {}
            for entry in sorted(security.port_mtls, key=lambda e: e.port):
                port = info.port(entry.port)
                levels[str(port.target if port else entry.port)] = {"mode": entry.mode}
            body["portLevelMtls"] = levels
        yield manifest(
            index, SECURITY, "PeerAuthentication", info.name, info.namespace, body, owner=info.owner
        )


def _operation(
    index: MeshIndex, callee: ServiceInfo, ports: list[int], methods: list[str], paths: list[str]
) -> dict[str, Any]:
    op: dict[str, Any] = {}
    chosen = [callee.port(p) for p in ports] if ports else []
    targets = sorted({p.target for p in chosen if p is not None})
    if targets:
        op["ports"] = [str(t) for t in targets]
    if methods:
        op["methods"] = sorted(set(methods))
    if paths:
        op["paths"] = sorted(set(paths))
    return op


def allow_rules(index: MeshIndex, info: ServiceInfo) -> list[dict[str, Any]]:
    """One rule per distinct operation, listing every principal allowed to perform it."""
    grouped: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for edge in info.callers:
        caller = edge.caller
        op = _operation(index, info, edge.call.ports, edge.call.methods, edge.call.paths)
        _add(grouped, op, index.principal(caller.namespace, caller.account))
    for gateway, _, route in info.gateway_routes:
        ports = [route.to.port] if route.to.port else []
        op = _operation(index, info, ports, [], [])
        _add(grouped, op, index.principal(gateway.workload.namespace, gateway.workload.account))
    rules = []
    for key in sorted(grouped):
        op, principals = grouped[key]
        rule: dict[str, Any] = {"from": [{"source": {"principals": sorted(principals)}}]}
        if op:
            rule["to"] = [{"operation": op}]
        rules.append(rule)
    return rules


def _add(grouped: dict[str, tuple[dict[str, Any], set[str]]], op: dict[str, Any], principal: str) -> None:
    key = repr(sorted(op.items()))
    grouped.setdefault(key, (op, set()))[1].add(principal)


def authorization_policies(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    if index.mesh.spec.security.authorization.default_deny:
        for name in index.scope_namespaces(scope):
            # ALLOW with no rules matches nothing: every request to the namespace is denied unless
            # another ALLOW policy admits it (Istio's documented "allow-nothing" policy).
            yield manifest(index, SECURITY, "AuthorizationPolicy", names.ALLOW_NOTHING, name, {})
    for info in index.placed(scope):
        rules = allow_rules(index, info)
        if not rules:
            continue
        spec = {"selector": {"matchLabels": {"app": info.name}}, "action": "ALLOW", "rules": rules}
        yield manifest(
            index, SECURITY, "AuthorizationPolicy", info.name, info.namespace, spec, owner=info.owner
        )
