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
from .common import NETWORKING, SECURITY, Manifest, manifest


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
    callers = [index.services[c] for c in egress.callers if c in index.services]
    if scope is not None and scope.cluster is not None:
        callers = [c for c in callers if c.name in scope.placed]
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


def service_entries(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    owner_of = {name: f"egress/{name}" for name in index.egress}
    subsets: dict[tuple[str, str], tuple[list[dict[str, Any]], set[str], set[str]]] = {}
    for egress in (e for _, e in index.egress.values()):
        namespaces = _caller_namespaces(index, egress, scope)
        places = _placements(egress, namespaces)
        spec_base = {
            "hosts": list(egress.hosts),
            "ports": [
                {"number": p.port, "name": f"{p.protocol}-{p.port}", "protocol": p.protocol.upper()}
                for p in egress.ports
            ],
            "location": "MESH_EXTERNAL",
            "resolution": resolution(egress),
        }
        if egress.addresses:
            spec_base["addresses"] = list(egress.addresses)
        for ns, export in places:
            spec = {**spec_base, "exportTo": export}
            yield manifest(
                index,
                NETWORKING,
                "ServiceEntry",
                names.service_entry(index.name, egress.name),
                ns,
                spec,
                owner=owner_of[egress.name],
            )
        if egress.gateway is not None and places:
            gw = egress.gateway
            key = (gw.namespace, gw.service)
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
        {
            index.principal(info.namespace, info.account)
            for info in (index.services[c] for c in egress.callers if c in index.services)
        }
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
            routes.setdefault("http", []).append({"match": [match], "route": to_gateway})
    return routes


def _gateway_leg(egress: Egress, host: str, gw_name: str) -> dict[str, Any]:
    routes: dict[str, list[dict[str, Any]]] = {}
    for p in egress.ports:
        out = [{"destination": {"host": host, "port": {"number": p.port}}}]
        match = {"gateways": [gw_name], "port": p.port}
        # After terminating ISTIO_MUTUAL the gateway holds HTTP requests (HTTPS server) or opaque
        # bytes (TLS server: the caller's own TLS, or TCP), which only a tcp route forwards.
        kind = "http" if _terminates_as(p) == "HTTPS" else "tcp"
        routes.setdefault(kind, []).append({"match": [match], "route": out})
    return routes
