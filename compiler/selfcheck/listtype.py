"""Unique list keys: ``x-kubernetes-list-type: map`` keys and ``set`` items, as the API server checks them.

Why: a CRD schema can declare a list to be a map keyed by some of its items' fields
(``x-kubernetes-list-type: map`` with ``x-kubernetes-list-map-keys``), or a set
(``x-kubernetes-list-type: set``). The API server rejects a custom resource in which two items
of such a list share a key (two ServiceEntry ports named ``a``, two WasmPlugin env entries of one
name) with ``Duplicate value``. JSON Schema cannot say this, so it is checked here, the way
k8s.io/apiextensions-apiserver ``pkg/apiserver/schema/listtype`` does:

- the walk follows ``properties``, ``additionalProperties`` and ``items`` only (not
  ``allOf``/``anyOf``/``oneOf``/``not``, which cannot carry list types in a structural schema);
- a ``set`` reports every item equal to an earlier one, once per distinct value, at the second
  occurrence (``spec.list[2]: Duplicate value: "a"``);
- a ``map`` compares the tuple of its key fields; an item without a key field (or a ``null``
  item) counts as "unspecified" for that field, so two such items are duplicates too. The
  message names the key, like the API server's (``Duplicate value: {"name":"a"}``).

Values are compared as the API server sees them after kubectl sends JSON: a boolean never equals
a number, and ``1`` equals ``1.0`` (both are the JSON number 1). Objects and lists compare by
content, key order ignored.

Speed: this runs for every resource of every compile. ``build_tree`` prunes a schema, once per
kind, to the branches that lead to a list type; a kind without any (most Istio kinds) gets no
tree and costs nothing. ``compile_tree`` turns the pruned tree into nested closures. A list
whose items are all distinct by Python's equality (which is coarser than the API server's) is
accepted after one ``set()``; only a suspected duplicate takes the exact path.

Core kinds: the API server does *not* run this check for built-in kinds, whatever their OpenAPI
says (see ``core_unique.py`` for what it checks instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from meshc.spec.source import PathItem

from .paths import format_path

# check(value, path, out): append (path, message) for every problem in ``value`` to ``out``.
NodeCheck = Callable[[Any, tuple[PathItem, ...], list[tuple[str, str]]], None]


@dataclass
class UniqueNode:
    """A schema node on the way to uniqueness checks; ``checks`` run on the value at this node."""

    checks: list[NodeCheck] = field(default_factory=list)
    props: dict[str, UniqueNode] = field(default_factory=dict)
    items: UniqueNode | None = None
    addl: UniqueNode | None = None

    def empty(self) -> bool:
        return not self.checks and not self.props and self.items is None and self.addl is None


def walk(node: UniqueNode, value: Any, path: tuple[PathItem, ...], out: list[tuple[str, str]]) -> None:
    """Run the checks of ``node`` and its descendants on ``value`` (found at ``path``).
    The plain interpretation of the tree; ``compile_tree`` makes a faster equivalent."""
    for check in node.checks:
        check(value, path, out)
    if isinstance(value, dict):
        for name, child in node.props.items():
            sub = value.get(name)
            if sub is not None:
                walk(child, sub, (*path, name), out)
        if node.addl is not None:
            for key, sub in value.items():
                if sub is not None:
                    walk(node.addl, sub, (*path, key), out)
    elif isinstance(value, list) and node.items is not None:
        for i, sub in enumerate(value):
            if sub is not None:
                walk(node.items, sub, (*path, i), out)


def compile_tree(node: UniqueNode) -> NodeCheck:
    """A function doing what ``walk(node, ...)`` does, with the tree's shape built in.

    Why: it runs for every resource of its kind. A chain of single-property nodes without
    checks (``spec.template.spec`` in a Deployment) becomes one loop of dict lookups, and a
    path tuple is built only where a check or a fan-out (list items, map values) needs it."""
    chain: list[str] = []
    while not node.checks and len(node.props) == 1 and node.items is None and node.addl is None:
        ((name, node),) = node.props.items()
        chain.append(name)
    inner = _compile_node(node)
    if not chain:
        return inner
    steps = tuple(chain)

    def follow(value: Any, path: tuple[PathItem, ...], out: list[tuple[str, str]]) -> None:
        for name in steps:
            if not isinstance(value, dict):
                return
            value = value.get(name)
            if value is None:
                return
        inner(value, (*path, *steps), out)

    return follow


def _compile_node(node: UniqueNode) -> NodeCheck:
    checks = tuple(node.checks)
    props = tuple((name, compile_tree(child)) for name, child in node.props.items())
    items = compile_tree(node.items) if node.items is not None else None
    addl = compile_tree(node.addl) if node.addl is not None else None
    if len(checks) == 1 and not props and items is None and addl is None:
        return checks[0]  # a leaf with one check: call it directly

    def run(value: Any, path: tuple[PathItem, ...], out: list[tuple[str, str]]) -> None:
        for check in checks:
            check(value, path, out)
        if isinstance(value, dict):
            for name, child in props:
                sub = value.get(name)
                if sub is not None:
                    child(sub, (*path, name), out)
            if addl is not None:
                for key, sub in value.items():
                    if sub is not None:
                        addl(sub, (*path, key), out)
        elif items is not None and isinstance(value, list):
            for i, sub in enumerate(value):
                if sub is not None:
                    items(sub, (*path, i), out)

    return run


# ---------------------------------------------------------------------------------------------
# Comparing values like the API server
# ---------------------------------------------------------------------------------------------


class _Unspecified:
    """The key of an item that lacks a key field: equal only to another such key."""

    def __repr__(self) -> str:
        return "<unspecified>"


_UNSPECIFIED = _Unspecified()


def _json_number_form(value: Any) -> Any:
    """``value`` with integral floats made ints: kubectl sends 1.0 as the JSON number 1."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _json_number_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_number_form(v) for v in value]
    return value


