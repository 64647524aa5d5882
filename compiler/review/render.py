"""`meshc diff` output: text for terminals, Markdown for pull-request comments, JSON for bots.

Markdown puts a summary line first, then the risks, the intent changes, the resource changes in
a collapsed `<details>` block (a `diff` block GitHub colours: `-` old value, `+` new value, a
changed list as the items removed and added) and the Mermaid picture of the changed part of the
graph. It stays
under GitHub's comment limit (65,536 characters): long lists are cut with a count of what was left
out, never silently.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, TextIO

from meshc.spec.safetext import escape_controls

from . import mermaid
from .gitsource import Revision
from .graph import focus, has_relaxed, is_changed
from .intent import CATEGORIES, Change, Risk, plain
from .report import Report
from .resources import FieldChange, ResourceChange, ResourceDiff, ResourceKey

JSON_SCHEMA = "meshc.dev/diff/v1"
MARKDOWN_BUDGET = 60_000
"""Characters of Markdown we allow ourselves (GitHub refuses comments over 65,536)."""
MAX_ITEMS = 200
"""Intent changes listed per category in Markdown before "and N more"."""
VALUE_WIDTH = 100
MARKDOWN_FIELDS = 40
"""Field changes shown per resource in Markdown (the text and JSON formats show up to `MAX_FIELDS`)."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _resource_counts(r: ResourceDiff) -> str:
    return f"{len(r.added)} added, {len(r.removed)} removed, {len(r.changed)} changed"


def value(v: Any, width: int = VALUE_WIDTH) -> str:
    # JSON escapes C0 controls; the rest (C1, U+2028, bidi overrides) must not reach a terminal raw.
    text = escape_controls(json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(", ", ": ")))
    return text if len(text) <= width else text[: width - 1] + "…"


LIST_ITEMS = 20
"""Items listed per side of a list change in the text format before "and N more"."""
MARKDOWN_VALUE_WIDTH = 400
"""Markdown puts before and after on lines of their own, so a long value can be shown far enough
to reach the change (a hostname or principal differing at its end)."""


def list_delta(f: FieldChange) -> tuple[list[Any], list[Any]] | None:
    """(removed, added) items of a changed list of scalars, in list order; None for other changes.
    Items are compared as a multiset: a duplicate dropped is one item removed."""
    before, after = f.before, f.after
    if f.op != "changed" or not isinstance(before, list) or not isinstance(after, list):
        return None
    if any(isinstance(x, dict | list) for x in (*before, *after)):
        return None
    removed, added = _missing_from(before, after), _missing_from(after, before)
    if not removed and not added:
        return None  # the same items in another order: shown whole
    return removed, added


def _missing_from(items: list[Any], other: list[Any]) -> list[Any]:
    """The items of `items` that `other` lacks, counting duplicates (a multiset difference)."""
    left = Counter(_item_key(x) for x in other)
    missing = []
    for item in items:
        key = _item_key(item)
        if left[key]:
            left[key] -= 1
        else:
            missing.append(item)
    return missing


def _item_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def _items(items: list[Any]) -> str:
    shown = ", ".join(value(x, MARKDOWN_VALUE_WIDTH) for x in items[:LIST_ITEMS])
    return shown + (f" and {len(items) - LIST_ITEMS} more" if len(items) > LIST_ITEMS else "")


def field_line(f: FieldChange) -> str:
    if f.op == "added":
        return f"{f.path}: {value(f.after)} (added)"
    if f.op == "removed":
        return f"{f.path}: {value(f.before)} (removed)"
    delta = list_delta(f)
    if delta is not None:
        removed, added = delta
        parts = [f"added {_items(added)}"] if added else []
        parts += [f"removed {_items(removed)}"] if removed else []
        return f"{f.path}: {'; '.join(parts)}"
    return f"{f.path}: {value(f.before)} → {value(f.after)}"


def markdown_field_lines(f: FieldChange) -> list[str]:
    """A field change as lines of a `diff` block: `-` the old value, `+` the new one (GitHub colours
    those); a list of scalars as the items removed and added (`path[]: item`)."""
    if f.op == "added":
        return [f"+   {f.path}: {value(f.after, MARKDOWN_VALUE_WIDTH)}"]
    if f.op == "removed":
        return [f"-   {f.path}: {value(f.before, MARKDOWN_VALUE_WIDTH)}"]
    delta = list_delta(f)
    if delta is not None:
        removed, added = delta
        return [
            *(f"-   {f.path}[]: {value(x, MARKDOWN_VALUE_WIDTH)}" for x in removed),
            *(f"+   {f.path}[]: {value(x, MARKDOWN_VALUE_WIDTH)}" for x in added),
        ]
    return [
        f"-   {f.path}: {value(f.before, MARKDOWN_VALUE_WIDTH)}",
        f"+   {f.path}: {value(f.after, MARKDOWN_VALUE_WIDTH)}",
    ]


