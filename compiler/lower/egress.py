"""Egress: ServiceEntries that only the declared callers see and, when asked, the egress gateway
that carries their calls out, reached over Istio mTLS and guarded by an ALLOW policy.

Visibility is per workload. A proxy sees a ServiceEntry only when it is exported to the proxy's
namespace *and* the proxy's Sidecar imports it. Every Sidecar imports the control-plane namespace
wholesale (`istio-system/*`), so a ServiceEntry there would reach every workload of the caller
namespaces; by default the ServiceEntry is therefore written into each caller's namespace with
`exportTo: ["."]`, where only the Sidecars of callers (which list `<ns>/<host>`) import it. An
explicit `egress.namespace` is honoured as written (MC129 warns when it is the control plane's).

Through an egress gateway (Istio's egress-gateway tasks): the callers' sidecars send to the
gateway over ISTIO_MUTUAL with the external host as SNI (a DestinationRule subset per host), the
gateway's servers terminate ISTIO_MUTUAL, and an ALLOW AuthorizationPolicy on the gateway workload
admits exactly the callers' principals for those SNIs: a workload that is not a caller can neither
see the host nor use the gateway to reach it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshc.spec.models import Egress, EgressPort

from ..index import MeshIndex, Scope
from . import names
from .common import NETWORKING, SECURITY, Manifest, drop_none, manifest
from .traffic import connection_pool, outlier_detection, retries


def resolution(egress: Egress) -> str:
    """The ServiceEntry's resolution: as written, else NONE for wildcard hosts or address ranges
    (Istio accepts CIDR addresses only without DNS resolution; MC180 checks the rest), else DNS."""
    if egress.resolution:
        return egress.resolution
    if any(h.startswith("*") for h in egress.hosts) or any("/" in a for a in egress.addresses):
        return "NONE"
    return "DNS"


def _caller_namespaces(index: MeshIndex, egress: Egress, scope: Scope | None) -> list[str]:
    """Namespaces of the callers placed in the scope (all callers without one)."""
    callers = index.egress_callers(egress)
    if scope is not None and scope.cluster is not None:
        callers = [c for c in callers if c.key in scope.placed]
    return sorted({c.namespace for c in callers})


def _placements(egress: Egress, namespaces: list[str]) -> list[tuple[str, list[str]]]:
    """(namespace, exportTo) of the ServiceEntry copies the callers in `namespaces` need."""
    if not namespaces:
        return []  # MC125: no caller, nothing to expose
    if egress.namespace is not None:
        export = set(namespaces)
        if egress.gateway is not None:
            export.add(egress.gateway.namespace)
        return [(egress.namespace, sorted(export))]
    places = [(ns, ["."]) for ns in namespaces]
    if egress.gateway is not None and egress.gateway.namespace not in namespaces:
        places.append((egress.gateway.namespace, ["."]))  # the gateway resolves the host too
    return sorted(places)


def placements(index: MeshIndex, egress: Egress, scope: Scope | None = None) -> list[tuple[str, list[str]]]:
    """(namespace, exportTo) of every ServiceEntry copy of `egress` (in `scope`, or in any)."""
    return _placements(egress, _caller_namespaces(index, egress, scope))


def mesh_leg_namespaces(
    egress: Egress, places: list[tuple[str, list[str]]], caller_namespaces: list[str]
) -> list[str]:
    """The namespaces holding a VirtualService that sends callers to the egress gateway: every copy
    of the ServiceEntry but the gateway's own (no caller runs there)."""
    gw = egress.gateway
    assert gw is not None
    return [
        ns
        for ns, export in places
        if not (export == ["."] and ns == gw.namespace and ns not in caller_namespaces)
    ]


def numbered(name: str, i: int, count: int) -> str:
    """The i-th of `count` objects named after one egress entry (one per external host)."""
    return name if count == 1 else f"{name}-{i + 1}"


def is_http(port: EgressPort) -> bool:
    """The caller's proxy parses this port's traffic as HTTP (routes, timeouts, retries apply)."""
    return port.protocol in ("http", "http2", "grpc")


def _originates(egress: Egress, port: EgressPort) -> bool:
    """The proxy opens TLS to the host for this port's plain HTTP (`tlsOrigination`)."""
    return egress.tls_origination is not None and is_http(port)


