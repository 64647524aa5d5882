"""Shared traversals for the rules: where traffic blocks and matches live, and the call graph.

Not a rule (it has no CODE); the catalogue in `__init__` lists the rule modules explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from meshc.spec.models import HTTP_PROTOCOLS, Call, Match, Mesh, Service, StringMatch, Traffic
from meshc.spec.source import PathItem

from ..index import MeshIndex, ServiceInfo
from .base import Finding, RuleContext

Path = tuple[PathItem, ...]
T = TypeVar("T")

DEFAULTS_TRAFFIC: Path = ("spec", "defaults", "traffic")


# --- focus: the services a local rule looks at (rules/base.py, docs/rule-scopes.md) ------------


@dataclass(frozen=True, slots=True)
class _ByNamespace:
    indexed: dict[str, list[ServiceInfo]]
    """Indexed services (`MeshIndex.services`, duplicates left out) per namespace, in spec order."""
    entries: dict[str, list[int]]
    """Positions in `spec.services` (duplicates included) per namespace, ascending."""


_BY_NAMESPACE: WeakKeyDictionary[MeshIndex, _ByNamespace] = WeakKeyDictionary()
"""Built once per index, so a focused rule costs what its namespaces hold, not the mesh's size."""


def _by_namespace(index: MeshIndex) -> _ByNamespace:
    found = _BY_NAMESPACE.get(index)
    if found is None:
        indexed: dict[str, list[ServiceInfo]] = {}
        for info in index.services.values():
            indexed.setdefault(info.namespace, []).append(info)
        spec = index.mesh.spec
        entries: dict[str, list[int]]
        if len(index.services) == len(spec.services):  # no duplicates: entry i is indexed service i
            entries = {ns: [info.index for info in infos] for ns, infos in indexed.items()}
        else:
            entries = {}
            for i, svc in enumerate(spec.services):
                entries.setdefault(svc.namespace or spec.defaults.namespace, []).append(i)
        found = _BY_NAMESPACE[index] = _ByNamespace(indexed, entries)
    return found


def focused(ctx: RuleContext) -> Iterable[ServiceInfo]:
    """The indexed services a local rule checks: every one without a focus, else those of the
    focused namespaces; in spec order either way."""
    if ctx.focus is None:
        return ctx.index.services.values()
    indexed = _by_namespace(ctx.index).indexed
    return sorted((info for ns in ctx.focus for info in indexed.get(ns, ())), key=lambda info: info.index)


def focused_entries(ctx: RuleContext) -> Iterable[tuple[int, Service]]:
    """(i, service) of the `spec.services` entries a local rule checks, duplicates included (the
    text is checked), in spec order; with a focus, those whose namespace is focused."""
    services = ctx.mesh.spec.services
    if ctx.focus is None:
        return enumerate(services)
    entries = _by_namespace(ctx.index).entries
    return ((i, services[i]) for i in sorted(i for ns in ctx.focus for i in entries.get(ns, ())))


def service_owner(mesh: Mesh, path: Sequence[PathItem]) -> tuple[str, str] | None:
    """(namespace, name) of the service whose entry holds `path`; None outside `spec.services`."""
    if len(path) < 3 or path[0] != "spec" or path[1] != "services" or not isinstance(path[2], int):
        return None
    spec = mesh.spec
    svc = spec.services[path[2]]
    return svc.namespace or spec.defaults.namespace, svc.name


def adjacent_namespaces(index: MeshIndex, namespace: str) -> set[str]:
    """The namespaces whose services a local rule may read for a finding of a service of
    `namespace` (besides the namespace itself): those holding a service that calls one of its
    services, or that one of its services calls (calls resolved with `MeshIndex.resolve`). An
    incremental compile takes this set in the old spec and in the new one (docs/rule-scopes.md)."""
    found: set[str] = set()
    for info in _by_namespace(index).indexed.get(namespace, ()):
        found.update(edge.caller.namespace for edge in info.callers)
        found.update(callee.namespace for callee in index.callees(info))
    found.discard(namespace)
    return found


def namespace_adjacency(index: MeshIndex) -> dict[str, set[str]]:
    """`adjacent_namespaces` of every namespace that holds a service, in one pass over the calls."""
    found: dict[str, set[str]] = {info.namespace: set() for info in index.services.values()}
    for caller in index.services.values():
        for callee in index.callees(caller):
            if callee.namespace != caller.namespace:
                found[caller.namespace].add(callee.namespace)
                found[callee.namespace].add(caller.namespace)
    return found


def defaults_traffic(ctx: RuleContext) -> Iterator[tuple[Path, Traffic, str]]:
    """`spec.defaults.traffic` as `traffic_blocks` gives it (for the `check_mesh` parts)."""
    if ctx.mesh.spec.defaults.traffic is not None:
        yield DEFAULTS_TRAFFIC, ctx.mesh.spec.defaults.traffic, "the default traffic"


