"""What every category differ shares: the `Change` and `Risk` records, the diff they fill, the
context a differ reads (both views) and writes to, and the one added/changed/removed walk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from meshc.spec.models import review_value_fields, wire_name

from ..view import MeshView, canonical
from .fmt import opt

CATEGORIES: dict[str, str] = {
    "services": "Services",
    "edges": "Edges",
    "traffic": "Traffic",
    "resilience": "Timeouts & retries",
    "public": "Public routes & hosts",
    "egress": "Egress",
    "security": "Security",
    "telemetry": "Telemetry",
    "workload": "Workloads",
}
"""Review sections, in display order, with their titles (keys: `meshc.spec.models.meta.ReviewCategory`)."""
RISKS: dict[str, str] = {
    "mtls-relaxed": "mTLS relaxed",
    "authz-widened": "Authorization widened",
    "unauthenticated-route": "Route exposed without authentication",
    "claims-relaxed": "Required claims relaxed",
    "egress-widened": "Egress widened",
    "tls-relaxed": "TLS removed",
    "injection-mode": "Sidecar injection mode changed",
    "pod-security-relaxed": "Pod security relaxed",
}


def plain(message: str) -> str:
    """A message without its Markdown code quotes."""
    return message.replace("`", "")


@dataclass(frozen=True, slots=True)
class Change:
    category: str
    kind: str
    subject: str
    message: str
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "kind": self.kind,
            "subject": self.subject,
            "message": plain(self.message),
            "before": canonical(self.before),
            "after": canonical(self.after),
        }


@dataclass(frozen=True, slots=True)
class Risk:
    kind: str
    subject: str
    message: str

    @property
    def title(self) -> str:
        return RISKS[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "subject": self.subject,
            "message": plain(self.message),
        }


@dataclass(slots=True)
class IntentDiff:
    changes: list[Change] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)

    def by_category(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.category, []).append(change)
        return grouped

    def by_risk(self) -> dict[str, list[Risk]]:
        grouped: dict[str, list[Risk]] = {}
        for risk in self.risks:
            grouped.setdefault(risk.kind, []).append(risk)
        return grouped


@dataclass(slots=True)
class DiffContext:
    """Both revisions (an absent one as an empty view) and the diff the differs fill."""

    base: MeshView
    head: MeshView
    new_spec: bool
    """The change adds the spec (there is no base)."""
    deleted: bool
    """The change deletes the spec (there is no head)."""
    out: IntentDiff = field(default_factory=IntentDiff)
    changed_defaults: set[str] = field(default_factory=set)
    """`spec.defaults.traffic` fields that changed (reported once, not once per inheriting service)."""

    def change(
        self, category: str, kind: str, subject: str, message: str, before: Any = None, after: Any = None
    ) -> None:
        self.out.changes.append(Change(category, kind, subject, message, before, after))

    def risk(self, kind: str, subject: str, message: str) -> None:
        self.out.risks.append(Risk(kind, subject, message))


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def paired(base: Mapping[K, V], head: Mapping[K, V]) -> Iterator[tuple[K, V | None, V | None]]:
    """Every identity of either revision as (key, before, after): head's keys first, in head order
    (`before` None: added), then the keys only base has, in base order (`after` None: removed).
    Unchanged pairs are included; the caller decides what "changed" means."""
    for key, after in head.items():
        yield key, base.get(key), after
    for key, before in base.items():
        if key not in head:
            yield key, before, None


def list_diff(before: Sequence[T], after: Sequence[T]) -> tuple[list[T], list[T]]:
    """(added, removed) items of a list, each in its own list's order."""
    return [x for x in after if x not in before], [x for x in before if x not in after]


def diff_values(
    ctx: DiffContext,
    model: type[BaseModel],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    kind: str,
    subject: str,
    label: str,
    skip: Callable[[str], bool] = lambda _: False,
) -> None:
    """One change per field of `model` declared `FieldMeta(review="value")` whose value differs:
    category from the metadata, kind `<kind>-<camelName>`, message `<label> <camelName>: a → b`.
    `before`/`after` map attribute names to values (absent: not set)."""
    for name, meta in review_value_fields(model):
        a, b = before.get(name), after.get(name)
        if a != b and not skip(name):
            wire = wire_name(model, name)
            ctx.change(meta.category, f"{kind}-{wire}", subject, f"{label} {wire}: {opt(a)} → {opt(b)}", a, b)
