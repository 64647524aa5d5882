"""The service graph as plain nodes and edges, shared by the Mermaid and Graphviz renderers.

Services are grouped by namespace, and by cluster placement when the mesh has clusters (a service
placed on several clusters sits in one group named after all of them, so it is drawn once).
Gateways and egress entries are nodes of their own kinds. `merge` overlays two graphs and marks
what was added, removed or changed; `focus` trims a big diff graph to what changed and its
neighbours, so that a 5,000-service mesh still yields a diagram a browser can draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .view import MTLS_RANK, MeshView, ServiceView, percent

SAME, ADDED, REMOVED, CHANGED = "same", "added", "removed", "changed"
MTLS_MARK = "⚠ mTLS"


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    """Stable identity: `service:<name>`, `gateway:<name>`, `egress:<name>`."""
    kind: str
    """`service`, `gateway` or `egress`."""
    name: str
    details: tuple[str, ...] = ()
    """Further label lines: versions with weights, hosts."""
    namespace: str | None = None
    clusters: tuple[str, ...] = ()
    status: str = SAME
    mtls: str | None = None
    """A service's weakest mTLS mode over the workload and its ports (None for other nodes)."""
    relaxed: bool = False
    """In a merged graph: the service's mTLS got weaker (STRICT → PERMISSIVE, say)."""


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str
    status: str = SAME


@dataclass(slots=True)
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    omitted_nodes: int = 0
    """Nodes left out by `focus` (unchanged services far from any change)."""

    @property
    def has_clusters(self) -> bool:
        return any(n.clusters for n in self.nodes.values())

    def groups(self) -> dict[tuple[str, ...], dict[str, list[Node]]]:
        """Service nodes by cluster placement, then namespace, both sorted; nodes sorted by name."""
        out: dict[tuple[str, ...], dict[str, list[Node]]] = {}
        for node in sorted(self.nodes.values(), key=lambda n: (n.clusters, n.namespace or "", n.name)):
            if node.kind == "service":
                out.setdefault(node.clusters, {}).setdefault(node.namespace or "", []).append(node)
        return out

    def others(self, kind: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.kind == kind), key=lambda n: n.name)

    def sorted_edges(self) -> list[Edge]:
        return [self.edges[k] for k in sorted(self.edges)]


def service_details(svc: ServiceView) -> tuple[str, ...]:
    details: list[str] = []
    if svc.versions:
        routed = routed_versions(svc)
        weights = svc.weights
        if weights is None or (len(svc.versions) == 1 and weights == {next(iter(svc.versions)): 100.0}):
            parts = [f"{v}{_routed(routed, v)}" for v in svc.versions]
        else:
            parts = [f"{v} {percent(weights.get(v, 0.0))}{_routed(routed, v)}" for v in svc.versions]
            parts.extend(f"{v} {percent(w)}" for v, w in weights.items() if v not in svc.versions)
        details.append(" · ".join(parts))
    details.extend(_mtls_details(svc))
    details.extend(_access_details(svc))
    return tuple(details)


ACCESS_MARK = "⚠ also admits"


def _access_details(svc: ServiceView) -> list[str]:
    """Who gets in beyond the drawn edges (`security.allow`), and a JWT the service requires: what
    the arrows alone would hide."""
    lines = [f"{ACCESS_MARK} {line.split(':', 1)[0].replace('`', '')}" for line in svc.access]
    if svc.jwt is not None and svc.jwt.required:
        lines.append("JWT required")
    return lines


def routed_versions(svc: ServiceView) -> dict[str, str]:
    """Versions that requests matching a route reach whatever the weights say: version -> `header
    route` when a header decides (the usual opt-in canary), else `route`. A route without a match
    takes every request; its versions are marked too."""
    found: dict[str, str] = {}
    for route in svc.routes.values():
        targets = [route.to] if route.to else [v for v, w in (route.split or {}).items() if w > 0]
        kind = "header route" if any(m.headers for m in route.match) else "route"
        for version in targets:
            if found.get(version) != "header route":
                found[version] = kind
    return found


def _routed(routed: dict[str, str], version: str) -> str:
    return f" (+ {routed[version]})" if version in routed else ""


def weakest_mtls(svc: ServiceView) -> str:
    return min((svc.mtls, *svc.port_mtls.values()), key=lambda mode: MTLS_RANK.get(mode, 0))


def _mtls_details(svc: ServiceView) -> list[str]:
    """A line for mTLS weaker than STRICT (the workload's mode, then ports with their own)."""
    lines = [f"{MTLS_MARK} {svc.mtls}"] if svc.mtls != "STRICT" else []
    for port, mode in sorted(svc.port_mtls.items()):
        if mode != "STRICT" and mode != svc.mtls:
            lines.append(f"{MTLS_MARK} {mode} on port {port}")
    return lines


