"""Structural mutation of plain spec data, driven by a `random.Random` (so a seed replays a case).

Each mutation picks a random place in the document (a mapping entry or a list item) and does one
of the things the issue's fuzzer did: delete, duplicate or retype a key, write an extreme number,
unicode or control characters, a very long name, deep nesting or a long list. Names are drawn from
the document itself half of the time, so that mutations produce collisions and references that
resolve, not only unknown names.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

Path = tuple[Any, ...]
Mutation = Callable[[Any, Path, random.Random], Any]

EXTREME_NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1,
    65535,
    65536,
    2**31,
    2**63,
    -(2**63),
    10**30,
    0.5,
    -0.0,
    1e308,
    1e-308,
    100.0001,
    True,
    False,
)
ODD_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "*",
    "/",
    "-",
    ".",
    "..",
    "~",
    "null",
    "yes",
    "on",
    "0",
    "0x1f",
    "1e3",
    "10s",
    "10",
    "a/b",
    "a b",
    "*.example.com",
    "canary/x",
    "refs/heads/x",
    "@",
    "a:b",
    "#x",
    "- x",
    "? x",
    "!!str x",
    "&a",
    "*a",
    "\u2028",
    "a\u2029b",
    "a \u2028b",
    "x\u0085y",
    "\x1b[31mred\x1b[0m",
    "bell\x07",
    "cr\rlf\n",
    "tab\tx",
    "file.yaml:1:1: error MC999: forged",
    "\u202eevil",
    "\ufeffbom",
    "\U0001f600",
    "é",
    "İ",
    "ß",
    "\x7f",
    "\x9b",
    "\ufffe",
    "'",
    '"',
    "\\",
    "{{x}}",
    "${HOME}",
    "a" * 64,
    "a" * 254,
)
NAME_LIKE: tuple[str, ...] = (
    "a",
    "b",
    "a-b",
    "b-c",
    "c",
    "web",
    "api",
    "default",
    "default-deny",
    "istio-system",
    "v1",
    "v2",
    "kube-system",
    "reviews",
    "productpage",
    "x" * 63,
    "x" * 64,
    "-a",
    "a-",
    "A",
    "a_b",
    "a.b",
)


def mutate(data: Any, rng: random.Random, count: int = 1) -> Any:
    """A deep copy of `data` with `count` random mutations applied."""
    result = copy.deepcopy(data)
    for _ in range(count):
        mutation = rng.choice(MUTATIONS)
        before = copy.deepcopy(result)
        try:
            result = mutate_once(result, rng, mutation)
        except (TypeError, KeyError, IndexError):  # a place an earlier mutation reshaped: skip it
            result = before
        if _size(result) > MAX_NODES:  # grown past a spec under ~1 MB: keep the smaller one
            result = before
        if mutation is deep_nesting:  # last: copying and walking it again would recurse too deep
            break
    return result


MAX_NODES = 60_000
"""Mutations that grow a document beyond this many nodes are undone (long lists of long lists)."""


def _size(data: Any) -> int:
    count, stack = 0, [data]
    while stack and count <= MAX_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
            count += sum(len(k) // 64 for k in node if isinstance(k, str))
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            count += len(node) // 64
    return count


def mutate_once(data: Any, rng: random.Random, mutation: Mutation) -> Any:
    places = list(_places(data, ()))
    if not places:
        return data
    return mutation(data, rng.choice(places), rng)


def _places(node: Any, path: Path) -> Any:
    if isinstance(node, dict):
        for key in node:
            yield (*path, key)
            yield from _places(node[key], (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield (*path, i)
            yield from _places(item, (*path, i))


def _parent(data: Any, path: Path) -> Any:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


def _get(data: Any, path: Path) -> Any:
    return _parent(data, path)[path[-1]]


def _set(data: Any, path: Path, value: Any) -> Any:
    _parent(data, path)[path[-1]] = value
    return data


def _strings(data: Any) -> list[str]:
    found: list[str] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.extend(k for k in node if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and len(node) < 80:
            found.append(node)
    return sorted(set(found))


def delete(data: Any, path: Path, rng: random.Random) -> Any:
    del _parent(data, path)[path[-1]]
    return data


def duplicate(data: Any, path: Path, rng: random.Random) -> Any:
    """A list item twice, or a mapping entry copied under another key of the document."""
    parent = _parent(data, path)
    if isinstance(parent, list):
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
    else:
        parent[rng.choice(_strings(data) or ["x"])] = copy.deepcopy(parent[path[-1]])
    return data


def retype(data: Any, path: Path, rng: random.Random) -> Any:
    value = _get(data, path)
    choices: list[Any] = [None, "text", 7, 2.5, True, [], {}, [value], {"value": value}]
    if isinstance(value, str) and value.isdigit():
        choices.append(int(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        choices.append(str(value))
    return _set(data, path, rng.choice(choices))


def rename_key(data: Any, path: Path, rng: random.Random) -> Any:
    parent = _parent(data, path)
    if not isinstance(parent, dict):
        return retype(data, path, rng)
    key = path[-1]
    new = rng.choice(
        [
            key.upper() if isinstance(key, str) else "X",
            f"{key}s",
            str(key)[:-1] or "k",
            rng.choice(ODD_STRINGS),
        ]
    )
    parent[new] = parent.pop(key)
    return data


def extreme_number(data: Any, path: Path, rng: random.Random) -> Any:
    return _set(data, path, rng.choice(EXTREME_NUMBERS))


def odd_string(data: Any, path: Path, rng: random.Random) -> Any:
    value = _get(data, path)
    odd = rng.choice(ODD_STRINGS)
    if isinstance(value, str) and rng.random() < 0.5:
        cut = rng.randrange(len(value) + 1)
        odd = value[:cut] + odd + value[cut:]
    return _set(data, path, odd)


def document_name(data: Any, path: Path, rng: random.Random) -> Any:
    """A name used elsewhere in the document (collisions, references that resolve elsewhere)."""
    pool = _strings(data) + list(NAME_LIKE)
    return _set(data, path, rng.choice(pool))


def long_name(data: Any, path: Path, rng: random.Random) -> Any:
    length = rng.choice([64, 254, 1025, 5000])
    value = _get(data, path)
    base = value if isinstance(value, str) and value else "n"
    parent = _parent(data, path)
    if isinstance(parent, dict) and rng.random() < 0.3:  # a long key instead of a long value
        parent[(base * length)[:length]] = parent.pop(path[-1])
        return data
    return _set(data, path, (base * length)[:length])


def deep_nesting(data: Any, path: Path, rng: random.Random) -> Any:
    depth = rng.choice([50, 200, 500, 800, 999, 1200])
    value = _get(data, path)
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return _set(data, path, value)


def long_list(data: Any, path: Path, rng: random.Random) -> Any:
    """A list grown to hundreds of items: copies (duplicates) or copies with numbered names."""
    parent = _parent(data, path)
    if not isinstance(parent, list):
        return _set(data, path, [_get(data, path)] * rng.choice([100, 1000]))
    item = parent[path[-1]]
    count = rng.choice([50, 300, 1500])
    numbered = rng.random() < 0.7 and isinstance(item, dict) and isinstance(item.get("name"), str)
    for i in range(count):
        copy_ = copy.deepcopy(item)
        if numbered:
            copy_["name"] = f"{copy_['name']}-{i}"
        parent.append(copy_)
    return data


def swap_values(data: Any, path: Path, rng: random.Random) -> Any:
    other = rng.choice(list(_places(data, ())))
    if other[: len(path)] == path or path[: len(other)] == other:
        return data
    a, b = copy.deepcopy(_get(data, path)), copy.deepcopy(_get(data, other))
    _set(data, path, b)
    return _set(data, other, a)


MUTATIONS: tuple[Mutation, ...] = (
    delete,
    duplicate,
    retype,
    rename_key,
    extreme_number,
    odd_string,
    odd_string,
    document_name,
    document_name,
    long_name,
    deep_nesting,
    long_list,
    swap_values,
)


TAGS = (
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!binary",
    "!!set",
    "!custom",
    "!!omap",
    "!!str",
    "!!int",
)


def mutate_text(text: str, rng: random.Random) -> str:
    """Text-level mutations the data cannot express: tags, raw control characters, truncation."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = rng.randrange(len(lines))
    line = lines[i]
    choice = rng.randrange(4)
    if choice == 0 and ": " in line:  # a tag on a value (a scalar, or the list/map below it)
        head, _, tail = line.partition(": ")
        lines[i] = f"{head}: {rng.choice(TAGS)} {tail}"
    elif choice == 1 and line.rstrip().endswith(":"):
        lines[i] = f"{line.rstrip()} {rng.choice(TAGS)}\n"
    elif choice == 2:
        at = rng.randrange(len(line) + 1)
        lines[i] = (
            line[:at] + rng.choice(["\x1b", "\x07", "\r", "\u2028", "\x00", "\t", "\ufeff"]) + line[at:]
        )
    else:
        return "".join(lines)[: rng.randrange(len(text) + 1)]
    return "".join(lines)
