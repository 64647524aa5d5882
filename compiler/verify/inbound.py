"""Inbound at the receiving proxy: PeerAuthentication (is plaintext accepted, is there a peer
identity), RequestAuthentication (JWT), AuthorizationPolicy (CUSTOM, DENY, ALLOW)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import Config, Resource
from .matching import authz_value
from .request import Step, Token
from .world import Workload

MODES = ("STRICT", "PERMISSIVE", "DISABLE")


def peer_mode(config: Config, workload: Workload, target_port: int) -> tuple[str, str]:
    """The effective mTLS mode of `workload` on `target_port` and the resource deciding it
    (peer-authn): workload-level (port-level first), namespace-level, mesh-level (root namespace),
    else Istio's default PERMISSIVE. UNSET or absent fields inherit from the level above."""
    key = (workload, target_port)
    found = config.peer_modes.get(key)
    if found is None:
        found = config.peer_modes[key] = _peer_mode(config, workload, target_port)
    return found


def _peer_mode(config: Config, workload: Workload, target_port: int) -> tuple[str, str]:
    policies = config.applicable("PeerAuthentication", workload)
    root, ns = config.root_namespace, workload.namespace
    levels: list[Resource] = []
    levels += sorted((p for p in policies if p.selector is not None and p.namespace == ns), key=_age)
    if ns != root:
        levels += [p for p in policies if p.selector is None and p.namespace == ns]
    levels += [p for p in policies if p.selector is None and p.namespace == root]
    for p in levels:
        port_level = p.spec.get("portLevelMtls", {}).get(str(target_port), {}).get("mode")
        if p.selector is not None and port_level in MODES:
            return str(port_level), p.ref
        mode = p.spec.get("mtls", {}).get("mode")
        if mode in MODES:
            return str(mode), p.ref
    return "PERMISSIVE", "mesh-default"


def _age(r: Resource) -> tuple[str, str]:
    # Istio picks the oldest of several workload policies; meshc writes at most one, so name order.
    return (r.namespace, r.name)


@dataclass(frozen=True, slots=True)
class Inbound:
    """The request as the receiving proxy's filters see it."""

    target_port: int
    http: bool
    principal: str | None
    """The peer's SPIFFE identity without `spiffe://` (mTLS only)."""
    host: str | None = None
    method: str | None = None
    path: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    request_principal: str | None = None
    claims: tuple[tuple[str, str], ...] = ()
    sni: str | None = None
    """The server name of the TLS connection the proxy terminated (None: plaintext, or TLS without
    SNI)."""
    source_ip: str | None = None
    """The connection's peer address (`source.ip`, `ipBlocks`)."""
    remote_ip: str | None = None
    """The client's address as Envoy derives it (`remote.ip`, `remoteIpBlocks`): the peer address
    unless proxies in front are trusted (`numTrustedProxies`, 0 by default: `X-Forwarded-For` is
    not believed)."""

    @property
    def source_namespace(self) -> str | None:
        if self.principal is None or "/ns/" not in self.principal:
            return None
        return self.principal.split("/ns/", 1)[1].split("/", 1)[0]


def jwt_rule_for(config: Config, workload: Workload, issuer: str) -> Mapping[str, Any] | None:
    """The `jwtRules` entry that validates tokens of `issuer` for `workload` (request-authn)."""
    for ra in config.applicable("RequestAuthentication", workload):
        for rule in ra.spec.get("jwtRules", []):
            if rule.get("issuer") == issuer:
                return dict(rule)
    return None


