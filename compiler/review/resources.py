"""Resource-level diff: which compiled objects were added, removed or changed, and which fields.

Resources are keyed by identity `(cluster, kind, namespace, name)`; two bodies are compared by
equality first (a C-level dict comparison) and only the fields of the ones that differ are walked,
so the cost is one dictionary pass over both lists plus the size of what actually changed.

Field paths read like JSONPath: `spec.http[0].route[1].weight`, `metadata.labels["app.kubernetes.io/name"]`.
In lists whose items all carry a unique `name` (ports, subsets, routes, containers) items are paired
by name, so inserting one does not show every following item as changed; the index shown is the
item's position in the head revision (in the base for a removed item).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from meshc.spec.safetext import MASK, redact, sensitive_header

from ..manifest import Manifest, kind_rank

MAX_FIELDS = 200
"""Field changes kept per resource; the rest are counted (a rewritten resource is not a reading list)."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    cluster: str
    kind: str
    namespace: str
    name: str

    @property
    def order(self) -> tuple[str, str, int, str, str]:
        """The compiler's canonical order: cluster, namespace, kind (dependencies first), name."""
        return (
            self.cluster,
            self.namespace or self.name,
            kind_rank(self.kind),
            self.kind,
            self.name,
        )

    @property
    def local_ref(self) -> str:
        """`Kind namespace/name` (`Kind name` for cluster-scoped)."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def ref(self) -> str:
        """`local_ref`, prefixed by `cluster: ` when the resource belongs to a cluster."""
        return f"{self.cluster}: {self.local_ref}" if self.cluster else self.local_ref

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster or None,
            "kind": self.kind,
            "namespace": self.namespace or None,
            "name": self.name,
        }


def key_of(m: Manifest) -> ResourceKey:
    return ResourceKey(getattr(m, "cluster", None) or "", m.kind, m.namespace or "", m.name)


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    op: str
    """`added`, `removed` or `changed`."""
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "added":
            out["before"] = self.before
        if self.op != "removed":
            out["after"] = self.after
        return out


@dataclass(slots=True)
class ResourceChange:
    key: ResourceKey
    fields: list[FieldChange]
    omitted: int = 0
    """Field changes beyond `MAX_FIELDS`, not listed."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.key.to_json(),
            "fields": [f.to_json() for f in self.fields],
            "omittedFields": self.omitted,
        }


@dataclass(slots=True)
class ResourceDiff:
    added: list[ResourceKey] = field(default_factory=list)
    removed: list[ResourceKey] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def total(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)

    @property
    def clusters(self) -> list[str]:
        """Clusters touched by the change ("" for resources without a cluster), sorted."""
        found = {k.cluster for k in self.added} | {k.cluster for k in self.removed}
        found |= {c.key.cluster for c in self.changed}
        return sorted(found)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [k.to_json() for k in self.added],
            "removed": [k.to_json() for k in self.removed],
            "changed": [c.to_json() for c in self.changed],
            "unchanged": self.unchanged,
        }


def diff_manifests(
    base: Sequence[Manifest], head: Sequence[Manifest], *, max_fields: int = MAX_FIELDS
) -> ResourceDiff:
    # Plain tuples as keys (hashing them is C); `ResourceKey`s only for what is reported.
    old = {(getattr(m, "cluster", None) or "", m.kind, m.namespace or "", m.name): m.body for m in base}
    out = ResourceDiff()
    seen: set[tuple[str, str, str, str]] = set()
    unchanged = 0
    for m in head:
        ident = (getattr(m, "cluster", None) or "", m.kind, m.namespace or "", m.name)
        seen.add(ident)
        before = old.get(ident)
        if before is None:
            out.added.append(ResourceKey(*ident))
        elif before == m.body:
            unchanged += 1
        else:
            collector = _Collector(max_fields)
            collector.walk(before, m.body, "")
            out.changed.append(ResourceChange(ResourceKey(*ident), collector.changes, collector.omitted))
    out.unchanged = unchanged
    out.removed = [ResourceKey(*ident) for ident in old if ident not in seen]
    out.added.sort(key=lambda k: k.order)
    out.removed.sort(key=lambda k: k.order)
    out.changed.sort(key=lambda c: c.key.order)
    return out


FLATTEN_LEAVES = 16
"""An added or removed mapping or list with at most this many leaves is listed leaf by leaf
(`spec.http[1].route[0].destination.host: ...`); a bigger one is one entry holding the whole value."""


def _leaves(value: Any, path: str, out: list[tuple[str, Any]], budget: int) -> bool:
    """Append the (path, scalar or scalar list) leaves of `value`; False when there are too many."""
    if isinstance(value, dict) and value:
        for k in sorted(value, key=str):
            if not _leaves(value[k], _child(path, k), out, budget):
                return False
    elif isinstance(value, list) and value and any(isinstance(x, dict | list) for x in value):
        for i, item in enumerate(value):
            if not _leaves(item, f"{path}[{i}]", out, budget):
                return False
    else:
        out.append((path, value))
    return len(out) <= budget