def _outside_port(egress: Egress, port: EgressPort) -> int:
    """The host's port that carries this egress port's traffic: the TLS port when TLS is originated."""
    tls = egress.tls_origination
    return tls.port if tls is not None and is_http(port) else port.port


def _se_ports(egress: Egress, gateway_copy: bool) -> list[dict[str, Any]]:
    """ServiceEntry ports. Direct TLS origination sends the HTTP port to the host's TLS port
    (`targetPort`, as in Istio's task); through a gateway, only the gateway's own copy declares the
    TLS port its route goes to: a caller that saw it could leave the mesh beside the gateway."""
    direct = egress.gateway is None
    ports: list[dict[str, Any]] = []
    for p in egress.ports:
        entry: dict[str, Any] = {
            "number": p.port,
            "name": f"{p.protocol}-{p.port}",
            "protocol": p.protocol.upper(),
        }
        if direct and _originates(egress, p) and _outside_port(egress, p) != p.port:
            entry["targetPort"] = _outside_port(egress, p)
        ports.append(entry)
    tls = egress.tls_origination
    if gateway_copy and tls is not None and tls.port not in {p.port for p in egress.ports}:
        ports.append({"number": tls.port, "name": f"https-{tls.port}", "protocol": "HTTPS"})
    return ports


def _tls_settings(egress: Egress, host: str) -> dict[str, Any]:
    tls = egress.tls_origination
    assert tls is not None
    return drop_none(
        {
            "mode": tls.mode,
            "sni": tls.sni or host,
            "credentialName": tls.credential_name,
            "subjectAltNames": list(tls.subject_alt_names) or None,
        }
    )


def host_policy(egress: Egress, host: str) -> dict[str, Any]:
    """The trafficPolicy of the DestinationRule for an external host, in the proxy that connects to
    it (the caller's sidecar, or the egress gateway): connection limits, outlier detection and TLS
    origination on the port the HTTP goes out on."""
    policy: dict[str, Any] = {}
    traffic = egress.traffic
    if traffic is not None and traffic.connection_pool is not None:
        policy["connectionPool"] = connection_pool(traffic.connection_pool)
    if traffic is not None and traffic.outlier_detection is not None:
        policy["outlierDetection"] = outlier_detection(traffic.outlier_detection)
    if egress.tls_origination is not None:
        # Direct: the caller's HTTP port (its cluster dials the TLS port through `targetPort`);
        # through a gateway: the TLS port the gateway's route sends to.
        ports = (
            sorted({p.port for p in egress.ports if is_http(p)})
            if egress.gateway is None
            else [egress.tls_origination.port]
        )
        policy["portLevelSettings"] = [
            {"port": {"number": n}, "tls": _tls_settings(egress, host)} for n in ports
        ]
    return drop_none(policy)  # an empty connectionPool or outlierDetection says nothing


def http_route_policy(egress: Egress) -> dict[str, Any]:
    """Timeout and retries of an HTTP route to the hosts, set where the caller's request is routed."""
    traffic = egress.traffic
    if traffic is None:
        return {}
    out: dict[str, Any] = {}
    if traffic.timeout is not None:
        out["timeout"] = traffic.timeout
    if traffic.retries is not None:
        out["retries"] = retries(traffic.retries, {p.protocol for p in egress.ports if is_http(p)})
    return out


def _direct_policy(
    index: MeshIndex, egress: Egress, places: list[tuple[str, list[str]]]
) -> Iterator[Manifest]:
    """Without a gateway the caller's sidecar talks to the host: per host, a DestinationRule (TLS
    origination, limits) and, for timeouts and retries, a VirtualService beside each ServiceEntry
    copy, seen by exactly the namespaces that see the copy."""
    owner = f"egress/{egress.name}"
    base = names.service_entry(index.name, egress.name)
    hosts = list(egress.hosts)
    http_ports = [p for p in egress.ports if is_http(p)]
    route_policy = http_route_policy(egress) if http_ports else {}
    for i, host in enumerate(hosts):
        name = numbered(base, i, len(hosts))
        policy = host_policy(egress, host)
        for ns, export in places:
            if policy:
                rule = {"host": host, "exportTo": export, "trafficPolicy": policy}
                yield manifest(index, NETWORKING, "DestinationRule", name, ns, rule, owner=owner)
            if route_policy:
                http = [
                    {
                        "match": [{"port": p.port}],
                        "route": [{"destination": {"host": host, "port": {"number": p.port}}}],
                        **route_policy,
                    }
                    for p in http_ports
                ]
                routes = {"hosts": [host], "exportTo": export, "http": http}
                yield manifest(index, NETWORKING, "VirtualService", name, ns, routes, owner=owner)


