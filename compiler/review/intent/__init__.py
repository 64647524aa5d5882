"""What a change means, in the spec's own terms: edges, traffic, public routes, egress, security.

`diff_intent(base, head)` compares two `MeshView`s (either may be None: a spec added or deleted by
the change) and returns every `Change`, grouped by category, plus the `Risk`s a reviewer must not
miss: mTLS relaxed, authorization widened, a route exposed without authentication, egress widened,
TLS removed from a gateway port. Messages quote identifiers in backticks (the text renderer drops
them). Everything is dictionary lookups keyed by identity: linear in the size of the mesh.

One module per category, each with a `diff(ctx)` function, listed once in `DIFFERS` (the way
`compiler/rules/__init__.py` lists the rules). They share `base.paired` (the added/changed/removed
walk) and `base.diff_values`, which reports every model field declared `FieldMeta(review="value")`
with no code of its own: a new simple field shows up in the review by its declaration alone.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from ..view import MeshView
from . import edges, egress, gateways, public_routes, security, services, telemetry, traffic, workload
from .base import CATEGORIES, RISKS, Change, DiffContext, IntentDiff, Risk, plain

DIFFERS: tuple[ModuleType, ...] = (
    services,
    traffic,
    edges,
    gateways,
    public_routes,
    egress,
    security,
    workload,
    telemetry,
)
"""Every category differ. Changes and risks are sorted afterwards, so the order only matters for
state a differ keeps itself."""

__all__ = ["CATEGORIES", "DIFFERS", "RISKS", "Change", "IntentDiff", "Risk", "diff_intent", "plain"]


def _empty(like: MeshView | None) -> MeshView:
    return MeshView(
        name=like.name if like else "",
        mtls=like.mtls if like else "STRICT",
        default_deny=like.default_deny if like else True,
        namespace_mtls={},
        namespace_own_mtls={},
        namespace_injection={},
    )


def diff_intent(base: MeshView | None, head: MeshView | None) -> IntentDiff:
    """Every intent-level change from `base` to `head`, and the risks among them."""
    ctx = DiffContext(
        base=base if base is not None else _empty(head),
        head=head if head is not None else _empty(base),
        new_spec=base is None,
        deleted=head is None,
    )
    for differ in DIFFERS:
        run: Callable[[DiffContext], None] = differ.diff
        run(ctx)
    category_order = {name: i for i, name in enumerate(CATEGORIES)}
    risk_order = {name: i for i, name in enumerate(RISKS)}
    ctx.out.changes.sort(key=lambda c: (category_order[c.category], c.subject, c.kind, c.message))
    ctx.out.risks.sort(key=lambda r: (risk_order[r.kind], r.subject, r.message))
    return ctx.out