def authenticate_jwt(
    config: Config, workload: Workload, token: Token | None
) -> tuple[str | None, Step | None]:
    """RequestAuthentication (request-authn): returns (rejection reason or None, the deciding step).
    A token whose issuer no applicable rule names is rejected (401); no token passes."""
    rules = config.applicable("RequestAuthentication", workload)
    if token is None or not rules:
        return None, None
    for ra in rules:
        for rule in ra.spec.get("jwtRules", []):
            if rule.get("issuer") != token.issuer:
                continue
            audiences = rule.get("audiences") or []
            if audiences and not set(audiences) & set(token.audiences or audiences):
                return "401: JWT audience not allowed", Step(
                    ra.ref, f"rejects the token: audience not in {audiences}", "request-authn"
                )
            return None, Step(ra.ref, f"validates the token of {token.issuer}", "request-authn")
    names = ", ".join(r.ref for r in rules)
    return (
        f"401: JWT issuer {token.issuer} is not configured ({names})",
        Step(
            rules[0].ref,
            f"rejects a token from {token.issuer}: no jwtRule names that issuer",
            "request-authn",
        ),
    )


HTTP_ONLY_SOURCE = ("requestPrincipals", "notRequestPrincipals")
HTTP_ONLY_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")


def authorize(config: Config, workload: Workload, req: Inbound) -> tuple[bool, str, list[Step]]:
    """AuthorizationPolicy evaluation (authz-order): CUSTOM, DENY, then ALLOW."""
    policies = config.applicable("AuthorizationPolicy", workload)
    steps: list[Step] = []
    custom = [p for p in policies if p.spec.get("action") == "CUSTOM"]
    if custom:
        steps.append(
            Step(custom[0].ref, "CUSTOM (ext-authz) is not modelled: assumed to allow", "authz-order")
        )
    for p in policies:
        if p.spec.get("action") != "DENY":
            continue
        i = _first_matching_rule(p, req, deny=True)
        if i is not None:
            steps.append(Step(p.ref, f"DENY rules[{i}] matches", "authz-order"))
            return False, f"403: denied by {p.ref} rules[{i}]", steps
    allows = [p for p in policies if p.spec.get("action", "ALLOW") == "ALLOW"]
    if not allows:
        steps.append(Step("mesh-default", "no ALLOW policy selects the workload: allowed", "authz-order"))
        return True, "allowed: no ALLOW policy applies", steps
    for p in allows:
        i = _first_matching_rule(p, req, deny=False)
        if i is not None:
            steps.append(Step(p.ref, f"ALLOW rules[{i}] matches", "authz-order"))
            return True, f"allowed by {p.ref} rules[{i}]", steps
    names = ", ".join(p.ref for p in allows)
    why = _near_miss(allows, req)
    steps.append(Step(names, f"no ALLOW rule matches{why}", "authz-order"))
    return False, f"403: no ALLOW rule matches ({names}){why}", steps


def _first_matching_rule(policy: Resource, req: Inbound, *, deny: bool) -> int | None:
    for i, rule in enumerate(policy.spec.get("rules") or []):
        if _rule_matches(rule, req, deny=deny):
            return i
    return None


def _rule_matches(rule: Mapping[str, Any], req: Inbound, *, deny: bool) -> bool:
    """authz-rule; authz-tcp: on TCP an ALLOW rule using HTTP-only fields never matches, a DENY
    rule ignores those fields."""
    sources = rule.get("from") or []
    operations = rule.get("to") or []
    conditions = rule.get("when") or []
    if not req.http and not deny and _uses_http_fields(sources, operations, conditions):
        return False
    if sources and not any(_source_matches(s.get("source", {}), req) for s in sources):
        return False
    if operations and not any(_operation_matches(o.get("operation", {}), req) for o in operations):
        return False
    return all(_condition_matches(c, req) for c in conditions)


def _uses_http_fields(sources: Sequence[Any], operations: Sequence[Any], conditions: Sequence[Any]) -> bool:
    if any(k in s.get("source", {}) for s in sources for k in HTTP_ONLY_SOURCE):
        return True
    if any(k in o.get("operation", {}) for o in operations for k in HTTP_ONLY_OPERATION):
        return True
    return any(str(c.get("key", "")).startswith("request.") for c in conditions)


def _field(values: Sequence[str] | None, value: str | None, *, fold: bool = False) -> bool:
    return values is None or any(authz_value(v, value, fold=fold) for v in values)


