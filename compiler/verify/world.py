"""What runs in the cluster: workloads (pods) with their labels, identity and proxy, and the
Services the Istio installation brings (gateways), which are not part of meshc's output.

The configuration the model evaluates is the compiled output; the world it evaluates it against is
what the spec says runs: one workload per service version, the gateways' pods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    label_set: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_set", frozenset(self.labels))

    def has(self, selector: Mapping[str, str]) -> bool:
        return selector.items() <= self.label_set

    @property
    def app(self) -> str | None:
        return dict(self.labels).get("app")

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
    networks: dict[str, str] = field(default_factory=dict)
    """Istio network of each cluster (multi-cluster meshes only)."""
    _by_namespace: dict[str, list[Workload]] = field(default_factory=dict)
    _by_app: dict[tuple[str, str | None], list[Workload]] = field(default_factory=dict)
    provider: Callable[[str, str], None] | None = None
    """Called with (namespace, app) the first time endpoints with that app label are looked up,
    to add them: the world of a 10,000-service mesh is built only where probes go."""
    _provided: set[tuple[str, str]] = field(default_factory=set)

    def add(self, workload: Workload) -> Workload:
        self.workloads.append(workload)
        self._by_namespace.setdefault(workload.namespace, []).append(workload)
        self._by_app.setdefault((workload.namespace, workload.app), []).append(workload)
        return workload

    def selected(self, namespace: str, selector: Mapping[str, str]) -> list[Workload]:
        """Workloads of `namespace` whose labels include `selector` (a Service's endpoints)."""
        app = selector.get("app")
        if app is not None and self.provider is not None and (namespace, app) not in self._provided:
            self._provided.add((namespace, app))
            self.provider(namespace, app)
        pool = (
            self._by_app.get((namespace, app), [])
            if app is not None
            else self._by_namespace.get(namespace, [])
        )
        return [w for w in pool if w.has(selector)]
