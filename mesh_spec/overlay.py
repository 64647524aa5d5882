"""Overlays: per-environment YAML files merged onto a YAML spec (`meshc ... --overlay env/prod.yaml`).

Merging, overlay by overlay, in the order given (docs/overlays.md):

* mappings merge key by key, recursively; anything else the overlay gives (a scalar, a list that
  cannot be merged by key, a value of another type) replaces the base's value;
* a list whose base items are mappings with distinct keys (`name`, else `service`, else `port`:
  services, versions, gateways, egress, calls, ports...) merges item by item, matched on that key.
  An overlay item that matches no base item is an error (MC216: a typo must not add a half-written
  service) unless it says `$patch: add`; `$patch: delete` removes the matched item;
* services whose names repeat in several namespaces are matched by `namespace` and `name`; an
  overlay item without `namespace` matches the one base service of that name (several: MC241);
* `apiVersion` and `kind` cannot be changed (MC218).

Positions are kept: the merged spec's source map (`OverlaySourceMap`) knows, for every value an
overlay wrote, the overlay file and the place in it, so a diagnostic about an overlaid value points
into the overlay and one about a base value into the base. CUE specs take no overlay (MC217): CUE
unifies several files itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic, SpecError
from .loaded import LoadedSpec
from .loader import parse_fast, parse_yaml, read_text
from .source import PathItem, SourceFile, SourceMap
from .suggest import Suggester, did_you_mean

DataPath = tuple[PathItem, ...]
MERGE_KEYS = ("name", "service", "port")
"""The fields a list item is matched by, in order of preference (the first every base item has)."""
NAMESPACED = "namespace/name"
"""The merge key of a list whose names repeat in several namespaces (services: `httpbin` in `foo`
and in `bar`): an item is matched by its `namespace` and `name`, and an overlay item that gives no
`namespace` by a name only one base item has (several: MC241, as a bare reference is MC240)."""
PATCH = "$patch"
PATCHES = ("add", "delete", "merge")
BASE = -1
"""`Origin.file` of a value the base spec wrote."""


@dataclass(frozen=True, slots=True)
class Origin:
    file: int
    """The overlay's index, or BASE."""
    local: DataPath
    """The value's path inside that file."""


@dataclass(slots=True)
class Owners:
    """A trie over merged-data paths: the origin of each value an overlay wrote (and of base items
    a deletion moved); a path resolves through its deepest owned ancestor, else to the base."""

    origin: Origin | None = None
    children: dict[PathItem, Owners] = field(default_factory=dict)

    def at(self, path: DataPath) -> Owners:
        node = self
        for item in path:
            node = node.children.setdefault(item, Owners())
        return node


@dataclass(slots=True)
class OverlaySourceMap(SourceMap):
    """The base spec's source map, and where each overlaid value came from."""

    base: SourceMap | None = None
    overlays: list[SourceFile] = field(default_factory=list)
    owners: Owners = field(default_factory=lambda: Owners())
    """Merged-data path -> origin, for values an overlay wrote (and base items a deletion moved);
    a path resolves through its deepest entry, or to the base when it has none."""

    def position(self, path: Sequence[PathItem]) -> tuple[str, int, int]:
        origin = resolve(self.owners, tuple(path))
        assert self.base is not None
        if origin.file == BASE:
            return self.base.position(origin.local)
        source = self.overlays[origin.file]
        line, column = source.locate(origin.local)
        return (source.name, line, column)


def resolve(owners: Owners, path: DataPath) -> Origin:
    """Where the value at `path` of the merged data was written: its deepest owned ancestor's file."""
    found, depth = None, 0
    node: Owners | None = owners
    for i, item in enumerate(path):
        assert node is not None
        node = node.children.get(item)
        if node is None:
            break
        if node.origin is not None:
            found, depth = node.origin, i + 1
    if found is None:
        return Origin(BASE, path)
    return Origin(found.file, (*found.local, *path[depth:]))


def _diag(source: SourceFile, local: DataPath, code: str, message: str, hint: str | None) -> Diagnostic:
    line, column = source.locate(local)
    return Diagnostic(source.name, line, column, "error", code, message, hint)


def cue_overlay_refused(spec: str, overlay: str) -> SpecError:
    return SpecError(
        [
            Diagnostic(
                overlay,
                1,
                1,
                "error",
                "MC217",
                f"overlays apply to YAML specs; {spec} is a CUE spec",
                "CUE unifies files itself: put the environment's values in a .cue file of the package "
                "(or a second package that imports it) instead of --overlay",
            )
        ],
        usage=True,
    )


