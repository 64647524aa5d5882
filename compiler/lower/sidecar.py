"""Sidecar resources: each proxy receives config only for what its workload declares it calls.

Without them istiod pushes every service in the mesh to every proxy; with them a proxy's config
and memory scale with its own dependencies. REGISTRY_ONLY makes undeclared external calls fail.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import MeshIndex, Scope, ServiceInfo
from .common import NETWORKING, Manifest, manifest


def egress_hosts(index: MeshIndex, info: ServiceInfo) -> list[str]:
    hosts = {f"{index.mesh.spec.control_plane.namespace}/*"}
    if not index.mesh.spec.security.authorization.default_deny:
        # Without default-deny every workload may call every service of the mesh (docs/security.md):
        # a Sidecar listing only the declared callees would send the others to the BlackHoleCluster
        # (REGISTRY_ONLY), denying undeclared callers after all (issue 12 defect 5). The mesh's
        # Services are imported per namespace by DNS suffix, which matches no ServiceEntry of an
        # external host there, so egress stays limited to its callers.
        hosts.update(f"{ns}/*.{ns}.svc.{index.cluster_domain}" for ns in index.app_namespaces)
    for call in info.model.calls:
        callee = index.resolve(call.service)
        if callee is not None:
            hosts.add(f"{callee.namespace}/{callee.fqdn}")
    for callee, mesh, namespaces in index.open_to_identities:
        # `security.allow` admits this workload without a declared edge: let it see the service.
        if callee is not info and (mesh or info.namespace in namespaces):
            hosts.add(f"{callee.namespace}/{callee.fqdn}")
    for egress in info.egress:
        # The ServiceEntry copy this workload sees: in its own namespace unless the spec names one.
        ns = egress.namespace or info.namespace
        hosts.update(f"{ns}/{host}" for host in egress.hosts)
        if egress.gateway is not None:
            gw = egress.gateway
            hosts.add(f"{gw.namespace}/{gw.service}.{gw.namespace}.svc.{index.cluster_domain}")
    return sorted(hosts)


def sidecars(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    for info in index.placed(scope):
        spec = {
            "workloadSelector": {"labels": {"app": info.name}},
            "egress": [{"hosts": egress_hosts(index, info)}],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
        }
        yield manifest(index, NETWORKING, "Sidecar", info.name, info.namespace, spec, owner=info.owner)
