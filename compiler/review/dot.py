"""Graphviz DOT of the service graph, and SVG/PNG through the `dot` program.

Namespaces (and cluster placements, when the mesh has clusters) are Graphviz clusters; services
are rounded boxes, gateways hexagons, egress entries dashed ellipses. Every identifier is a quoted
DOT string, so no service name can break the syntax.
"""

from __future__ import annotations

import shutil
import subprocess

from .graph import ADDED, CHANGED, REMOVED, Graph, Node

INSTALL_HINT = (
    "Graphviz `dot` is not installed; install it (Debian/Ubuntu: `apt-get install graphviz`, "
    "macOS: `brew install graphviz`) or use --format mermaid or --format dot"
)
_COLORS = {ADDED: "#1a7f37", REMOVED: "#cf222e", CHANGED: "#9a6700"}
_FILLS = {ADDED: "#dafbe1", REMOVED: "#ffebe9", CHANGED: "#fff8c5"}
_SHAPES = {
    "service": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "gateway": 'shape=hexagon, style=filled, fillcolor="#ddf4ff"',
    "egress": 'shape=ellipse, style="dashed,filled", fillcolor="#f6f8fa"',
}


class GraphvizMissing(Exception):
    """`dot` is not on PATH (exit 2 with `INSTALL_HINT`)."""


class GraphvizFailed(Exception):
    """`dot` ran and failed (a meshc bug: the DOT it was given is generated)."""


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node(node: Node) -> str:
    text = "\\n".join(quote(part)[1:-1] for part in (node.name, *node.details))
    attrs = [_SHAPES[node.kind], f'label="{text}"']
    if node.status in _COLORS:
        # a relaxed mTLS gets the removal red and a thick border on the changed fill
        color, width = (_COLORS[REMOVED], 4) if node.relaxed else (_COLORS[node.status], 2)
        attrs.append(f'color="{color}", fillcolor="{_FILLS[node.status]}", penwidth={width}')
        if node.status == REMOVED:
            attrs[0] = (
                attrs[0].replace('style="', 'style="dashed,').replace("style=filled", 'style="dashed,filled"')
            )
    return f"{quote(node.key)} [{', '.join(attrs)}];"


def render(g: Graph, *, name: str = "mesh") -> str:
    lines = [
        f"digraph {quote(name)} {{",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=12, compound=true];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in g.others("gateway"):
        lines.append("  " + _node(node))
    nested = g.has_clusters
    for ci, (clusters, namespaces) in enumerate(g.groups().items()):
        indent = "  "
        if nested:
            title = " + ".join(clusters) if clusters else "unplaced"
            lines.append(f"  subgraph {quote(f'cluster_c{ci}')} {{")
            lines.append(f'    label={quote("cluster " + title)}; style=bold; color="#57606a";')
            indent = "    "
        for ni, (namespace, nodes) in enumerate(namespaces.items()):
            lines.append(f"{indent}subgraph {quote(f'cluster_c{ci}_n{ni}')} {{")
            lines.append(f'{indent}  label={quote(namespace)}; style="rounded,dashed"; color="#8c959f";')
            for node in nodes:
                lines.append(f"{indent}  " + _node(node))
            lines.append(f"{indent}}}")
        if nested:
            lines.append("  }")
    for node in g.others("egress"):
        lines.append("  " + _node(node))
    for edge in g.sorted_edges():
        if edge.source not in g.nodes or edge.target not in g.nodes:
            continue
        attrs = [f"label={quote(edge.label)}"] if edge.label else []
        if edge.status in _COLORS:
            attrs.append(f'color="{_COLORS[edge.status]}", fontcolor="{_COLORS[edge.status]}", penwidth=2')
        if edge.status == REMOVED:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {quote(edge.source)} -> {quote(edge.target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_program() -> str | None:
    return shutil.which("dot")


def to_image(source: str, fmt: str) -> bytes:
    """SVG or PNG bytes for a DOT source, through Graphviz."""
    program = dot_program()
    if program is None:
        raise GraphvizMissing(INSTALL_HINT)
    try:
        result = subprocess.run(
            [program, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=600, check=False
        )
    except OSError as exc:
        raise GraphvizMissing(f"cannot run {program}: {exc.strerror}; {INSTALL_HINT}") from None
    if result.returncode != 0:
        raise GraphvizFailed(
            result.stderr.decode("utf-8", "replace").strip() or f"dot exited {result.returncode}"
        )
    return result.stdout