class _Collector:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.changes: list[FieldChange] = []
        self.omitted = 0

    def add(self, change: FieldChange) -> None:
        if change.op != "changed":
            value = change.after if change.op == "added" else change.before
            leaves: list[tuple[str, Any]] = []
            flattened = isinstance(value, dict | list) and _leaves(value, change.path, leaves, FLATTEN_LEAVES)
            if flattened and (len(leaves) > 1 or leaves[0][0] != change.path):
                for path, leaf in leaves:
                    before, after = (None, leaf) if change.op == "added" else (leaf, None)
                    self._keep(FieldChange(path, change.op, before, after))
                return
        self._keep(change)

    def _keep(self, change: FieldChange) -> None:
        if len(self.changes) < self.limit:
            self.changes.append(_masked(change))
        else:
            self.omitted += 1

    def walk(self, a: Any, b: Any, path: str) -> None:
        if a == b and type(a) is type(b):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(a.keys() | b.keys(), key=str):
                sub = _child(path, k)
                if k not in b:
                    self.add(FieldChange(sub, "removed", a[k], None))
                elif k not in a:
                    self.add(FieldChange(sub, "added", None, b[k]))
                else:
                    self.walk(a[k], b[k], sub)
        elif isinstance(a, list) and isinstance(b, list):
            self.walk_list(a, b, path)
        else:
            self.add(FieldChange(path or ".", "changed", a, b))

    def walk_list(self, a: list[Any], b: list[Any], path: str) -> None:
        named_a, named_b = _by_name(a), _by_name(b)
        if named_a is not None and named_b is not None:
            for j, item in enumerate(b):
                i = named_a.get(item["name"])
                if i is None:
                    self.add(FieldChange(f"{path}[{j}]", "added", None, item))
                else:
                    self.walk(a[i], item, f"{path}[{j}]")
            for i, item in enumerate(a):
                if item["name"] not in named_b:
                    self.add(FieldChange(f"{path}[{i}]", "removed", item, None))
            return
        if all(not isinstance(x, dict | list) for x in (*a, *b)) and len(a) != len(b):
            self.add(FieldChange(path, "changed", a, b))  # a list of scalars reads best whole
            return
        for i in range(min(len(a), len(b))):
            self.walk(a[i], b[i], f"{path}[{i}]")
        for i in range(len(b), len(a)):
            self.add(FieldChange(f"{path}[{i}]", "removed", a[i], None))
        for i in range(len(a), len(b)):
            self.add(FieldChange(f"{path}[{i}]", "added", None, b[i]))


_ENV = re.compile(r"\.env(\[[0-9]+\](\.value)?)?$")
"""A container's `env` list, one of its items, or an item's value: where credentials live."""


_KEY = re.compile(r'\.?([^.\["]+)|\["((?:[^"\\]|\\.)*)"\]|\[[0-9]+\]')
_HEADER_PARENTS = frozenset({"set", "add", "headers"})
"""Keys whose entries are headers by name: header operations (`set`, `add`) and header matches
(`headers`) of a VirtualService."""


def _credential_header(path: str) -> bool:
    """The path runs through a credential header's entry (`headers.request.set.authorization`,
    `match[0].headers.cookie.exact`): its value is a credential whatever it looks like."""
    keys = [m.group(1) or m.group(2) for m in _KEY.finditer(path)]
    return any(
        parent in _HEADER_PARENTS and key is not None and sensitive_header(key)
        for parent, key in pairwise(keys)
    )


def _masked(change: FieldChange) -> FieldChange:
    """The change as a review may show it: env values, credential header values and
    credential-looking strings masked, so a diff in a CI log or a pull-request comment never
    carries a secret (it still says what changed)."""
    env = _ENV.search(change.path) is not None
    whole = _credential_header(change.path)
    parent = ([m.group(1) or m.group(2) for m in _KEY.finditer(change.path)] or [None])[-1]
    before = _mask(change.before, env, whole, parent)
    after = _mask(change.after, env, whole, parent)
    if before is change.before and after is change.after:
        return change
    return FieldChange(change.path, change.op, before, after)


def _mask(value: Any, env: bool, whole: bool = False, parent: str | None = None) -> Any:
    """`env`: a container env entry (its `value` is masked); `whole`: every string is masked."""
    if isinstance(value, str):
        if env or whole:
            return MASK
        masked = redact(value)
        return value if masked == value else masked
    if isinstance(value, list):
        items = [_mask(item, env, whole) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        entries = {
            k: _mask(
                v,
                env and k == "value",
                whole or (parent in _HEADER_PARENTS and sensitive_header(str(k))),
                str(k),
            )
            for k, v in value.items()
        }
        return value if all(entries[k] is value[k] for k in value) else entries
    return value


def _by_name(items: list[Any]) -> dict[str, int] | None:
    if not items:
        return {}
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or item["name"] in names:
            return None
        names[item["name"]] = i
    return names


def _child(path: str, key: Any) -> str:
    text = str(key)
    if _IDENT.match(text):
        return f"{path}.{text}" if path else text
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{quoted}"]'