def service_traffic(ctx: RuleContext) -> Iterator[tuple[Path, Traffic, str]]:
    """The traffic block of each focused service entry, as `traffic_blocks` gives it."""
    for i, svc in focused_entries(ctx):
        if svc.traffic is not None:
            yield ("spec", "services", i, "traffic"), svc.traffic, f"service '{svc.name}'"


def traffic_blocks(ctx: RuleContext) -> Iterator[tuple[Path, Traffic, str]]:
    """Every traffic block written in the spec (`spec.defaults.traffic`, each service's own), with
    its path and a label for messages. Duplicated services are included: the text is checked."""
    yield from defaults_traffic(ctx)
    yield from service_traffic(ctx)


def string_matches(match: Match) -> Iterator[tuple[Path, StringMatch]]:
    """Every StringMatch of a Match, with its path relative to the Match."""
    if match.path is not None:
        yield ("path",), match.path
    if match.method is not None:
        yield ("method",), match.method
    for key_name, values in (("headers", match.headers), ("query", match.query), ("claims", match.claims)):
        for key, value in values.items():
            yield (key_name, key), value


def match_kind(sm: StringMatch) -> tuple[str, str] | None:
    """(kind, value) of a well-formed StringMatch; None when it does not set exactly one (MC118)."""
    kinds = [
        (k, v) for k, v in (("exact", sm.exact), ("prefix", sm.prefix), ("regex", sm.regex)) if v is not None
    ]
    return kinds[0] if len(kinds) == 1 else None


@dataclass(frozen=True, slots=True)
class CallGraph:
    """The declared calls between indexed services, by position (ints keep the DPs fast)."""

    nodes: list[ServiceInfo]
    callees: list[list[int]]
    """Positions of each node's callees: known services, deduplicated, in spec order."""
    http: list[list[bool]]
    """Per callee: whether some call to it speaks HTTP (only then do its timeouts and retries apply)."""
    order: tuple[int, ...]
    """The nodes in DFS post-order (`postorder`; a tuple: the rules share it)."""

    @classmethod
    def of(cls, index: MeshIndex) -> CallGraph:
        """The graph of `index` (built once per index: MC110 and MC111 both walk it)."""
        built: CallGraph | None = getattr(index, "_call_graph", None)
        if built is None:
            built = cls._build(index)
            index._call_graph = built  # type: ignore[attr-defined]
        return built

    @classmethod
    def _build(cls, index: MeshIndex) -> CallGraph:
        nodes = list(index.services.values())
        position = {info.key: i for i, info in enumerate(nodes)}
        speaks_http = [info.speaks_http for info in nodes]
        resolve = index.resolve
        callees: list[list[int]] = []
        http: list[list[bool]] = []
        for info in nodes:
            edges: dict[int, bool] = {}
            for call in info.model.calls:
                callee = resolve(call.service)
                if callee is None:
                    continue
                i = position[callee.key]
                if not edges.get(i, False):  # `edges[i] or call_is_http(...)`, its fast case inline
                    edges[i] = (
                        speaks_http[i]
                        if call.protocol is None and not call.ports
                        else call_is_http(nodes[i], call)
                    )
            callees.append(list(edges))
            http.append(list(edges.values()))
        return cls(nodes, callees, http, _postorder(callees))

    def postorder(self) -> tuple[int, ...]:
        """Nodes in DFS post-order (iterative: a 10,000-hop chain must not hit the recursion limit);
        worked out once, with the graph (MC110 and MC111 both walk it).

        When a node comes up, each of its callees either came earlier or is one of its DFS
        ancestors (a back-edge of a cycle). A dynamic programme that walks this list and treats a
        callee without a value yet as "unknown" is therefore linear and terminates on cycles.
        """
        return self.order


