"""mTLS (PeerAuthentication) and least-privilege authorization derived from the declared edges.

With default-deny (the default), per namespace the mesh owns: an allow-nothing policy (an ALLOW
policy with no rules denies every request). Per service: one ALLOW policy naming exactly the
principals of its declared callers and, for routes exposed through an ingress gateway, the
gateway's principal. HTTP conditions apply to HTTP ports only, and ports that receive plain text
(mTLS DISABLE) cannot be limited to principals. Without default-deny no authorization policy is
written for services. Ports in authorization policies are workload (target) ports, which is what
Envoy sees on the inbound side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshc.spec.models import HTTP_PROTOCOLS, AllowRule, AllowSource, Jwt

from ..index import MeshIndex, ResolvedPort, Scope, ServiceInfo, call_ports
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


Grouped = dict[tuple[bool, str], tuple[dict[str, Any], set[str]]]


def _operations(
    index: MeshIndex,
    callee: ServiceInfo,
    ports: list[ResolvedPort],
    methods: list[str],
    paths: list[str],
    *,
    named: bool,
) -> list[tuple[bool, dict[str, Any]]]:
    """(plain text?, operation) per group of the used ports that Istio must treat alike.

    HTTP conditions (`methods`, `paths`) never match TCP traffic, so TCP ports get their own
    operation without them (else the call's TCP ports would be closed). Ports that receive plain
    text get their own operation too: a rule there cannot require the caller's principal.
    """
    plain = index.plaintext_ports(callee)
    groups: dict[tuple[bool, bool], list[int]] = {}
    for port in ports:
        key = (port.target in plain, port.protocol in HTTP_PROTOCOLS)
        groups.setdefault(key, []).append(port.target)
    every_port = {p.target for p in callee.ports} == {p.target for p in ports}
    out = []
    for (plaintext, http), targets in sorted(groups.items()):
        op: dict[str, Any] = {}
        if named or not every_port or len(groups) > 1:
            op["ports"] = [str(t) for t in sorted(set(targets))]
        if http and methods:
            op["methods"] = sorted(set(methods))
        if http and paths:
            op["paths"] = sorted(set(paths))
        out.append((plaintext, op))
    return out


def allow_rules(index: MeshIndex, info: ServiceInfo) -> list[dict[str, Any]]:
    """One rule per distinct operation, listing every principal allowed to perform it; operations
    on ports that receive plain text admit any source (MC127 says so)."""
    grouped: Grouped = {}
    for edge in info.callers:
        caller = edge.caller
        ports = call_ports(info, edge.call)
        for plaintext, op in _operations(
            index, info, ports, edge.call.methods, edge.call.paths, named=bool(edge.call.ports)
        ):
            _add(grouped, plaintext, op, index.principal(caller.namespace, caller.account))
    for gateway, _, route in info.gateway_routes:
        routed = info.port(route.to.port) if route.to.port else None
        ports = [routed] if routed is not None else list(info.ports)
        gateway_principal = index.principal(gateway.workload.namespace, gateway.workload.account)
        methods, paths = route.to.methods, route.to.paths
        for plaintext, op in _operations(index, info, ports, methods, paths, named=routed is not None):
            _add(grouped, plaintext, op, gateway_principal)
    rules = []
    for key in sorted(grouped):
        plaintext, _ = key
        op, principals = grouped[key]
        rule: dict[str, Any] = {} if plaintext else {"from": [{"source": {"principals": sorted(principals)}}]}
        if op:
            rule["to"] = [{"operation": op}]
        rules.append(rule)
    security = info.model.security
    for extra in security.allow if security is not None else []:
        rules.extend(_extra_rules(index, info, extra))
    return rules


def allow_source(index: MeshIndex, source: AllowSource) -> dict[str, Any]:
    """The Istio `source` of an authorization source beyond the declared callers."""
    out: dict[str, Any] = {}
    if source.mesh:
        out["principals"] = [f"{index.trust_domain}/*"]
    elif source.namespaces:
        out["namespaces"] = sorted(set(source.namespaces))
    elif source.plaintext:
        # Plain text has no principal: `*` matches any non-empty one, so this admits exactly the
        # requests without a peer identity. A meshed workload keeps needing a declared edge.
        out["notPrincipals"] = ["*"]
    if source.ip_blocks:
        out["ipBlocks"] = sorted(set(source.ip_blocks))
    return out


def _extra_rules(index: MeshIndex, info: ServiceInfo, extra: AllowRule) -> list[dict[str, Any]]:
    """One ALLOW rule per group of ports. With HTTP conditions (`methods`, `paths`, `claims`) only
    HTTP ports: an ALLOW rule with HTTP-only fields never matches TCP, and opening the TCP ports
    without the conditions would admit more than the entry says (unlike a call, the source is not
    a declared edge)."""
    ports = [p for p in (info.port(n) for n in extra.ports) if p is not None] if extra.ports else info.ports
    if extra.methods or extra.paths or extra.claims:
        ports = [p for p in ports if p.protocol in HTTP_PROTOCOLS]
    if not ports:
        return []
    out = []
    for _, op in _operations(index, info, ports, extra.methods, extra.paths, named=bool(extra.ports)):
        rule: dict[str, Any] = {"from": [{"source": allow_source(index, extra.source)}]}
        if op:
            rule["to"] = [{"operation": op}]
        if extra.claims:
            rule["when"] = [
                {"key": claim_key(name), "values": sorted(set(values))}
                for name, values in sorted(extra.claims.items())
            ]
        out.append(rule)
    return out


def claim_key(name: str) -> str:
    """The authorization condition key of a claim (`a.b` is the nested claim b of a)."""
    return "request.auth.claims" + "".join(f"[{part}]" for part in name.split("."))


def jwt_rule(jwt: Jwt) -> dict[str, Any]:
    """A RequestAuthentication `jwtRules` entry."""
    rule: dict[str, Any] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri}
    if jwt.audiences:
        rule["audiences"] = list(jwt.audiences)
    if jwt.forward_original_token:
        rule["forwardOriginalToken"] = True
    if jwt.from_headers:
        rule["fromHeaders"] = [{"name": h} for h in jwt.from_headers]
    if jwt.output_claim_to_headers:
        rule["outputClaimToHeaders"] = [
            {"header": header, "claim": claim}
            for header, claim in sorted(jwt.output_claim_to_headers.items())
        ]
    return rule


def _on_ports(targets: list[int]) -> list[dict[str, Any]]:
    return [{"operation": {"ports": [str(t) for t in targets]}}]


def service_jwt(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    """A service's own `jwt`: a RequestAuthentication for its workload and, since that alone lets
    requests without a token through, a DENY policy on its HTTP ports for requests without a request
    principal of its issuers, and for tokens lacking a required claim (`notValues` holds when the
    claim or token is missing: fails closed). DENY, not conditions on the ALLOW rules, so that every
    way in (declared callers, gateways, extra sources) needs the token, with or without defaultDeny.
    TCP ports are left out: a DENY rule ignores HTTP-only fields on TCP and would close them (MC195)."""
    for info in index.placed(scope):
        security = info.model.security
        jwt = security.jwt if security is not None else None
        if jwt is None:
            continue
        selector = {"matchLabels": {"app": info.name}}
        yield manifest(
            index,
            SECURITY,
            "RequestAuthentication",
            info.name,
            info.namespace,
            {"selector": selector, "jwtRules": [jwt_rule(j) for j in jwt.issuers]},
            owner=info.owner,
        )
        http_ports = sorted({p.target for p in info.http_ports})
        if not http_ports or not (jwt.required or jwt.require_claims):
            continue

        rules: list[dict[str, Any]] = []
        if jwt.required:
            issuers = sorted({f"{j.issuer}/*" for j in jwt.issuers})
            rules.append(
                {"from": [{"source": {"notRequestPrincipals": issuers}}], "to": _on_ports(http_ports)}
            )
        for name, values in sorted(jwt.require_claims.items()):
            rules.append(
                {
                    "to": _on_ports(http_ports),
                    "when": [{"key": claim_key(name), "notValues": sorted(set(values))}],
                }
            )
        yield manifest(
            index,
            SECURITY,
            "AuthorizationPolicy",
            names.service_require_jwt(info.name),
            info.namespace,
            {"selector": selector, "action": "DENY", "rules": rules},
            owner=info.owner,
        )


def _add(grouped: Grouped, plaintext: bool, op: dict[str, Any], principal: str) -> None:
    key = (plaintext, repr(sorted(op.items())))
    grouped.setdefault(key, (op, set()))[1].add(principal)


def gateway_pods_allowed(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    """Ingress gateway pods running in a namespace the spec owns would be selected by its
    allow-nothing policy, and every request from outside would get 403 (found by `meshc verify`'s
    gateway probes). Their traffic comes from clients outside the mesh, which have no identity to
    name, so their pods get an ALLOW-all policy, as if no ALLOW policy applied (the JWT and claims
    DENY policies still come first): once per set of pods."""
    owned = set(index.scope_namespaces(scope))
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for gateway in sorted(scope.gateways, key=lambda g: g.name):
        ns = gateway.workload.namespace
        pods = (ns, tuple(sorted(gateway.selector.items())))
        if ns not in owned or pods in seen:
            continue
        seen.add(pods)
        spec = {"selector": {"matchLabels": dict(gateway.selector)}, "action": "ALLOW", "rules": [{}]}
        name = names.gateway_pods_allow(index.name, gateway.name)
        yield manifest(
            index, SECURITY, "AuthorizationPolicy", name, ns, spec, owner=f"gateway/{gateway.name}"
        )


def authorization_policies(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    yield from service_jwt(index, scope)
    if index.mesh.spec.security.authorization.default_deny:
        for name in index.scope_namespaces(scope):
            # ALLOW with no rules matches nothing: every request to the namespace is denied unless
            # another ALLOW policy admits it (Istio's documented "allow-nothing" policy).
            yield manifest(index, SECURITY, "AuthorizationPolicy", names.ALLOW_NOTHING, name, {})
        yield from gateway_pods_allowed(index, scope)
    else:
        # Without default-deny an undeclared call must get through, and any ALLOW policy on a
        # workload denies what it does not list: none is written (MC128 names the call
        # conditions that are then not enforced).
        return
    for info in index.placed(scope):
        rules = allow_rules(index, info)
        if not rules:
            continue
        spec = {"selector": {"matchLabels": {"app": info.name}}, "action": "ALLOW", "rules": rules}
        yield manifest(
            index, SECURITY, "AuthorizationPolicy", info.name, info.namespace, spec, owner=info.owner
        )