def summary(report: Report) -> str:
    r = report.resources
    risks = len(report.intent.risks)
    parts = [
        _plural(risks, "risk"),
        _plural(len(report.intent.changes), "change"),
        f"{_plural(r.total, 'resource')} changed ({_resource_counts(r)}; {r.unchanged} unchanged)",
    ]
    return ", ".join(parts)


# --- text -------------------------------------------------------------------------------------------


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def render_text(report: Report, *, color: bool = False) -> str:
    s = _Style(color)
    lines = [s("1", f"meshc diff {report.spec}: {report.base.label} → {report.head.label}"), summary(report)]
    lines.extend(f"note: {n}" for n in report.notes)
    if report.empty:
        lines.append("no changes")
        return "\n".join(lines) + "\n"
    if report.intent.risks:
        lines += ["", s("1;31", "RISKS")]
        for risk in report.intent.risks:
            lines.append(s("31", f"  ! {risk.title}: {plain(risk.message)}"))
    if report.intent.changes:
        lines += ["", s("1", "CHANGES")]
        for category, changes in report.intent.by_category().items():
            lines.append(f"  {CATEGORIES[category]}")
            lines.extend(f"    {plain(c.message)}" for c in changes)
    if report.resources.total:
        lines += ["", s("1", "RESOURCES")]
        colors = {"+": "32", "-": "31", "!": "33"}
        for key, mark, change in _resource_entries(report.resources):
            lines.append(s(colors[mark], f"  {'~' if mark == '!' else mark} {key.ref}"))
            if change is not None:
                lines.extend(f"      {field_line(f)}" for f in change.fields)
                if change.omitted:
                    lines.append(f"      … {change.omitted} more field changes")
    return "\n".join(lines) + "\n"


# --- markdown ---------------------------------------------------------------------------------------


def _md_rev(rev: Revision) -> str:
    return f"`{rev.label}`" if rev.commit else rev.label