def _postorder(callees: list[list[int]]) -> tuple[int, ...]:
    order: list[int] = []
    visited = [False] * len(callees)
    for root in range(len(callees)):
        if visited[root]:
            continue
        visited[root] = True
        stack = [(root, iter(callees[root]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if not visited[child]:
                    visited[child] = True
                    stack.append((child, iter(callees[child])))
                    break
            else:
                stack.pop()
                order.append(node)
    return tuple(order)


def normal_host(host: str) -> str:
    """A host for comparisons: lower case, without Istio's `namespace/` prefix."""
    return host.rsplit("/", 1)[-1].lower()


def _parents(host: str) -> Iterator[str]:
    """`.b.c`, `.c` for `a.b.c`: the domains strictly above a host name."""
    for k, c in enumerate(host):
        if c == ".":
            yield host[k:]


@dataclass
class HostClaims(Generic[T]):
    """Host names (exact, `*.domain` or `*`) with an owner each; `overlap` finds an owner of a
    host that overlaps a given one in O(labels of that host), so no pairwise comparison is needed.
    Hosts are compared as `normal_host` gives them."""

    first: T | None = None
    star: T | None = None
    exact: dict[str, T] = field(default_factory=dict)
    wildcard: dict[str, T] = field(default_factory=dict)
    """`.example.com` -> the owner of `*.example.com`."""
    below: dict[str, T] = field(default_factory=dict)
    """`.example.com` -> the owner of some host strictly under it."""

    def overlap(self, host: str) -> T | None:
        """The owner of a claimed host that some name matches together with `host`."""
        if self.star is not None:
            return self.star
        if host == "*":
            return self.first
        if host.startswith("*."):
            domain = host[1:]
            found = self.below.get(domain)
            candidates: tuple[str, ...] = (domain, *_parents(domain[1:]))
        else:
            found = self.exact.get(host)
            candidates = tuple(_parents(host))
        for parent in candidates:
            if found is not None:
                break
            found = self.wildcard.get(parent)
        return found

    def add(self, host: str, owner: T) -> None:
        if self.first is None:
            self.first = owner
        if host == "*":
            if self.star is None:
                self.star = owner
        elif host.startswith("*."):
            self.wildcard.setdefault(host[1:], owner)
            for parent in _parents(host[2:]):
                self.below.setdefault(parent, owner)
        else:
            self.exact.setdefault(host, owner)
            for parent in _parents(host):
                self.below.setdefault(parent, owner)


def call_is_http(callee: ServiceInfo, call: Call) -> bool:
    """Whether a call may speak HTTP: its protocol, else any HTTP port among those it may use."""
    if call.protocol is not None:
        return call.protocol in HTTP_PROTOCOLS
    if not call.ports:
        return callee.speaks_http  # any port: no need to resolve them
    return any(p.protocol in HTTP_PROTOCOLS for p in callee.ports if not call.ports or p.number in call.ports)


def seconds(value: float) -> str:
    """A duration for messages: `500ms`, `2s`, `1.5s`."""
    if 0 < value < 1:
        return f"{value * 1000:g}ms"
    return f"{value:g}s"


def route_label(name: str | None, i: int) -> str:
    """`route 'login'`, or `route 2` (1-based) for an unnamed one."""
    return f"route '{name}'" if name else f"route {i + 1}"


def once_per_place(found: Iterable[tuple[Path, str, str, str]]) -> Iterator[Finding]:
    """(path, subject, message, hint) -> one finding per place. A setting written once (in
    `defaults.workload`, or for all of a service's versions) that is wrong for several Deployments
    is reported once, at the setting, naming the others."""
    by_path: dict[Path, list[tuple[str, str, str]]] = {}
    for path, subject, message, hint in found:
        by_path.setdefault(path, []).append((subject, message, hint))
    for path, items in by_path.items():
        subject, message, hint = items[0]
        others = sorted({s for s, _, _ in items[1:]} - {subject})
        if others:
            shown = ", ".join(f"'{o}'" for o in others[:5]) + (", ..." if len(others) > 5 else "")
            message += f" (the same for {len(others)} more: {shown})"
        yield Finding(path, message, hint)


@dataclass(frozen=True, slots=True)
class ServiceReference:
    """A place in the spec that names a service (`name` or `namespace/name`)."""

    path: Path
    """Where the reference is written."""
    ref: str
    who: str
    """What refers, for messages: `service 'foo/sleep' calls`, `gateway 'public' routes to`."""


def service_references(ctx: RuleContext) -> Iterator[ServiceReference]:
    """Every reference to a service the spec writes: calls, gateway routes and egress callers (the
    only fields that name a service; `MeshIndex.resolve` resolves each)."""
    yield from call_references(ctx)
    yield from mesh_references(ctx)


def call_references(ctx: RuleContext) -> Iterator[ServiceReference]:
    """The references of the focused services' calls."""
    for info in focused(ctx):
        for j, call in enumerate(info.model.calls):
            yield ServiceReference(
                (*info.path, "calls", j, "service"), call.service, f"service '{info.key}' calls"
            )


def mesh_references(ctx: RuleContext) -> Iterator[ServiceReference]:
    """The references of the gateway routes and the egress callers."""
    spec = ctx.mesh.spec
    for gi, gateway in enumerate(spec.gateways):
        for ri, route in enumerate(gateway.routes):
            yield ServiceReference(
                ("spec", "gateways", gi, "routes", ri, "to", "service"),
                route.to.service,
                f"gateway '{gateway.name}' routes to",
            )
    for ei, egress in enumerate(spec.egress):
        for ci, caller in enumerate(egress.callers):
            yield ServiceReference(
                ("spec", "egress", ei, "callers", ci), caller, f"egress '{egress.name}' allows"
            )