def build_graph(view: MeshView) -> Graph:
    g = Graph()
    for svc in view.services.values():
        key = f"service:{svc.name}"
        g.nodes[key] = Node(
            key,
            "service",
            svc.name,
            service_details(svc),
            svc.namespace,
            svc.clusters,
            mtls=weakest_mtls(svc),
        )
    for edge in view.edges.values():
        source, target = f"service:{edge.caller}", f"service:{edge.callee}"
        g.edges[(source, target)] = Edge(source, target, edge.protocol)
    for gw in view.gateways.values():
        key = f"gateway:{gw.name}"
        g.nodes[key] = Node(
            key, "gateway", gw.name, (", ".join(gw.hosts),) if gw.hosts else (), gw.namespace, gw.clusters
        )
    protocols: dict[tuple[str, str], set[str]] = {}
    for route in view.routes.values():
        target = f"service:{route.service}"
        if target not in g.nodes:
            continue
        protocols.setdefault((f"gateway:{route.gateway}", target), set()).update(route.protocol.split("/"))
    for (source, target), found in protocols.items():
        g.edges[(source, target)] = Edge(source, target, "/".join(sorted(found)))
    for eg in view.egress.values():
        key = f"egress:{eg.name}"
        g.nodes[key] = Node(key, "egress", eg.name, (", ".join(eg.hosts),), eg.namespace)
        label = "/".join(sorted({proto for _, proto in eg.ports})) or "tls"
        if eg.tls_origination is not None:
            label += " → tls"  # the proxy opens TLS to the host for the callers' plain HTTP
        for caller in eg.callers:
            source = f"service:{caller}"
            if source in g.nodes:
                g.edges[(source, key)] = Edge(source, key, label)
    return g


def merge(base: Graph | None, head: Graph | None) -> Graph:
    """One graph holding both revisions, every node and edge marked same/added/removed/changed."""
    old = base or Graph()
    new = head or Graph()
    g = Graph()
    for key, node in new.nodes.items():
        was = old.nodes.get(key)
        if was is None:
            g.nodes[key] = replace(node, status=ADDED)
        elif was == node:
            g.nodes[key] = node
        elif _relaxed(was, node):
            details = tuple(d for d in node.details if not d.startswith(MTLS_MARK))
            relaxation = f"{MTLS_MARK} relaxed: {was.mtls} → {node.mtls}"
            g.nodes[key] = replace(node, details=(*details, relaxation), status=CHANGED, relaxed=True)
        else:
            g.nodes[key] = replace(node, status=CHANGED)
    for key, node in old.nodes.items():
        if key not in new.nodes:
            g.nodes[key] = replace(node, status=REMOVED)
    for ekey, edge in new.edges.items():
        was_edge = old.edges.get(ekey)
        if was_edge is None:
            g.edges[ekey] = replace(edge, status=ADDED)
        elif was_edge == edge:
            g.edges[ekey] = edge
        else:
            g.edges[ekey] = replace(edge, label=f"{was_edge.label} → {edge.label}", status=CHANGED)
    for ekey, edge in old.edges.items():
        if ekey not in new.edges:
            g.edges[ekey] = replace(edge, status=REMOVED)
    return g


def _relaxed(was: Node, node: Node) -> bool:
    if was.mtls is None or node.mtls is None:
        return False
    return MTLS_RANK.get(node.mtls, 0) < MTLS_RANK.get(was.mtls, 0)


def focus(g: Graph, max_nodes: int = 60, max_edges: int = 200) -> Graph:
    """The changed part of a merged graph: changed nodes, endpoints of changed edges and their direct
    neighbours. Small graphs are returned whole (the context helps more than it costs)."""
    if len(g.nodes) <= max_nodes and len(g.edges) <= max_edges:
        return g
    core = [k for k, n in g.nodes.items() if n.status != SAME]
    for (source, target), edge in g.edges.items():
        if edge.status != SAME:
            core.extend((source, target))
    keep: dict[str, None] = dict.fromkeys(core)
    if len(keep) < max_nodes:
        core_set = set(keep)
        for source, target in g.edges:
            if len(keep) >= max_nodes:
                break
            if source in core_set and target not in keep:
                keep[target] = None
            elif target in core_set and source not in keep:
                keep[source] = None
    chosen = list(keep)[:max_nodes]
    chosen_set = set(chosen)
    out = Graph(omitted_nodes=len(g.nodes) - len(chosen_set))
    out.nodes = {k: g.nodes[k] for k in chosen if k in g.nodes}
    kept_edges = [(k, e) for k, e in g.edges.items() if k[0] in chosen_set and k[1] in chosen_set]
    kept_edges.sort(key=lambda pair: pair[1].status == SAME)  # changed edges first
    out.edges = dict(kept_edges[:max_edges])
    return out


def has_relaxed(g: Graph) -> bool:
    return any(n.relaxed for n in g.nodes.values())


def is_changed(g: Graph) -> bool:
    return any(n.status != SAME for n in g.nodes.values()) or any(e.status != SAME for e in g.edges.values())