def render_markdown(report: Report, *, budget: int = MARKDOWN_BUDGET) -> str:
    r = report.resources
    out: list[str] = ["<!-- meshc-diff -->", f"### meshc diff · `{report.spec}`", ""]
    risks = report.intent.risks
    flag = f"⚠️ **{_plural(len(risks), 'risk')}**" if risks else "✅ no risks"
    n_changes = _plural(len(report.intent.changes), "change")
    out.append(
        f"{_md_rev(report.base)} → {_md_rev(report.head)} · {flag} · {n_changes}"
        f" · {_plural(r.total, 'resource')} changed ({_resource_counts(r)})"
    )
    out.append("")
    for note in report.notes:
        out += [f"> **Note:** {note}", ""]
    if report.empty:
        out += ["No changes to the mesh or to the compiled resources.", ""]
        return "\n".join(out)
    picture = _md_graph(report)
    # Risks first and whole when they fit in a quarter of the budget; then the changes while the
    # picture and a minimum of resource detail still fit; the resources take what is left.
    used = sum(len(line) + 1 for line in out)
    if risks:
        lines, used = _take([_md_risk(risk) for risk in risks], used, budget // 4, "risks")
        out += ["#### ⚠️ Risks", "", *lines, ""]
    if report.intent.changes:
        out += ["#### Changes", ""]
        limit = budget - len(picture) - 4000
        for category, changes in report.intent.by_category().items():
            items = [f"- {c.message}" for c in changes[:MAX_ITEMS]]
            lines, used = _take(items, used, limit, "changes in this category")
            out += [f"**{CATEGORIES[category]}**", "", *lines]
            if len(changes) > MAX_ITEMS and len(lines) == len(items):
                out.append(f"- … and {len(changes) - MAX_ITEMS} more (see `--format json`)")
            out.append("")
    room = budget - used - len(picture) - 400
    if r.total:
        out.append(_md_resources(r, room))
        out.append("")
    if picture:
        out.append(picture)
    return "\n".join(out).rstrip("\n") + "\n"


def _take(lines: list[str], used: int, limit: int, what: str) -> tuple[list[str], int]:
    """The lines that fit below `limit` characters (at least one), and a count of the rest."""
    taken: list[str] = []
    for line in lines:
        if taken and used + len(line) + 1 > limit:
            taken.append(f"- … and {len(lines) - len(taken)} more {what} (see `--format json`)")
            break
        taken.append(line)
        used += len(line) + 1
    return taken, used


def _md_risk(risk: Risk) -> str:
    return f"- **{risk.title}**: {risk.message}"


def _md_resources(r: ResourceDiff, room: int) -> str:
    clusters = r.clusters
    blocks: list[str] = []
    used = 0
    shown = 0
    lines_by_cluster: dict[str, list[list[str]]] = {}
    for key, mark, change in _resource_entries(r):
        # a changed resource is a hunk header (`@@ ... @@`), its fields `-`/`+` lines under it
        entry = [f"@@ {key.local_ref} @@" if mark == "!" else f"{mark} {key.local_ref}"]
        size = len(entry[0]) + 1
        if used + size > room and shown:
            break
        if change is not None:
            listed = change.fields[:MARKDOWN_FIELDS]
            taken = 0
            for f in listed:  # as many field changes as fit; the rest are counted
                lines = markdown_field_lines(f)
                grown = sum(len(line) + 1 for line in lines)
                if used + size + grown > room - 60 and taken:
                    break
                entry.extend(lines)
                size += grown
                taken += 1
            omitted = change.omitted + len(change.fields) - taken
            if omitted:
                entry.append(f"@@ … {omitted} more field changes @@")
                size += len(entry[-1]) + 1
        used += size
        shown += 1
        lines_by_cluster.setdefault(key.cluster, []).append(entry)
    for cluster in clusters:
        entries = lines_by_cluster.get(cluster)
        if not entries:
            continue
        body = "\n".join(line for entry in entries for line in entry)
        fence = "~~~~" if "```" in body else "```"
        if cluster:
            title = f"**cluster `{cluster}`**\n\n"
        else:
            title = "**not in a cluster**\n\n" if len(clusters) > 1 else ""
        blocks.append(f"{title}{fence}diff\n{body}\n{fence}")
    left = r.total - shown
    if left:
        blocks.append(
            f"… and {_plural(left, 'more resource')} (run `meshc diff` locally, or use `--format json`)"
        )
    summary_line = f"Resources: {_resource_counts(r)} ({r.unchanged} unchanged)"
    return f"<details><summary>{summary_line}</summary>\n\n" + "\n\n".join(blocks) + "\n\n</details>"


def _resource_entries(r: ResourceDiff) -> list[tuple[ResourceKey, str, ResourceChange | None]]:
    entries: list[tuple[ResourceKey, str, ResourceChange | None]] = [
        *((k, "+", None) for k in r.added),
        *((k, "-", None) for k in r.removed),
        *((c.key, "!", c) for c in r.changed),
    ]
    entries.sort(key=lambda e: e[0].order)
    return entries


def _md_graph(report: Report) -> str:
    if not is_changed(report.graph):
        return ""
    shown = focus(report.graph)
    note = ""
    if shown.omitted_nodes:
        note = (
            f"\n<sub>Showing the changed part of the graph: {len(shown.nodes)} of "
            f"{len(shown.nodes) + shown.omitted_nodes} nodes (`meshc graph` draws all of it).</sub>\n"
        )
    legend = "<sub>green: added · red, dashed: removed · yellow: changed"
    if has_relaxed(shown):
        legend += " · thick red border: mTLS relaxed"
    legend += "</sub>"
    return f"#### Service graph\n\n{mermaid.fenced(shown)}\n{legend}\n{note}"


# --- json -------------------------------------------------------------------------------------------


def _rev_json(rev: Revision) -> dict[str, Any]:
    return {
        "label": rev.label,
        "ref": rev.ref,
        "commit": rev.commit,
        "path": rev.path,
        "exists": rev.exists,
        "digest": rev.digest(),
    }


def report_json(report: Report) -> dict[str, Any]:
    r = report.resources
    graph = focus(report.graph) if is_changed(report.graph) else None
    return {
        "schema": JSON_SCHEMA,
        "spec": report.spec,
        "base": {**_rev_json(report.base), "valid": not report.base_invalid},
        "head": _rev_json(report.head),
        "notes": report.notes,
        "summary": {
            "risks": len(report.intent.risks),
            "changes": len(report.intent.changes),
            "resources": {
                "added": len(r.added),
                "removed": len(r.removed),
                "changed": len(r.changed),
                "unchanged": r.unchanged,
            },
        },
        "risks": [risk.to_json() for risk in report.intent.risks],
        "changes": [change.to_json() for change in report.intent.changes],
        "resources": r.to_json(),
        "baseDiagnostics": [d.to_json() for d in report.base_invalid],
        "mermaid": mermaid.render(graph) if graph is not None else None,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"


def changes_of(report: Report, category: str) -> list[Change]:
    return [c for c in report.intent.changes if c.category == category]