def exact_key(value: Any) -> Any:
    """A hashable key equal for two values exactly when the API server finds them equal.

    Scalars keep their JSON type (``True`` is not ``1``); objects and lists compare by their
    canonical JSON, as ``json.Marshal`` (sorted map keys) does in the API server."""
    if value is _UNSPECIFIED:
        return value
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # Python: 1 == 1.0, and the API server sees both as 1
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    try:
        return ("json", orjson.dumps(_json_number_form(value), option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return ("python", repr(value))  # not JSON at all: the schema check reports it


def _render(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return repr(value)


def repeated_indices(values: Sequence[Any]) -> list[int]:
    """Indices of the second occurrence of each value that occurs more than once, in order
    (``validateListSet``). Fast when nothing repeats."""
    if len(values) < 2:
        return []
    try:
        if len(set(values)) == len(values):
            return []  # distinct even by Python's coarser equality, so distinct for the API server
    except TypeError:  # an unhashable value (object or list): compare exactly
        pass
    counts: dict[Any, int] = {}
    out: list[int] = []
    for i, v in enumerate(values):
        k = exact_key(v)
        seen = counts.get(k, 0)
        counts[k] = seen + 1
        if seen == 1:
            out.append(i)
    return out


def set_check(items: Any, path: tuple[PathItem, ...], out: list[tuple[str, str]]) -> None:
    """``x-kubernetes-list-type: set``: no two items equal."""
    if type(items) is not list or len(items) < 2:
        return
    for i in repeated_indices(items):
        out.append((format_path((*path, i)), f"Duplicate value: {_render(items[i])}"))


def map_check(keys: Sequence[str]) -> NodeCheck:
    """``x-kubernetes-list-type: map``: no two items with equal values of all ``keys``."""
    key_fields = tuple(keys)
    key_of = itemgetter(*key_fields)  # one key: the value; several: a tuple of values

    def check(items: Any, path: tuple[PathItem, ...], out: list[tuple[str, str]]) -> None:
        if not isinstance(items, list) or len(items) < 2:
            return
        try:
            # The common case: every item an object with every key, the keys distinct (by
            # Python's equality, which is coarser than the API server's: distinct here is
            # distinct there).
            found = list(map(key_of, items))
            if len(set(found)) == len(found):
                return
        except (KeyError, TypeError):  # a missing key, an item that is not an object, unhashable
            pass
        if any(x is not None and not isinstance(x, dict) for x in items):
            return  # items must be objects; the schema check reports the ones that are not
        if len(key_fields) == 1:
            name = key_fields[0]
            tuples: list[Any] = [_UNSPECIFIED if x is None else x.get(name, _UNSPECIFIED) for x in items]
        else:
            tuples = [
                tuple(_UNSPECIFIED if x is None else x.get(k, _UNSPECIFIED) for k in key_fields)
                for x in items
            ]
        for i in _repeated_tuples(tuples, len(key_fields) == 1):
            x = items[i] or {}
            shown = {k: x[k] for k in key_fields if k in x}
            out.append((format_path((*path, i)), f"Duplicate value: {_render(shown)}"))

    return check


def _repeated_tuples(tuples: list[Any], single: bool) -> list[int]:
    if single:
        return repeated_indices(tuples)
    try:
        if len(set(tuples)) == len(tuples):
            return []
    except TypeError:
        pass
    exact = [tuple(exact_key(v) for v in t) for t in tuples]
    return repeated_indices(exact)


# ---------------------------------------------------------------------------------------------
# CRD structural schemas
# ---------------------------------------------------------------------------------------------


def node_check(s: Mapping[str, Any]) -> NodeCheck | None:
    """The check a structural schema node's ``x-kubernetes-list-type`` asks for, if any.
    ``atomic`` (and no list type) means any items, duplicates included."""
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        return set_check
    if list_type == "map":
        keys = s.get("x-kubernetes-list-map-keys") or []
        if keys:
            return map_check(keys)
    return None


def build_tree(s: Mapping[str, Any]) -> UniqueNode | None:
    """The pruned tree of a CRD's structural schema, or None if it declares no set/map list."""
    node = UniqueNode()
    check = node_check(s)
    if check is not None:
        node.checks.append(check)
    for name, sub in sorted((s.get("properties") or {}).items()):
        if isinstance(sub, Mapping) and (child := build_tree(sub)) is not None:
            node.props[name] = child
    items = s.get("items")
    if isinstance(items, Mapping):
        node.items = build_tree(items)
    addl = s.get("additionalProperties")
    if isinstance(addl, Mapping):
        node.addl = build_tree(addl)
    return None if node.empty() else node
