"""What runs in the cluster: workloads (pods) with their labels, identity and proxy, and the
Services the Istio installation brings (gateways), which are not part of meshc's output.

The configuration the model evaluates is the compiled output; the world it evaluates it against is
what the spec says runs: one workload per service version, the gateways' pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    """What probes and reports call it: `reviews/v2`, `gateway/public`, `probe/legacy`."""
    namespace: str
    labels: Labels
    account: str
    sidecar: bool = True
    gateway: bool = False
    """A gateway proxy (ingress or egress): no Sidecar resource applies, no auto-mTLS towards it."""
    cluster: str | None = None

    def has(self, selector: Mapping[str, str]) -> bool:
        own = dict(self.labels)
        return all(own.get(k) == v for k, v in selector.items())

    def principal(self, trust_domain: str) -> str:
        return f"{trust_domain}/ns/{self.namespace}/sa/{self.account}"


@dataclass(frozen=True, slots=True)
class InstalledService:
    """A Kubernetes Service the Istio installation owns (an egress gateway's), not in meshc's output."""

    fqdn: str
    namespace: str
    selector: Labels
    ports: tuple[int, ...]


@dataclass
class World:
    trust_domain: str = "cluster.local"
    cluster_domain: str = "cluster.local"
    root_namespace: str = "istio-system"
    workloads: list[Workload] = field(default_factory=list)
    installed: dict[str, InstalledService] = field(default_factory=dict)
    _by_namespace: dict[str, list[Workload]] = field(default_factory=dict)

    def add(self, workload: Workload) -> Workload:
        self.workloads.append(workload)
        self._by_namespace.setdefault(workload.namespace, []).append(workload)
        return workload

    def selected(self, namespace: str, selector: Mapping[str, str]) -> list[Workload]:
        """Workloads of `namespace` whose labels include `selector` (a Service's endpoints)."""
        return [w for w in self._by_namespace.get(namespace, []) if w.has(selector)]