def load_overlay(path: str | Path) -> tuple[SourceFile, Any]:
    """The overlay file's data and source, with the loader's diagnostics for a broken file."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        hint = "check the path given to --overlay"
        raise SpecError(
            [Diagnostic(name, 1, 1, "error", "MC001", f"cannot read overlay: {exc.strerror}", hint)],
            usage=True,
        ) from None
    return overlay_source(name, raw)


def overlay_source(name: str, raw: bytes) -> tuple[SourceFile, Any]:
    """An overlay read from anywhere (a file, a git blob), parsed as the loader parses a spec."""
    text = read_text(raw, name)
    data = parse_fast(text)
    if data is not None:
        return SourceFile(name, text=text), data
    data, node = parse_yaml(text, name)
    return SourceFile(name, node, text), data


def apply_overlays(base: LoadedSpec, overlays: Sequence[tuple[SourceFile, Any]]) -> LoadedSpec:
    """`base` with each overlay merged onto it in turn; SpecError with every problem found."""
    if not overlays:
        return base
    source = OverlaySourceMap(files=base.source.files, base=base.source, overlays=[s for s, _ in overlays])
    data: Any = base.data
    errors: list[Diagnostic] = []
    for index, (file, overlay) in enumerate(overlays):
        if not isinstance(overlay, dict):
            errors.append(
                _diag(
                    file,
                    (),
                    "MC215",
                    "an overlay must be a mapping (the parts of the spec it changes)",
                    "write it like the spec: `spec:` with the services, gateways... to change",
                )
            )
            continue
        merger = _Merger(index, file, source.owners, errors)
        for key in ("apiVersion", "kind"):
            if key in overlay and overlay[key] != data.get(key):
                errors.append(
                    _diag(
                        file,
                        (key,),
                        "MC218",
                        f"an overlay cannot change '{key}' (the base says {data.get(key)!r})",
                        f"leave '{key}' out of the overlay",
                    )
                )
        data = merger.merge(
            data, {k: v for k, v in overlay.items() if k not in ("apiVersion", "kind")}, (), ()
        )
    if errors:
        raise SpecError(sorted(errors, key=lambda d: d.sort_key))
    return LoadedSpec(data, source)


class _Merger:
    def __init__(self, index: int, file: SourceFile, owners: Owners, errors: list[Diagnostic]):
        self.index = index
        self.file = file
        self.owners = owners
        self.errors = errors

    def own(self, path: DataPath, local: DataPath) -> None:
        """The value at `path` is now the overlay's, at `local` in it (nothing below is the base's)."""
        node = self.owners.at(path)
        node.origin = Origin(self.index, local)
        node.children.clear()

    def merge(self, base: Any, over: Any, path: DataPath, local: DataPath) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            if PATCH in over:
                self._misplaced_patch((*local, PATCH))
            out = dict(base)
            if len(path) >= 2 and isinstance(path[-1], str) and any(k != PATCH for k in over):
                # A field's mapping the overlay changes (a split, a selector) is the overlay's: a
                # finding about it as a whole (weights that do not sum to 100) points there; the
                # keys it keeps from the base still point into the base.
                kept = {k: resolve(self.owners, (*path, k)) for k in base if k not in over}
                self.own(path, local)
                for k, origin in kept.items():
                    self.owners.at((*path, k)).origin = origin
            for key, value in over.items():
                if key == PATCH:
                    continue
                if key in out:
                    out[key] = self.merge(out[key], value, (*path, key), (*local, key))
                else:
                    out[key] = value
                    self.own((*path, key), (*local, key))
            return out
        if isinstance(base, list) and isinstance(over, list):
            key = merge_key(base)
            if key is not None:
                return self._merge_list(base, over, key, path, local)
        self.own(path, local)
        return over

    def _misplaced_patch(self, local: DataPath) -> None:
        self.errors.append(
            _diag(
                self.file,
                local,
                "MC219",
                f"'{PATCH}' belongs on an item of a list merged by {', '.join(MERGE_KEYS)}",
                f"use `{PATCH}: add` or `{PATCH}: delete` on a list item (e.g. a service)",
            )
        )

    def _merge_list(
        self, base: list[Any], over: list[Any], key: str, path: DataPath, local: DataPath
    ) -> list[Any]:
        items = list(base)
        field = "name" if key == NAMESPACED else key
        at: dict[Any, int] = {_identity(item, key): i for i, item in enumerate(base)}
        deleted: set[int] = set()
        for j, item in enumerate(over):
            here = (*local, j)
            if not isinstance(item, dict) or field not in item:
                self.errors.append(
                    _diag(
                        self.file,
                        here,
                        "MC219",
                        f"this list is merged by '{field}': every overlay item needs a '{field}'",
                        f"name the item to change with `{field}:`",
                    )
                )
                continue
            patch = item.get(PATCH, "merge")
            body = {k: v for k, v in item.items() if k != PATCH}
            if patch not in PATCHES:
                self.errors.append(
                    _diag(
                        self.file,
                        (*here, PATCH),
                        "MC219",
                        f"unknown {PATCH} {patch!r}",
                        f"one of: {', '.join(PATCHES)} (merge is the default)",
                    )
                )
                continue
            identity = _identity(item, key)
            if key == NAMESPACED and "namespace" not in item:
                held = sorted(
                    ns or "the default"
                    for ns, name in at
                    if name == item["name"] and at[(ns, name)] not in deleted
                )
                if len(held) > 1:
                    self.errors.append(
                        _diag(
                            self.file,
                            (*here, "name"),
                            "MC241",
                            f"the base has several services named {item['name']!r} (namespaces"
                            f" {', '.join(held)}): this item does not say which (at {_shown(path)})",
                            "add `namespace:` to the item, as the base writes it",
                        )
                    )
                    continue
                identity = next(((ns, name) for ns, name in at if name == item["name"]), identity)
            i = at.get(identity)
            if i is None or i in deleted:
                if patch == "add":
                    at[identity] = len(items)
                    items.append(body)
                    self.own((*path, len(items) - 1), here)
                    continue
                suggestion = Suggester(_shown_identity(k) for k in at).suggest(_shown_identity(identity))
                self.errors.append(
                    _diag(
                        self.file,
                        (*here, key),
                        "MC216",
                        f"the base has no item with {field} {_shown_identity(identity)!r} here to {patch}"
                        f" (at {_shown(path)})",
                        did_you_mean(
                            suggestion,
                            f"to add it in this environment only, write `{PATCH}: add` on the item",
                        ),
                    )
                )
                continue
            if patch == "delete":
                deleted.add(i)
            else:
                items[i] = self.merge(items[i], body, (*path, i), here)
        if deleted:
            self._renumber(path, len(items), deleted)
            items = [item for i, item in enumerate(items) if i not in deleted]
        return items

    def _renumber(self, path: DataPath, count: int, deleted: set[int]) -> None:
        """Items after a deleted one move up: their origins move with them."""
        node = self.owners.at(path)
        moved: dict[PathItem, Owners] = {k: v for k, v in node.children.items() if not isinstance(k, int)}
        new = 0
        for old in range(count):
            if old in deleted:
                continue
            item = node.children.get(old, Owners())
            if old != new:  # where the item came from, owned by an overlay or not
                item = Owners(resolve(self.owners, (*path, old)), item.children)
            if item.origin is not None or item.children:
                moved[new] = item
            new += 1
        node.children = moved


def merge_key(items: list[Any]) -> str | None:
    """The key a list is merged by: the first of MERGE_KEYS that every item has, distinct."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in MERGE_KEYS:
        values = [item.get(key) for item in items]
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in values) and len(
            set(values)
        ) == len(values):
            return key
        if key == "name" and all(isinstance(v, str) for v in values):
            namespaces = [item.get("namespace") for item in items]
            pairs = set(zip(namespaces, values, strict=True))
            if all(ns is None or isinstance(ns, str) for ns in namespaces) and len(pairs) == len(items):
                return NAMESPACED
    return None


def _identity(item: dict[str, Any], key: str) -> Any:
    """What an item is matched by: its `key`, or (namespace, name) for NAMESPACED."""
    return (item.get("namespace"), item["name"]) if key == NAMESPACED else item[key]


def _shown_identity(identity: Any) -> str:
    if isinstance(identity, tuple):
        namespace, name = identity
        return f"{namespace}/{name}" if namespace is not None else str(name)
    return str(identity)


def _shown(path: DataPath) -> str:
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "the top level"
