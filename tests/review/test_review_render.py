"""Report rendering: budgets for PR comments, empty diffs, notes, and the three formats agreeing."""

from __future__ import annotations

import json
import sys

import yaml
from review_helpers import BOOKINFO, NEW_EDGE, REPO

from meshc.compiler.review.gitsource import Revision
from meshc.compiler.review.render import render_json, render_markdown, render_text
from meshc.compiler.review.report import compare


def revision(text: str | None, label: str, ref: str | None = None) -> Revision:
    sources = [("mesh.yaml", text.encode())] if text is not None else None
    return Revision(
        label,
        "mesh.yaml",
        ref,
        ("a" if ref == "base" else "b") * 40 if ref else None,
        sources,
        ["mesh.yaml"] if text is not None else [],
    )


def test_no_changes() -> None:
    report = compare("mesh.yaml", revision(BOOKINFO, "main", "base"), revision(BOOKINFO, "working tree"))
    assert report.empty
    assert "No changes to the mesh or to the compiled resources." in render_markdown(report)
    assert render_text(report).endswith("no changes\n")
    data = json.loads(render_json(report))
    assert data["summary"] == {
        "risks": 0,
        "changes": 0,
        "resources": {"added": 0, "removed": 0, "changed": 0, "unchanged": 34},
    }
    assert data["mermaid"] is None


def test_formats_agree() -> None:
    report = compare("mesh.yaml", revision(BOOKINFO, "main", "base"), revision(NEW_EDGE, "working tree"))
    text, markdown, data = render_text(report), render_markdown(report), json.loads(render_json(report))
    for change in data["changes"]:
        assert change["message"] in text
    for risk in data["risks"]:
        assert risk["message"] in text and risk["title"] in markdown
    assert data["mermaid"] in markdown
    assert "\033[" not in text and "\033[" in render_text(report, color=True)


def test_new_spec_says_so() -> None:
    report = compare("mesh.yaml", revision(None, "main", "base"), revision(BOOKINFO, "working tree"))
    assert "the spec does not exist at the base" in render_markdown(report)
    assert report.resources.added and not report.resources.removed


def test_markdown_stays_within_the_comment_budget() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from synthetic import make_spec

    spec = make_spec(300)
    before = yaml.safe_dump(spec)
    for svc in spec["spec"]["services"]:
        versions = [v["name"] for v in svc["versions"]]
        svc["traffic"]["split"] = {v: (100 if v == versions[-1] else 0) for v in versions}
        svc["traffic"]["retries"] = {"attempts": 0}
    after = yaml.safe_dump(spec)
    report = compare("mesh.yaml", revision(before, "main", "base"), revision(after, "working tree"))
    assert len(report.intent.changes) >= 600 and report.resources.total >= 300
    markdown = render_markdown(report, budget=30_000)
    assert len(markdown) < 32_000
    assert "more changes in this category (see `--format json`)" in markdown
    assert "more resources (run `meshc diff` locally" in markdown
    assert "Showing the changed part of the graph" in markdown
    full = render_markdown(report)
    assert len(full) < 65_536


# --- GitHub-friendly resource diffs (issue 18) --------------------------------------------------------


def _diff_block(markdown: str) -> list[str]:
    body = markdown.split("```diff\n", 1)[1].split("\n```", 1)[0]
    return body.splitlines()


def test_markdown_field_changes_are_minus_and_plus_lines() -> None:
    from review_helpers import CANARY

    report = compare("mesh.yaml", revision(BOOKINFO, "main", "base"), revision(CANARY, "working tree"))
    lines = _diff_block(render_markdown(report))
    assert lines[0] == "@@ VirtualService bookinfo/reviews @@"
    assert '-   spec.http[0].route[0].destination.subset: "v1"' in lines
    assert '+   spec.http[0].route[0].destination.subset: "v3"' in lines
    assert "-   spec.http[0].route[0].weight: 50" in lines
    # GitHub colours `+`/`-` lines only: every line is one of those or a hunk header
    assert all(line[:1] in "+-" or line.startswith("@@ ") for line in lines), lines
    assert not any("→" in line or "(removed)" in line for line in lines)


def test_list_changes_show_the_items_added_and_removed() -> None:
    from meshc.compiler.review.render import field_line, markdown_field_lines
    from meshc.compiler.review.resources import FieldChange

    principals = [f"cluster.local/ns/bookinfo/sa/bookinfo-service-number-{n:02d}" for n in range(6)]
    change = FieldChange(
        "spec.rules[0].from[0].source.principals",
        "changed",
        principals,
        [*principals[:2], *principals[3:], "cluster.local/ns/bookinfo/sa/newcomer"],
    )
    lines = markdown_field_lines(change)
    assert lines == [
        f'-   spec.rules[0].from[0].source.principals[]: "{principals[2]}"',
        '+   spec.rules[0].from[0].source.principals[]: "cluster.local/ns/bookinfo/sa/newcomer"',
    ]
    text = field_line(change)
    assert "newcomer" in text and principals[2] in text and "…" not in text
    assert text.startswith("spec.rules[0].from[0].source.principals: ")


def test_long_scalar_values_are_not_cut_before_the_change() -> None:
    from meshc.compiler.review.render import markdown_field_lines
    from meshc.compiler.review.resources import FieldChange

    before = "x" * 150 + "-old"
    after = "x" * 150 + "-new"
    lines = markdown_field_lines(FieldChange("spec.host", "changed", before, after))
    assert lines == [f'-   spec.host: "{before}"', f'+   spec.host: "{after}"']
