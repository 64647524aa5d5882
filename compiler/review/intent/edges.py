"""Edges: declared calls added, removed, or allowing more (a widened authorization is a risk)."""

from __future__ import annotations

from ..view import EdgeView
from .base import DiffContext, paired
from .fmt import edge_json


def diff(ctx: DiffContext) -> None:
    gone: dict[tuple[str, str], list[str]] = {}
    new: dict[tuple[str, str], list[str]] = {}
    for (caller, callee), old, edge in paired(ctx.base.edges, ctx.head.edges):
        if old is None and edge is not None:
            new.setdefault((caller, _bare(callee)), []).append(callee)
        elif edge is None and old is not None:
            gone.setdefault((caller, _bare(callee)), []).append(callee)
    for (caller, name), before in sorted(gone.items()):
        after = new.get((caller, name), [])
        if len(before) == 1 and len(after) == 1 and before != after:
            # the same name in another namespace: what a reader must see is where the call went
            ctx.change(
                "edges",
                "call-retargeted",
                f"{caller} → {name}",
                f"`{caller}`'s call to `{name}` retargeted from `{before[0]}` to `{after[0]}`",
                before[0],
                after[0],
            )
    for (caller, callee), old, edge in paired(ctx.base.edges, ctx.head.edges):
        if old is None and edge is not None:
            added(ctx, caller, callee, edge)
        elif edge is None and old is not None:
            ctx.change(
                "edges",
                "edge-removed",
                f"{caller} → {callee}",
                f"`{caller}` → `{callee}` removed",
                edge_json(old),
                None,
            )
        elif old is not None and edge is not None and old != edge:
            changed(ctx, caller, callee, old, edge)


def _bare(service: str) -> str:
    """A service's name without its namespace (review keys are `namespace/name` for twins)."""
    return service.rpartition("/")[2]


def added(ctx: DiffContext, caller: str, callee: str, edge: EdgeView) -> None:
    ctx.change(
        "edges",
        "edge-added",
        f"{caller} → {callee}",
        f"`{caller}` → `{callee}` added ({edge.protocol}; {edge.describe()})",
        None,
        edge_json(edge),
    )
    if callee in ctx.base.services:
        ctx.risk(
            "authz-widened",
            callee,
            f"`{callee}` accepts a new caller: `{caller}` ({edge.describe()})",
        )


def changed(ctx: DiffContext, caller: str, callee: str, old: EdgeView, edge: EdgeView) -> None:
    details = []
    if old.protocol != edge.protocol:
        details.append(f"protocol {old.protocol} → {edge.protocol}")
    if old.restrictions != edge.restrictions:
        details.append(f"{old.describe()} → {edge.describe()}")
    ctx.change(
        "edges",
        "edge-changed",
        f"{caller} → {callee}",
        f"`{caller}` → `{callee}`: {'; '.join(details)}",
        edge_json(old),
        edge_json(edge),
    )
    widened = [r for r in edge.restrictions if not any(o.covers(r) for o in old.restrictions)]
    if widened:
        ctx.risk(
            "authz-widened",
            callee,
            f"`{caller}` → `{callee}` now allows more: {old.describe()} → {edge.describe()}",
        )
