"""The compiled resources of one cluster, indexed the way istiod looks them up.

Built once per verification in one pass over the manifests; lookups that depend on a workload
(which policies select it, which Sidecar scopes it) are cached per workload, so probing scales with
the probes, not with probes x resources.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .matching import dns_match
from .world import Workload

MODELLED_KINDS = frozenset(
    {
        "Service",
        "ServiceEntry",
        "DestinationRule",
        "VirtualService",
        "Gateway",
        "Sidecar",
        "PeerAuthentication",
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Telemetry",
    }
)


class Resource:
    """One compiled resource as the model reads it (never modified after construction; a plain
    slotted class, because a frozen dataclass costs several times more to build 100,000 of)."""

    __slots__ = ("kind", "labels", "name", "namespace", "selector", "spec")

    def __init__(
        self, kind: str, namespace: str, name: str, spec: Mapping[str, Any], labels: Mapping[str, str]
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.spec = spec
        self.labels = labels
        if kind == "Sidecar":
            found = spec.get("workloadSelector", {}).get("labels")
        elif kind == "Gateway":
            found = spec.get("selector")
        else:
            found = (spec.get("selector") or {}).get("matchLabels")
        self.selector: Mapping[str, str] | None = found or None
        """The workload selector (Sidecar `workloadSelector.labels`, Gateway `selector`, policies'
        `selector.matchLabels`); None when it selects every workload it applies to."""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def selects(self, workload: Workload) -> bool:
        """Whether the resource's workload selector (in its own namespace, or the root namespace's
        for every namespace) picks `workload`; no selector picks every workload it applies to."""
        selector = self.selector
        return selector is None or workload.has(selector)

    def exported_to(self, namespace: str) -> bool:
        """exportTo (VirtualService, DestinationRule, ServiceEntry): default every namespace."""
        targets = self.spec.get("exportTo")
        if not targets:
            return True
        return any(t == "*" or t == namespace or (t == "." and namespace == self.namespace) for t in targets)


class Config:
    def __init__(
        self, bodies: Iterable[Mapping[str, Any]], *, root_namespace: str, cluster_domain: str
    ) -> None:
        self.root_namespace = root_namespace
        self.cluster_domain = cluster_domain
        self.by_kind: dict[str, list[Resource]] = defaultdict(list)
        self._per_namespace: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        self.services: dict[str, Resource] = {}
        """Kubernetes Services by FQDN."""
        self.entries: dict[str, list[Resource]] = defaultdict(list)
        self.wildcard_entries: list[Resource] = []
        self.virtual_services: dict[str, list[Resource]] = defaultdict(list)
        self.wildcard_virtual_services: list[Resource] = []
        self.destination_rules: dict[str, list[Resource]] = defaultdict(list)
        self.bound: dict[str, list[Resource]] = defaultdict(list)
        """VirtualServices by the Gateway they bind to (`ns/name`; a bare name is the VS's namespace)."""
        self.namespaces: set[str] = set()
        for body in bodies:
            kind = body.get("kind")
            meta = body.get("metadata", {})
            if kind == "Namespace":
                self.namespaces.add(meta["name"])
                continue
            if kind not in MODELLED_KINDS:
                continue
            ns = meta.get("namespace", "default")
            res = Resource(kind, ns, meta["name"], body.get("spec") or {}, meta.get("labels") or {})
            self.by_kind[kind].append(res)
            self._per_namespace[(kind, ns)].append(res)
            if kind == "Service":
                self.services[f"{res.name}.{ns}.svc.{cluster_domain}"] = res
            elif kind == "ServiceEntry":
                for host in res.spec.get("hosts", []):
                    (self.wildcard_entries if "*" in host else self.entries[host]).append(res)
            elif kind == "VirtualService":
                for gw in res.spec.get("gateways") or []:
                    if gw != "mesh":
                        self.bound[gw if "/" in gw else f"{ns}/{gw}"].append(res)
                for host in res.spec.get("hosts", []):
                    if "*" in host:
                        self.wildcard_virtual_services.append(res)
                    else:
                        self.virtual_services[self.fqdn(host, ns)].append(res)
            elif kind == "DestinationRule":
                self.destination_rules[self.fqdn(res.spec.get("host", ""), ns)].append(res)
        self._applicable: dict[tuple[str, Workload], list[Resource]] = {}
        self.peer_modes: dict[tuple[Workload, int], tuple[str, str]] = {}
        """A cache for inbound.peer_mode."""

    def fqdn(self, host: str, namespace: str) -> str:
        """Short names in VirtualService and DestinationRule hosts are resolved in the resource's
        namespace (`reviews` -> `reviews.<ns>.svc.<domain>`)."""
        if "." in host or "*" in host:
            return host
        return f"{host}.{namespace}.svc.{self.cluster_domain}"

    def in_namespace(self, kind: str, namespace: str) -> list[Resource]:
        return self._per_namespace.get((kind, namespace), [])

    def applicable(self, kind: str, workload: Workload) -> list[Resource]:
        """Policies of `kind` that apply to `workload`: the root namespace's and its own namespace's,
        with no selector or one its labels satisfy (authz-scope, peer-authn), in a stable order."""
        key = (kind, workload)
        found = self._applicable.get(key)
        if found is None:
            namespaces = [self.root_namespace]
            if workload.namespace != self.root_namespace:
                namespaces.append(workload.namespace)
            found = [r for ns in namespaces for r in self.in_namespace(kind, ns) if r.selects(workload)]
            self._applicable[key] = found
        return found

    def service_entries(self, host: str) -> list[Resource]:
        exact = self.entries.get(host, [])
        return exact + [r for r in self.wildcard_entries if any(dns_match(h, host) for h in r.spec["hosts"])]

    def virtual_services_for(self, host: str) -> list[Resource]:
        exact = self.virtual_services.get(host, [])
        wild = [r for r in self.wildcard_virtual_services if any(dns_match(h, host) for h in r.spec["hosts"])]
        return exact + wild

    def gateways_selecting(self, workload: Workload) -> list[Resource]:
        """Gateway resources whose selector picks the gateway workload, in any namespace
        (gateway-selector: Istio's default, PILOT_SCOPE_GATEWAY_TO_NAMESPACE off)."""
        return [
            g for g in self.by_kind.get("Gateway", []) if g.selector is not None and workload.has(g.selector)
        ]