def service_entries(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    owner_of = {name: f"egress/{name}" for name in index.egress}
    subsets: dict[tuple[str, str], tuple[list[dict[str, Any]], set[str], set[str]]] = {}
    for egress in (e for _, e in index.egress.values()):
        namespaces = _caller_namespaces(index, egress, scope)
        places = _placements(egress, namespaces)
        spec_base = {
            "hosts": list(egress.hosts),
            "location": "MESH_EXTERNAL",
            "resolution": resolution(egress),
        }
        if egress.addresses:
            spec_base["addresses"] = list(egress.addresses)
        for ns, export in places:
            gateway_copy = egress.gateway is not None and ns == egress.gateway.namespace
            spec = {**spec_base, "ports": _se_ports(egress, gateway_copy), "exportTo": export}
            yield manifest(
                index,
                NETWORKING,
                "ServiceEntry",
                names.service_entry(index.name, egress.name),
                ns,
                spec,
                owner=owner_of[egress.name],
            )
        gw = egress.gateway
        if (
            gw is not None
            and egress.tls_origination is not None
            and places
            and all(ns != gw.namespace for ns, _ in places)
        ):
            # The gateway dials the host's TLS port, which only a copy of its own declares
            # (a proxy prefers the ServiceEntry of its own namespace for a host).
            spec = {**spec_base, "ports": _se_ports(egress, True), "exportTo": ["."]}
            yield manifest(
                index,
                NETWORKING,
                "ServiceEntry",
                names.service_entry(index.name, egress.name),
                gw.namespace,
                spec,
                owner=owner_of[egress.name],
            )
        if egress.gateway is None:
            yield from _direct_policy(index, egress, places)
        elif places:
            key = (egress.gateway.namespace, egress.gateway.service)
            found = subsets.setdefault(key, ([], set(), set()))
            found[0].extend(gateway_subsets(egress))
            found[1].update(namespaces)
            found[2].add(egress.name)
            yield from _through_gateway(index, egress, places, namespaces)
    # One DestinationRule per egress gateway Service, with the subsets of every entry through it:
    # for a host with several DestinationRules Istio uses one, and the other entries' subsets
    # would not exist (found by the verifier when the shop got a second entry through its gateway).
    # In canonical order (the spec's order of the entries must not show), owned by the first entry.
    for (ns, service), (subset_list, caller_namespaces, entries) in sorted(subsets.items()):
        yield manifest(
            index,
            NETWORKING,
            "DestinationRule",
            names.egress_gateway_subsets(index.name, service),
            ns,
            {
                "host": f"{service}.{ns}.svc.{index.cluster_domain}",
                "subsets": sorted(subset_list, key=lambda subset: str(subset["name"])),
                "exportTo": sorted(caller_namespaces | {"."}),
            },
            owner=owner_of[min(entries)],
        )


def _terminates_as(port: EgressPort) -> str:
    """The gateway server protocol for an egress port, reached over ISTIO_MUTUAL: HTTPS when the
    mesh leg carries HTTP (the gateway routes the requests), TLS for opaque TLS or TCP bytes."""
    return "HTTPS" if port.protocol in ("http", "http2", "grpc") else "TLS"


def _through_gateway(
    index: MeshIndex, egress: Egress, places: list[tuple[str, list[str]]], caller_namespaces: list[str]
) -> Iterator[Manifest]:
    gw = egress.gateway
    assert gw is not None
    owner = f"egress/{egress.name}"
    gw_name = names.egress_gateway(index.name, egress.name)
    gw_host = f"{gw.service}.{gw.namespace}.svc.{index.cluster_domain}"
    hosts = list(egress.hosts)
    servers = [
        {
            "port": {"number": p.port, "name": f"{p.protocol}-{p.port}", "protocol": _terminates_as(p)},
            "hosts": hosts,
            "tls": {"mode": "ISTIO_MUTUAL"},
        }
        for p in egress.ports
    ]
    yield manifest(
        index,
        NETWORKING,
        "Gateway",
        gw_name,
        gw.namespace,
        {"selector": dict(gw.selector), "servers": servers},
        owner=owner,
    )
    # Gateway -> host: limits and TLS origination where the gateway connects out.
    for i, host in enumerate(hosts):
        policy = host_policy(egress, host)
        if policy:
            yield manifest(
                index,
                NETWORKING,
                "DestinationRule",
                numbered(names.service_entry(index.name, egress.name), i, len(hosts)),
                gw.namespace,
                {"host": host, "exportTo": ["."], "trafficPolicy": policy},
                owner=owner,
            )
    leg_namespaces = set(mesh_leg_namespaces(egress, places, caller_namespaces))
    leg_places = [(ns, export) for ns, export in places if ns in leg_namespaces]
    for i, host in enumerate(hosts):
        subset = numbered(egress.name, i, len(hosts))
        for ns, export in leg_places:
            yield manifest(
                index,
                NETWORKING,
                "VirtualService",
                numbered(names.egress_mesh_leg(index.name, egress.name), i, len(hosts)),
                ns,
                {
                    "hosts": [host],
                    "gateways": ["mesh"],
                    "exportTo": export,
                    **_mesh_leg(egress, host, gw_host, subset),
                },
                owner=owner,
            )
        yield manifest(
            index,
            NETWORKING,
            "VirtualService",
            numbered(gw_name, i, len(hosts)),
            gw.namespace,
            {
                "hosts": [host],
                "gateways": [gw_name],
                "exportTo": ["."],
                **_gateway_leg(egress, host, gw_name),
            },
            owner=owner,
        )
    principals = sorted(
        {index.principal(info.namespace, info.account) for info in index.egress_callers(egress)}
    )
    policy = {
        "selector": {"matchLabels": dict(gw.selector)},
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"principals": principals}}],
                "when": [{"key": "connection.sni", "values": hosts}],
            }
        ],
    }
    yield manifest(index, SECURITY, "AuthorizationPolicy", gw_name, gw.namespace, policy, owner=owner)


