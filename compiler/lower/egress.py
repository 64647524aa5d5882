"""Egress: a ServiceEntry per external dependency, visible only to the namespaces of its callers,
and, when asked, the Gateway + VirtualService that send it through an egress gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mesh_spec.models import Egress

from ..index import MeshIndex, Scope
from . import names
from .common import NETWORKING, Manifest, manifest


def _caller_namespaces(index: MeshIndex, egress: Egress) -> list[str]:
    names = {index.services[c].namespace for c in egress.callers if c in index.services}
    if egress.gateway is not None:
        names.add(egress.gateway.namespace)
    return sorted(names) or ["."]


def _resolution(egress: Egress) -> str:
    if egress.resolution:
        return egress.resolution
    return "NONE" if any(h.startswith("*") for h in egress.hosts) else "DNS"


def service_entries(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for egress in (e for _, e in index.egress.values()):
        if scope.cluster is not None and not any(c in scope.placed for c in egress.callers):
            continue  # no caller runs in this cluster
        ns = index.egress_namespace(egress)
        export = _caller_namespaces(index, egress)
        spec = {
            "hosts": list(egress.hosts),
            "ports": [
                {"number": p.port, "name": f"{p.protocol}-{p.port}", "protocol": p.protocol.upper()}
                for p in egress.ports
            ],
            "location": "MESH_EXTERNAL",
            "resolution": _resolution(egress),
            "exportTo": export,
        }
        yield manifest(
            index,
            NETWORKING,
            "ServiceEntry",
            names.service_entry(index.name, egress.name),
            ns,
            spec,
            owner=f"egress/{egress.name}",
        )
        if egress.gateway is not None:
            yield from _through_gateway(index, egress, ns, export)


def _through_gateway(index: MeshIndex, egress: Egress, ns: str, export: list[str]) -> Iterator[Manifest]:
    gw = egress.gateway
    assert gw is not None
    gw_name = names.egress_gateway(index.name, egress.name)
    gw_host = f"{gw.service}.{gw.namespace}.svc.{index.cluster_domain}"
    servers = []
    tls_routes: list[dict[str, Any]] = []
    http_routes: list[dict[str, Any]] = []
    for p in egress.ports:
        passthrough = p.protocol in ("tls", "https")
        server: dict[str, Any] = {
            "port": {
                "number": p.port,
                "name": f"{p.protocol}-{p.port}",
                "protocol": "TLS" if passthrough else p.protocol.upper(),
            },
            "hosts": list(egress.hosts),
        }
        if passthrough:
            server["tls"] = {"mode": "PASSTHROUGH"}
        servers.append(server)
        mesh_leg = {"destination": {"host": gw_host, "port": {"number": p.port}}}
        out_leg = {"destination": {"host": egress.hosts[0], "port": {"number": p.port}}}
        if passthrough:
            sni = list(egress.hosts)
            tls_routes.append(
                {"match": [{"gateways": ["mesh"], "port": p.port, "sniHosts": sni}], "route": [mesh_leg]}
            )
            tls_routes.append(
                {
                    "match": [{"gateways": [f"{gw.namespace}/{gw_name}"], "port": p.port, "sniHosts": sni}],
                    "route": [out_leg],
                }
            )
        else:
            http_routes.append({"match": [{"gateways": ["mesh"], "port": p.port}], "route": [mesh_leg]})
            http_routes.append(
                {"match": [{"gateways": [f"{gw.namespace}/{gw_name}"], "port": p.port}], "route": [out_leg]}
            )
    owner = f"egress/{egress.name}"
    gw_spec = {"selector": dict(gw.selector), "servers": servers}
    yield manifest(index, NETWORKING, "Gateway", gw_name, gw.namespace, gw_spec, owner=owner)
    vs: dict[str, Any] = {
        "hosts": list(egress.hosts),
        "gateways": ["mesh", f"{gw.namespace}/{gw_name}"],
        "exportTo": export,
    }
    if http_routes:
        vs["http"] = http_routes
    if tls_routes:
        vs["tls"] = tls_routes
    yield manifest(index, NETWORKING, "VirtualService", gw_name, ns, vs, owner=owner)
