"""Outbound at the caller's proxy: which Sidecar scopes it, what it can see (Sidecar egress hosts,
exportTo), the outbound traffic policy, VirtualService routing and DestinationRule client TLS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import Config, Resource
from .matching import dns_match, string_match
from .request import Request, Token
from .world import Workload

HTTP_APP_PROTOCOLS = frozenset({"http", "http2", "grpc", "grpc-web", "https"})
"""Kubernetes `appProtocol` values Istio treats as HTTP (`https` is HTTP inside the mesh's TLS only
for gateways; meshc's services never declare it for in-mesh ports)."""


@dataclass(frozen=True, slots=True)
class Scoping:
    sidecar: Resource | None
    hosts: tuple[tuple[str, str], ...]
    """(namespace, dnsName) pairs of the egress listeners; None sidecar: everything."""
    registry_only: bool

    def sees(self, namespace: str, host: str, own_namespace: str) -> bool:
        if self.sidecar is None:
            return True
        for ns, dns in self.hosts:
            if ns == "~":
                continue
            if ns not in ("*", namespace) and not (ns == "." and namespace == own_namespace):
                continue
            if dns_match(dns, host):
                return True
        return False


def scoping(config: Config, workload: Workload, cache: dict[Workload, Scoping]) -> Scoping:
    """sidecar-selection: a Sidecar with a matching workloadSelector in the workload's namespace,
    else its namespace's Sidecar without selector, else the root namespace's; gateways: none."""
    found = cache.get(workload)
    if found is not None:
        return found
    chosen: Resource | None = None
    if not workload.gateway:
        own = config.in_namespace("Sidecar", workload.namespace)
        chosen = next((s for s in own if s.selector is not None and workload.has(s.selector)), None)
        chosen = chosen or next((s for s in own if s.selector is None), None)
        if chosen is None:
            chosen = next(
                (s for s in config.in_namespace("Sidecar", config.root_namespace) if s.selector is None), None
            )
    hosts: list[tuple[str, str]] = []
    mode = "ALLOW_ANY"
    if chosen is not None:
        for listener in chosen.spec.get("egress", []):
            for entry in listener.get("hosts", []):
                ns, _, dns = str(entry).partition("/")
                hosts.append((ns, dns))
        mode = chosen.spec.get("outboundTrafficPolicy", {}).get("mode", "ALLOW_ANY")
    found = Scoping(chosen, tuple(hosts), mode == "REGISTRY_ONLY")
    cache[workload] = found
    return found


@dataclass(frozen=True, slots=True)
class Destination:
    host: str
    subset: str | None
    port: int
    weight: float
    path: str | None
    authority: str | None
    rule: str
    """Where in the VirtualService the route came from (`http[1]`), or `default`."""


def http_route(
    vs: Resource,
    req: Request,
    *,
    gateway: str,
    source: Workload | None,
    claims: Mapping[str, str] | None,
) -> tuple[list[Destination] | None, str]:
    """vs-order / vs-match: the first HTTP rule whose matches hold; None when none does (404)."""
    for i, rule in enumerate(vs.spec.get("http") or []):
        matches = rule.get("match") or [{}]
        hit = next(
            (m for m in matches if _bound(m, vs, gateway) and _http_match(m, req, source, claims)), None
        )
        if hit is None:
            continue
        answer = proxy_answer(rule)
        if answer is not None:
            return [], f"http[{i}]{_name(rule)}{ANSWERS}{answer}"
        path = _rewrite(hit, rule.get("rewrite") or {}, req.path)
        authority = (rule.get("rewrite") or {}).get("authority")
        return _destinations(
            rule, req, path, authority, f"{vs.ref} http[{i}]{_name(rule)}"
        ), f"http[{i}]{_name(rule)}"
    return None, ""


def _bound(m: Mapping[str, Any], vs: Resource, gateway: str) -> bool:
    """gateway-vs: whether a match's `gateways` (if any) name `gateway` (`mesh` or `ns/name`); a
    name without a namespace is the Gateway of that name in the VirtualService's own namespace."""
    if "gateways" not in m:
        return True
    return any(
        g == gateway or ("/" not in g and g != "mesh" and f"{vs.namespace}/{g}" == gateway)
        for g in m["gateways"]
    )


ANSWERS = ": the proxy answers with a "
"""Between a rule and its answer in what `http_route` says of a rule without a destination."""


def proxy_answer(rule: Mapping[str, Any]) -> str | None:
    """What the proxy answers for a rule without a destination (`redirect`, `directResponse`)."""
    if "redirect" in rule:
        r = rule["redirect"]
        return f"{r.get('redirectCode', 301)} redirect"
    if "directResponse" in rule:
        return f"{rule['directResponse'].get('status')} direct response"
    return None


def _name(rule: Mapping[str, Any]) -> str:
    return f" ({rule['name']})" if rule.get("name") else ""


def _http_match(
    m: Mapping[str, Any],
    req: Request,
    source: Workload | None,
    claims: Mapping[str, str] | None,
) -> bool:
    if "port" in m and m["port"] != req.port:
        return False
    if "uri" in m and not string_match(m["uri"], req.path):
        return False
    if "method" in m and not string_match(m["method"], req.method):
        return False
    if "authority" in m and not string_match(m["authority"], req.host_header):
        return False
    if "sourceLabels" in m and (source is None or not source.has(m["sourceLabels"])):
        return False
    if "sourceNamespace" in m and (source is None or source.namespace != m["sourceNamespace"]):
        return False
    if m.get("queryParams"):
        return False  # probes send no query string
    headers = dict(req.headers)
    for name, sm in (m.get("headers") or {}).items():
        if name.startswith("@request.auth.claims."):
            # jwt-claims-routing: only a validated token's claims, and only at a gateway
            value = None if claims is None else claims.get(name[len("@request.auth.claims.") :])
        else:
            value = headers.get(name.lower())
        if not string_match(sm, value):
            return False
    return all(name.lower() not in headers for name in (m.get("withoutHeaders") or {}))


def _rewrite(match: Mapping[str, Any], rewrite: Mapping[str, Any], path: str | None) -> str | None:
    new = rewrite.get("uri")
    if new is None or path is None:
        return path
    uri = match.get("uri") or {}
    if "prefix" in uri and path.startswith(uri["prefix"]):
        return str(new) + path[len(uri["prefix"]) :]
    return str(new)


def _destinations(
    rule: Mapping[str, Any], req: Request, path: str | None, authority: str | None, where: str
) -> list[Destination]:
    routes = rule.get("route") or []
    total = sum(float(r.get("weight", 0)) for r in routes) if len(routes) > 1 else 100.0
    out = []
    for r in routes:
        weight = 100.0 if len(routes) == 1 else float(r.get("weight", 0))
        if weight <= 0:
            continue
        d = r["destination"]
        port = d.get("port", {}).get("number", req.port)
        out.append(
            Destination(d["host"], d.get("subset"), port, weight / (total or 1), path, authority, where)
        )
    return out


def l4_route(
    vs: Resource, req: Request, *, gateway: str, source: Workload | None
) -> tuple[list[Destination] | None, str]:
    """vs-tls and TCP routes: `tls` rules by SNI and port, `tcp` rules by port; None: no rule."""
    if req.protocol == "tls":
        for i, rule in enumerate(vs.spec.get("tls") or []):
            for m in rule.get("match") or []:
                if not _bound(m, vs, gateway):
                    continue
                if "port" in m and m["port"] != req.port:
                    continue
                if not any(dns_match(h, req.server_name) for h in m.get("sniHosts", [])):
                    continue
                return _destinations(rule, req, None, None, f"{vs.ref} tls[{i}]"), f"tls[{i}]"
    for i, rule in enumerate(vs.spec.get("tcp") or []):
        matches = rule.get("match") or [{}]
        for m in matches:
            if not _bound(m, vs, gateway):
                continue
            if "port" in m and m["port"] != req.port:
                continue
            if "sourceLabels" in m and (source is None or not source.has(m["sourceLabels"])):
                continue
            return _destinations(rule, req, None, None, f"{vs.ref} tcp[{i}]"), f"tcp[{i}]"
    return None, ""


def has_section(vs: Resource, req: Request) -> bool:
    if req.http:
        return bool(vs.spec.get("http"))
    return bool(vs.spec.get("tls") if req.protocol == "tls" else vs.spec.get("tcp")) or bool(
        vs.spec.get("tcp")
    )


def client_tls(config: Config, dr: Resource | None, subset: str | None, port: int) -> tuple[str | None, str]:
    """dr-tls: subset port-level, subset, rule port-level, rule; None: no setting (auto-mtls)."""
    if dr is None:
        return None, "auto-mtls"
    policies: list[Mapping[str, Any]] = []
    if subset is not None:
        for s in dr.spec.get("subsets", []):
            if s.get("name") == subset and s.get("trafficPolicy"):
                policies.append(s["trafficPolicy"])
    if dr.spec.get("trafficPolicy"):
        policies.append(dr.spec["trafficPolicy"])
    for policy in policies:
        for setting in policy.get("portLevelSettings", []):
            if setting.get("port", {}).get("number") == port and setting.get("tls", {}).get("mode"):
                return str(setting["tls"]["mode"]), dr.ref
        if policy.get("tls", {}).get("mode"):
            return str(policy["tls"]["mode"]), dr.ref
    return None, "auto-mtls"


def client_sni(dr: Resource | None, subset: str | None, port: int) -> str | None:
    """dr-tls: the `sni` of the client TLS setting that decides the mode (same precedence as
    `client_tls`); None when that setting names none."""
    if dr is None:
        return None
    policies: list[Mapping[str, Any]] = []
    if subset is not None:
        policies += [
            s["trafficPolicy"]
            for s in dr.spec.get("subsets", [])
            if s.get("name") == subset and s.get("trafficPolicy")
        ]
    if dr.spec.get("trafficPolicy"):
        policies.append(dr.spec["trafficPolicy"])
    for policy in policies:
        for setting in policy.get("portLevelSettings", []):
            if setting.get("port", {}).get("number") == port and setting.get("tls", {}).get("mode"):
                return setting["tls"].get("sni")
        if policy.get("tls", {}).get("mode"):
            return policy["tls"].get("sni")
    return None


def mtls_sni(sni: str | None, host: str, subset: str | None, port: int) -> str:
    """The server name of an Istio mTLS connection: the DestinationRule's `sni`, else the name of the
    outbound cluster, `outbound_.<port>_.<subset>_.<host>` (what the gateway's server and a
    `connection.sni` condition then see)."""
    return sni if sni else f"outbound_.{port}_.{subset or ''}_.{host}"


def destination_rule(
    config: Config, host: str, caller_namespace: str, service_namespace: str | None
) -> Resource | None:
    """dr-lookup: the caller's namespace, the service's, then the root namespace; exportTo applies."""
    candidates = config.destination_rules.get(host, [])
    order = [caller_namespace, service_namespace, config.root_namespace]
    for ns in order:
        for dr in candidates:
            if dr.namespace == ns and dr.exported_to(caller_namespace):
                return dr
    return None


def subset_labels(dr: Resource | None, subset: str) -> Mapping[str, str] | None:
    if dr is None:
        return None
    for s in dr.spec.get("subsets", []):
        if s.get("name") == subset:
            return dict(s.get("labels") or {})
    return None


def validated_claims(token: Token | None, validated: bool) -> dict[str, str] | None:
    if token is None or not validated:
        return None
    return {"iss": token.issuer, "sub": token.subject, **dict(token.claims)}
