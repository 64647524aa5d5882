"""Mermaid `flowchart LR` of the service graph, as GitHub and GitLab render it in Markdown.

Ids are sanitized (`[A-Za-z0-9_]`, prefixed by kind, so no id is a Mermaid keyword such as `end`)
and every label is quoted with `"` escaped as `#quot;`. Services are rectangles in one subgraph per
namespace (nested in a subgraph per cluster placement when the mesh has clusters), gateways are
hexagons, egress entries are stadiums. In a diff, added nodes and edges are green (edges thick),
removed ones red and dashed, changed ones yellow; a service whose mTLS was relaxed is yellow with a
thick red border.
"""

from __future__ import annotations

import re

from .graph import ADDED, CHANGED, REMOVED, SAME, Graph, Node

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_PREFIX = {"service": "svc", "gateway": "gw", "egress": "eg"}
_SHAPES = {"service": ('["', '"]'), "gateway": ('{{"', '"}}'), "egress": ('(["', '"])')}
_ARROWS = {SAME: "-->", CHANGED: "-->", ADDED: "==>", REMOVED: "-.->"}
_LINK_STYLES = {
    ADDED: "stroke:#1a7f37,stroke-width:3px",
    REMOVED: "stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5",
    CHANGED: "stroke:#9a6700,stroke-width:2px",
}
CLASS_DEFS = (
    "classDef added fill:#dafbe1,stroke:#1a7f37,stroke-width:2px,color:#0b3d1a",
    "classDef removed fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5,color:#5c0b0b",
    "classDef changed fill:#fff8c5,stroke:#9a6700,stroke-width:2px,color:#3d2a00",
    "classDef relaxed fill:#fff8c5,stroke:#cf222e,stroke-width:4px,color:#3d2a00",
    "classDef gateway fill:#ddf4ff,stroke:#0969da",
    "classDef egress fill:#f6f8fa,stroke:#57606a",
)


def label(text: str) -> str:
    """Text safe inside a quoted Mermaid label (HTML-ish characters as Mermaid entity codes)."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
    )


class _Ids:
    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}
        self.used: set[str] = set()

    def get(self, key: str, prefix: str | None = None) -> str:
        found = self.by_key.get(key)
        if found is not None:
            return found
        kind, _, name = key.partition(":")
        base = f"{prefix or _PREFIX.get(kind, kind[:3])}_{_UNSAFE.sub('_', name)}"
        candidate, n = base, 2
        while candidate in self.used:
            candidate, n = f"{base}_{n}", n + 1
        self.used.add(candidate)
        self.by_key[key] = candidate
        return candidate


def _node_line(ids: _Ids, node: Node) -> str:
    opening, closing = _SHAPES[node.kind]
    text = "<br/>".join([f"<b>{label(node.name)}</b>", *(label(d) for d in node.details)])
    if node.status == REMOVED:
        text = f"<s>{label(node.name)}</s>" + "".join(f"<br/>{label(d)}" for d in node.details)
    return f"{ids.get(node.key)}{opening}{text}{closing}"


def render(g: Graph, *, title: str | None = None) -> str:
    """The Mermaid source (without the Markdown fence)."""
    ids = _Ids()
    lines = ["flowchart LR"]
    if title:
        lines.insert(0, f"---\ntitle: {label(title)}\n---")
    for node in g.others("gateway"):
        lines.append("  " + _node_line(ids, node))
    groups = g.groups()
    nested = g.has_clusters
    for clusters, namespaces in groups.items():
        indent = "  "
        if nested:
            name = " + ".join(clusters) if clusters else "unplaced"
            lines.append(f'  subgraph {ids.get("cluster:" + name, "cl")}["cluster {label(name)}"]')
            indent = "    "
        for namespace, nodes in namespaces.items():
            scope = f"{'+'.join(clusters)}/{namespace}" if nested else namespace
            lines.append(f'{indent}subgraph {ids.get("namespace:" + scope, "ns")}["{label(namespace)}"]')
            for node in nodes:
                lines.append(f"{indent}  " + _node_line(ids, node))
            lines.append(f"{indent}end")
        if nested:
            lines.append("  end")
    for node in g.others("egress"):
        lines.append("  " + _node_line(ids, node))
    link_styles: list[str] = []
    drawn = [e for e in g.sorted_edges() if e.source in g.nodes and e.target in g.nodes]
    for i, edge in enumerate(drawn):
        arrow = _ARROWS[edge.status]
        text = f'|"{label(edge.label)}"|' if edge.label else ""
        lines.append(f"  {ids.get(edge.source)} {arrow}{text} {ids.get(edge.target)}")
        if edge.status in _LINK_STYLES:
            link_styles.append(f"  linkStyle {i} {_LINK_STYLES[edge.status]}")
    lines.extend(link_styles)
    by_class: dict[str, list[str]] = {}
    for node in g.nodes.values():
        cls = node.status if node.status != SAME else (node.kind if node.kind != "service" else None)
        if node.relaxed:
            cls = "relaxed"
        if cls:
            by_class.setdefault(cls, []).append(ids.get(node.key))
    if by_class:
        lines.extend(f"  {d}" for d in CLASS_DEFS if d.split()[1] in by_class)
        for cls in sorted(by_class):
            lines.append(f"  class {','.join(sorted(by_class[cls]))} {cls}")
    return "\n".join(lines) + "\n"


def fenced(g: Graph) -> str:
    return "```mermaid\n" + render(g) + "```\n"
