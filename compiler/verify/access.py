"""What the spec says about a request to a service beyond its declared edges: its extra
authorization sources (`security.allow`) and its own JWT (`security.jwt`). Derived from the spec
model only, never from the output, so the probes built on it can disagree with the output."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from meshc.spec.models import HTTP_PROTOCOLS, AllowRule, ServiceJwt

from ..index import MeshIndex, ResolvedPort, ServiceInfo
from .matching import authz_value
from .request import Token

PROBE_SUBJECT = "probe-user"
OUTSIDE_IP = "192.0.2.1"
"""TEST-NET-1 (RFC 5737): an address no real client has; used as "outside every block" unless a
block of the spec contains it (then `outside_ip` looks further)."""


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends, as the service's authorization sees it."""

    namespace: str | None
    """The namespace of the peer identity; None: no identity (plain text)."""
    ip: str | None = None
    token: Token | None = None


def jwt_of(info: ServiceInfo) -> ServiceJwt | None:
    security = info.model.security
    return security.jwt if security is not None else None


def allow_rules(info: ServiceInfo) -> list[AllowRule]:
    security = info.model.security
    return list(security.allow) if security is not None else []


def jwt_applies(info: ServiceInfo, port: ResolvedPort) -> bool:
    """Whether the service's own JWT settings decide requests on `port` (HTTP ports only)."""
    return jwt_of(info) is not None and port.protocol in HTTP_PROTOCOLS


def valid_token(info: ServiceInfo, claims: dict[str, str] | None = None) -> Token | None:
    """A token the service accepts and whose claims satisfy `requireClaims` (and `claims`)."""
    jwt = jwt_of(info)
    if jwt is None:
        return None
    first = jwt.issuers[0]
    wanted = {name: concrete_claim(values[0]) for name, values in sorted(jwt.require_claims.items())}
    wanted.update(claims or {})
    return Token(first.issuer, PROBE_SUBJECT, tuple(sorted(wanted.items())), tuple(first.audiences))


def concrete_claim(pattern: str) -> str:
    if pattern.endswith("*"):
        return pattern[:-1] + "probe"
    if pattern.startswith("*"):
        return "probe" + pattern[1:]
    return pattern


def token_passes(info: ServiceInfo, port: ResolvedPort, token: Token | None) -> bool:
    """The service's own JWT check on `port`: a token of another issuer is refused, none is refused
    when required, required claims must hold."""
    jwt = jwt_of(info)
    if jwt is None or not jwt_applies(info, port):
        return True
    if token is not None:
        accepted = [j for j in jwt.issuers if j.issuer == token.issuer]
        if not accepted:
            return False
        audiences = accepted[0].audiences
        if audiences and not set(audiences) & set(token.audiences or audiences):
            return False
    elif jwt.required or jwt.require_claims:
        return False
    claims = dict(token.claims) if token else {}
    return all(
        any(authz_value(v, claims.get(name)) for v in values) for name, values in jwt.require_claims.items()
    )


def in_blocks(ip: str | None, blocks: list[str]) -> bool:
    if ip is None:
        return False
    for block in blocks:
        try:
            if ipaddress.ip_address(ip) in ipaddress.ip_network(block, strict=False):
                return True
        except ValueError:
            continue
    return False


def inside_ip(blocks: list[str]) -> str | None:
    """An address inside the first block the spec names (its first host)."""
    for block in blocks:
        try:
            net = ipaddress.ip_network(block, strict=False)
        except ValueError:
            continue
        return str(next(iter(net.hosts()), net.network_address))
    return None


def outside_ip(blocks: list[str]) -> str | None:
    """An address in none of `blocks` (None when they cover everything)."""
    for candidate in (OUTSIDE_IP, "198.51.100.7", "203.0.113.9", "100.64.0.1", "2001:db8::1"):
        if not in_blocks(candidate, blocks):
            return candidate
    return None


def source_admits(index: MeshIndex, rule: AllowRule, sender: Sender) -> bool:
    src = rule.source
    if src.ip_blocks is not None and src.ip_blocks and not in_blocks(sender.ip, src.ip_blocks):
        return False
    if src.mesh:
        return sender.namespace is not None
    if src.namespaces:
        return sender.namespace in src.namespaces
    if src.plaintext:
        return sender.namespace is None
    return False


def rule_admits(
    index: MeshIndex,
    info: ServiceInfo,
    rule: AllowRule,
    port: ResolvedPort,
    sender: Sender,
    method: str | None,
    path: str | None,
) -> bool:
    """An extra source admits the request: source, port, HTTP conditions (HTTP ports only) and claims."""
    if not source_admits(index, rule, sender):
        return False
    if rule.ports and port.number not in rule.ports:
        return False
    http = port.protocol in HTTP_PROTOCOLS
    if rule.methods or rule.paths or rule.claims:
        if not http:
            return False
        if rule.methods and method not in rule.methods:
            return False
        if rule.paths and not any(authz_value(p, path) for p in rule.paths):
            return False
        if rule.claims:
            token = sender.token if token_validated(info, sender.token) else None
            claims = dict(token.claims) if token else {}
            if not all(any(authz_value(v, claims.get(n)) for v in vs) for n, vs in rule.claims.items()):
                return False
    return True


def token_validated(info: ServiceInfo, token: Token | None) -> bool:
    jwt = jwt_of(info)
    return token is not None and jwt is not None and any(j.issuer == token.issuer for j in jwt.issuers)


def admitted_by_sources(
    index: MeshIndex,
    info: ServiceInfo,
    port: ResolvedPort,
    sender: Sender,
    method: str | None,
    path: str | None,
) -> int | None:
    """The index of the first `security.allow` entry admitting the request, or None."""
    if not index.mesh.spec.security.authorization.default_deny:
        return None
    for k, rule in enumerate(allow_rules(info)):
        if rule_admits(index, info, rule, port, sender, method, path):
            return k
    return None
