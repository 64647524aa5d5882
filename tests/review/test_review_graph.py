"""The service graph: Mermaid snapshot, DOT that Graphviz accepts, diff marking and focus."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from review_helpers import BOOKINFO, DATA, GOLDEN, MTLS_RELAXED, NEW_EDGE, REPO

from meshc.compiler.pipeline import run
from meshc.compiler.review import dot, mermaid
from meshc.compiler.review.graph import ADDED, CHANGED, REMOVED, SAME, Graph, build_graph, focus, merge
from meshc.compiler.review.view import build_view
from meshc.spec.loader import load_sources


def graph_of(text: str) -> Graph:
    c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.index is not None
    return build_graph(build_view(c.index))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_bookinfo_mermaid_snapshot() -> None:
    check_golden("bookinfo.mmd", mermaid.render(graph_of(BOOKINFO)))


def test_shop_example_graph_has_every_kind_of_node() -> None:
    c = run(REPO / "examples" / "shop" / "mesh.yaml")
    assert c.index is not None
    g = build_graph(build_view(c.index))
    kinds = {n.kind for n in g.nodes.values()}
    assert kinds == {"service", "gateway", "egress"}
    text = mermaid.render(g)
    assert 'gw_public{{"<b>public</b><br/>shop.example.com"}}' in text
    assert 'eg_stripe(["<b>stripe</b><br/>api.stripe.com"])' in text
    assert 'svc_payments -->|"tls"| eg_stripe' in text
    # the header route `canary-opt-in` sends opted-in requests to v2 whatever the weights say
    assert 'svc_checkout["<b>checkout</b><br/>v1 90% · v2 10% (+ header route)"]' in text
    assert {line.split("[")[0].strip() for line in text.splitlines() if "subgraph" in line} == {
        "subgraph ns_data",
        "subgraph ns_payments",
        "subgraph ns_platform",
        "subgraph ns_shop",
        "subgraph ns_web",
    }


def test_mermaid_ids_are_sanitized_and_labels_quoted() -> None:
    from meshc.compiler.review.graph import Edge, Node

    g = Graph()
    g.nodes["service:end"] = Node("service:end", "service", "end", ('say "hi" <script>',), "ns")
    g.nodes["service:a.b"] = Node("service:a.b", "service", "a.b", (), "ns")
    g.nodes["service:a-b"] = Node("service:a-b", "service", "a-b", (), "ns")
    g.edges[("service:a.b", "service:end")] = Edge("service:a.b", "service:end", "http")
    text = mermaid.render(g)
    assert 'svc_end["<b>end</b><br/>say #quot;hi#quot; #lt;script#gt;"]' in text
    assert "svc_a_b[" in text and "svc_a_b_2[" in text
    assert 'svc_a_b_2 -->|"http"| svc_end' in text  # a.b sorts after a-b


def test_merge_marks_added_removed_and_changed() -> None:
    before = graph_of(BOOKINFO)
    after = graph_of(NEW_EDGE.replace("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 0, v2: 0, v3: 100 }"))
    g = merge(before, after)
    assert g.edges[("service:details", "service:ratings")].status == ADDED
    assert g.nodes["service:reviews"].status == CHANGED
    assert g.nodes["service:details"].status == SAME
    back = merge(after, before)
    assert back.edges[("service:details", "service:ratings")].status == REMOVED
    text = mermaid.render(g)
    assert 'svc_details ==>|"http"| svc_ratings' in text
    assert "linkStyle 1 stroke:#1a7f37" in text
    assert "class svc_reviews changed" in text
    assert "-.->" in mermaid.render(back)


def test_focus_keeps_the_changed_part_of_a_large_graph() -> None:
    import sys

    import yaml

    sys.path.insert(0, str(REPO / "bench"))
    from synthetic import make_spec

    spec = make_spec(400)
    before = graph_of(yaml.safe_dump(spec))
    spec["spec"]["services"][200]["traffic"]["split"] = {"v1": 50, "v2": 50}
    after = graph_of(yaml.safe_dump(spec))
    g = focus(merge(before, after))
    assert "service:svc-00200" in g.nodes and g.nodes["service:svc-00200"].status == CHANGED
    assert 1 < len(g.nodes) <= 60 and g.omitted_nodes == len(before.nodes) - len(g.nodes)


def test_dot_is_accepted_by_graphviz(tmp_path: Path) -> None:
    source = dot.render(merge(graph_of(BOOKINFO), graph_of(NEW_EDGE)), name="bookinfo")
    assert source.startswith('digraph "bookinfo" {') and source.rstrip().endswith("}")
    assert '"gateway:bookinfo-gateway" [shape=hexagon' in source
    dot_exe = require_tool("dot")
    checked = subprocess.run([dot_exe, "-Tcanon"], input=source, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    svg = dot.to_image(source, "svg")
    assert b"<svg" in svg and b"productpage" in svg


def test_to_image_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dot, "dot_program", lambda: None)
    with pytest.raises(dot.GraphvizMissing, match="apt-get install graphviz"):
        dot.to_image("digraph {}", "svg")


def test_example_bookinfo_matches_the_frozen_copy_graph() -> None:
    # The snapshot uses a frozen copy of the example (tests/review/data) so that editing the example
    # does not churn review goldens; the example itself must still draw the same picture.
    c = run(REPO / "examples" / "bookinfo" / "mesh.yaml")
    assert c.index is not None
    assert (DATA / "bookinfo.yaml").exists()
    assert set(build_graph(build_view(c.index)).nodes) == set(graph_of(BOOKINFO).nodes)


# --- labels that say what the weights do not (issue 18) ----------------------------------------------

HEADER_ROUTED = BOOKINFO.replace(
    "      traffic:\n        split: { v1: 50, v2: 0, v3: 50 }\n",
    "      traffic:\n"
    "        routes:\n"
    "          - { name: testers, match: [{ headers: { x-tester: { exact: 'yes' } } }], to: v2 }\n"
    "        split: { v1: 50, v2: 0, v3: 50 }\n",
)


def test_header_routed_version_says_so_in_the_label() -> None:
    assert HEADER_ROUTED != BOOKINFO
    text = mermaid.render(graph_of(HEADER_ROUTED))
    assert 'svc_reviews["<b>reviews</b><br/>v1 50% · v2 0% (+ header route) · v3 50%"]' in text
    plain = mermaid.render(graph_of(BOOKINFO))
    assert "route)" not in plain


def test_path_routed_version_is_labelled_as_routed() -> None:
    spec = HEADER_ROUTED.replace("{ headers: { x-tester: { exact: 'yes' } } }", "{ path: { prefix: /beta } }")
    text = mermaid.render(graph_of(spec))
    assert "v2 0% (+ route) · v3 50%" in text


def test_relaxed_mtls_is_marked_in_the_graph_and_the_diff() -> None:
    head = graph_of(MTLS_RELAXED)
    assert "⚠ mTLS PERMISSIVE" in head.nodes["service:reviews"].details
    assert not any("mTLS" in d for d in graph_of(BOOKINFO).nodes["service:reviews"].details)
    g = merge(graph_of(BOOKINFO), head)
    node = g.nodes["service:reviews"]
    assert node.status == CHANGED and node.relaxed
    assert "⚠ mTLS relaxed: STRICT → PERMISSIVE" in node.details
    text = mermaid.render(g)
    assert "classDef relaxed" in text and "class " in text and "svc_reviews" in text.split("relaxed\n")[0]
    assert any(line.startswith("  class ") and line.endswith(" relaxed") for line in text.splitlines())
    back = merge(head, graph_of(BOOKINFO))
    assert not back.nodes["service:reviews"].relaxed
    reviews_dot = next(line for line in dot.render(g, name="x").splitlines() if '"service:reviews" [' in line)
    assert 'color="#cf222e"' in reviews_dot and "penwidth=4" in reviews_dot
