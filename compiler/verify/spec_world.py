"""The world the spec describes: a workload per service version (per cluster it runs on), the
ingress and egress gateways' pods with the identity their installation gives them, and probe
workloads (a legacy pod without sidecar per namespace, a workload of another team)."""

from __future__ import annotations

from collections.abc import Mapping

from meshc.spec.models import Gateway, Version

from ..index import MeshIndex, ServiceInfo
from .world import InstalledService, Workload, World, labels_of

FOREIGN_NAMESPACE = "meshc-probe-foreign"
"""A namespace no spec owns: another team's workloads live there."""


def gateway_account(selector: Mapping[str, str], declared: str, explicit: bool) -> str:
    """The service account the gateway pods selected by `selector` run as (gateway-install):
    the spec's own when it says so, else what Istio's installers give the pods with that label."""
    if explicit:
        return declared
    name = selector.get("istio")
    if name in ("ingressgateway", "egressgateway"):
        return f"istio-{name}-service-account"
    if name:
        return f"istio-{name}"
    return declared


def has_sidecar(index: MeshIndex, info: ServiceInfo) -> bool:
    injection = info.model.injection or index.namespace_injection(info.namespace)
    return injection.enabled


def owned(info: ServiceInfo) -> bool:
    """meshc writes the Deployment (its pods restart with the config); otherwise someone else's pods."""
    return any(v.image for v in info.versions)


class SpecWorld:
    def __init__(self, index: MeshIndex, bare: frozenset[str] = frozenset()) -> None:
        spec = index.mesh.spec
        self.index = index
        self.world = World(
            trust_domain=index.trust_domain,
            cluster_domain=index.cluster_domain,
            root_namespace=spec.control_plane.root_namespace,
            networks={name: c.network for name, c in index.clusters.items()},
        )
        self.bare = bare
        """Services whose workloads run without a sidecar in this world (not owned, not injected)."""
        self._workloads: dict[str, list[Workload]] = {}
        self.world.provider = self._provide
        clusters: list[str | None] = list(index.clusters) or [None]
        self._seen_gateways: dict[tuple[str, tuple[tuple[str, str], ...], str | None], Workload] = {}
        self.gateways: dict[str, list[Workload]] = {}
        for _, gw in index.gateways.values():
            self.gateways[gw.name] = [
                self._gateway(gw, c) for c in (index.gateway_placement(gw) if index.clusters else [None])
            ]
        for _, eg in index.egress.values():
            if eg.gateway is None:
                continue
            g = eg.gateway
            fqdn = f"{g.service}.{g.namespace}.svc.{index.cluster_domain}"
            if fqdn not in self.world.installed:
                account = gateway_account(g.selector, "istio-egressgateway-service-account", False)
                for cluster in clusters:
                    w = Workload(
                        f"egressgateway/{g.service}",
                        g.namespace,
                        labels_of(g.selector),
                        account,
                        True,
                        True,
                        cluster,
                    )
                    self.world.add(w)
                ports = tuple(sorted({p.port for e in index.egress.values() for p in e[1].ports}))
                self.world.installed[fqdn] = InstalledService(fqdn, g.namespace, labels_of(g.selector), ports)
        self.foreign = Workload(
            "probe/other-team", FOREIGN_NAMESPACE, labels_of({"app": "meshc-probe-other"}), "default"
        )
        self._legacy: dict[tuple[str, str | None], Workload] = {}

    def _gateway(self, gw: Gateway, cluster: str | None) -> Workload:
        explicit = "workload" in gw.model_fields_set and "account" in gw.workload.model_fields_set
        account = gateway_account(gw.selector, gw.workload.account, explicit)
        key = (gw.workload.namespace, labels_of(gw.selector), cluster)
        found = self._seen_gateways.get(key)
        if found is not None:
            return found  # gateways sharing a selector share the pods
        w = Workload(
            f"gateway/{gw.name}", gw.workload.namespace, labels_of(gw.selector), account, True, True, cluster
        )
        self.world.add(w)
        self._seen_gateways[key] = w
        return w

    def legacy(self, namespace: str, cluster: str | None = None) -> Workload:
        """A pod without sidecar in `namespace` (plaintext, no identity), added on first use."""
        key = (namespace, cluster)
        found = self._legacy.get(key)
        if found is None:
            found = Workload(
                f"probe/legacy.{namespace}",
                namespace,
                labels_of({"app": "meshc-probe-legacy"}),
                "default",
                False,
                cluster=cluster,
            )
            self._legacy[key] = found
        return found

    def meshed(self, namespace: str, cluster: str | None = None) -> Workload:
        """A workload with a sidecar in `namespace` that is no service of the spec (its identity is
        `<ns>/sa/meshc-probe`, nobody's declared caller), added on first use."""
        key = (f"meshed:{namespace}", cluster)
        found = self._legacy.get(key)
        if found is None:
            found = Workload(
                f"probe/meshed.{namespace}",
                namespace,
                labels_of({"app": "meshc-probe-meshed"}),
                "meshc-probe",
                cluster=cluster,
            )
            self._legacy[key] = found
        return found

    def workloads(self, name: str) -> list[Workload]:
        """The workloads of the service `name` refers to (its key or `namespace/name`; one per
        version and cluster), built on first use."""
        found = self._workloads.get(name)
        if found is not None:
            return found
        found = []
        info = self.index.resolve(name)
        if info is not None:
            index = self.index
            sidecar = has_sidecar(index, info) and info.key not in self.bare
            for cluster in index.placement(info) if index.clusters else [None]:
                suffix = f"@{cluster}" if cluster else ""
                versions: list[Version | None] = list(info.versions) or [None]
                for v in versions:
                    labels = {"app": info.name, **(info.version_labels(v) if v is not None else {})}
                    label = f"{info.key}/{v.name}{suffix}" if v is not None else f"{info.key}{suffix}"
                    w = Workload(
                        label, info.namespace, labels_of(labels), info.account, sidecar, cluster=cluster
                    )
                    found.append(self.world.add(w))
        self._workloads[name] = found
        return found

    def _provide(self, namespace: str, app: str) -> None:
        info = self.index.find(namespace, app)
        if info is not None:
            self.workloads(info.key)

    def runs(self, name: str) -> bool:
        info = self.index.resolve(name)
        return info is not None and (not self.index.clusters or bool(self.index.placement(info)))

    def caller(self, name: str) -> Workload | None:
        found = self.workloads(name)
        return found[0] if found else None