def _not_field(values: Sequence[str] | None, value: str | None, *, fold: bool = False) -> bool:
    return values is None or not any(authz_value(v, value, fold=fold) for v in values)


def _source_matches(src: Mapping[str, Any], req: Inbound) -> bool:
    rp = req.request_principal
    if req.http and not (
        _field(src.get("requestPrincipals"), rp) and _not_field(src.get("notRequestPrincipals"), rp)
    ):
        return False
    return (
        _field(src.get("principals"), req.principal)
        and _not_field(src.get("notPrincipals"), req.principal)
        and _field(src.get("namespaces"), req.source_namespace)
        and _not_field(src.get("notNamespaces"), req.source_namespace)
        and _in_blocks(src.get("ipBlocks"), req.source_ip, True)
        and _in_blocks(src.get("notIpBlocks"), req.source_ip, False)
        and _in_blocks(src.get("remoteIpBlocks"), req.remote_ip, True)
        and _in_blocks(src.get("notRemoteIpBlocks"), req.remote_ip, False)
    )


def _in_blocks(blocks: Sequence[str] | None, address: str | None, inside: bool) -> bool:
    """authz-ip-blocks: `ipBlocks` match when the address is in one of the ranges, `not...` when it
    is in none. An unknown address (None) is in no range."""
    if blocks is None:
        return True
    found = address is not None and any(ip_in_range(address, b) for b in blocks)
    return found if inside else not found


def ip_in_range(address: str, block: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def _operation_matches(op: Mapping[str, Any], req: Inbound) -> bool:
    port = str(req.target_port)
    if not (_field(op.get("ports"), port) and _not_field(op.get("notPorts"), port)):
        return False
    if not req.http:
        return True  # HTTP-only fields: see _rule_matches
    return (
        _field(op.get("hosts"), req.host, fold=True)
        and _not_field(op.get("notHosts"), req.host, fold=True)
        and _field(op.get("methods"), req.method)
        and _not_field(op.get("notMethods"), req.method)
        and _field(op.get("paths"), req.path)
        and _not_field(op.get("notPaths"), req.path)
    )


def _condition_matches(cond: Mapping[str, Any], req: Inbound) -> bool:
    """authz-conditions: the keys the model knows; any other key never matches (conservative for
    ALLOW, and reported in docs/verify.md as not modelled)."""
    key = str(cond.get("key", ""))
    value = _condition_value(key, req)
    values = cond.get("values")
    not_values = cond.get("notValues")
    if values is not None and not any(authz_value(v, value) for v in values):
        return False
    return not (not_values is not None and any(authz_value(v, value) for v in not_values))


def _condition_value(key: str, req: Inbound) -> str | None:
    if key.startswith("request.auth.claims[") and key.endswith("]"):
        return dict(req.claims).get(key[len("request.auth.claims[") : -1])
    if key.startswith("request.headers[") and key.endswith("]"):
        return dict(req.headers).get(key[len("request.headers[") : -1].lower())
    simple = {
        "request.auth.principal": req.request_principal,
        "source.principal": req.principal,
        "source.namespace": req.source_namespace,
        "destination.port": str(req.target_port),
        "connection.sni": req.sni,
    }
    return simple.get(key)


def _near_miss(policies: list[Resource], req: Inbound) -> str:
    """A hint for the report: why the closest ALLOW rule missed."""
    if req.principal is None and any(
        "principals" in s.get("source", {})
        for p in policies
        for r in p.spec.get("rules") or []
        for s in r.get("from") or []
    ):
        return ": the rules require a peer principal, and the request arrived without mTLS"
    if not req.http and any(
        _uses_http_fields(r.get("from") or [], r.get("to") or [], r.get("when") or [])
        for p in policies
        for r in p.spec.get("rules") or []
    ):
        return ": the rule naming this caller uses HTTP-only fields, which never match TCP (authz-tcp)"
    return ""