def gateway_subsets(egress: Egress) -> list[dict[str, Any]]:
    """Sidecar -> gateway: Istio mTLS with the external host as SNI, one subset per host (the
    gateway matches its servers and the authorization on that SNI)."""
    count = len(egress.hosts)
    return [
        {
            "name": numbered(egress.name, i, count),
            "trafficPolicy": {
                "portLevelSettings": [
                    {"port": {"number": p.port}, "tls": {"mode": "ISTIO_MUTUAL", "sni": host}}
                    for p in egress.ports
                ]
            },
        }
        for i, host in enumerate(egress.hosts)
    ]


def _mesh_leg(egress: Egress, host: str, gw_host: str, subset: str) -> dict[str, Any]:
    routes: dict[str, list[dict[str, Any]]] = {}
    for p in egress.ports:
        to_gateway = [{"destination": {"host": gw_host, "subset": subset, "port": {"number": p.port}}}]
        match: dict[str, Any] = {"gateways": ["mesh"], "port": p.port}
        if p.protocol in ("tls", "https"):
            routes.setdefault("tls", []).append(
                {"match": [{**match, "sniHosts": [host]}], "route": to_gateway}
            )
        elif p.protocol == "tcp":
            routes.setdefault("tcp", []).append({"match": [match], "route": to_gateway})
        else:
            routes.setdefault("http", []).append(
                {"match": [match], "route": to_gateway, **http_route_policy(egress)}
            )
    return routes


def _gateway_leg(egress: Egress, host: str, gw_name: str) -> dict[str, Any]:
    routes: dict[str, list[dict[str, Any]]] = {}
    for p in egress.ports:
        out = [{"destination": {"host": host, "port": {"number": _outside_port(egress, p)}}}]
        match = {"gateways": [gw_name], "port": p.port}
        # After terminating ISTIO_MUTUAL the gateway holds HTTP requests (HTTPS server) or opaque
        # bytes (TLS server: the caller's own TLS, or TCP), which only a tcp route forwards.
        kind = "http" if _terminates_as(p) == "HTTPS" else "tcp"
        routes.setdefault(kind, []).append({"match": [match], "route": out})
    return routes
