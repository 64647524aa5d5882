"""The native walk of the emitter (compiler/_emitc.c) writes exactly the Python emitter's text.

`emit.dump_python` is the reference; `emit.dump_native` is the C extension built by `pip install -e .`
(and into the wheel). Both share one definition of the quoting rules (emit's `_string`, `_scalar`,
`_key_order` and their caches), so these tests check the layout, the shared-subtree and explicit-key
paths, errors, deep nesting and reference counting. Under CI (`CI=true`) a missing extension is a
failure, not a skip: a fresh clone's `make setup` must build it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import sys
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from meshc.compiler import emit, sharedtext

native = emit.dump_native
needs_native = pytest.mark.skipif(
    native is None and os.environ.get("CI") != "true",
    reason="the C extension is not built here (pip install -e . builds it)",
)


def test_the_extension_is_built_and_used_under_ci() -> None:
    if os.environ.get("CI") != "true":
        pytest.skip("only required under CI (CI=true)")
    assert native is not None, "meshc.compiler._emitc is not built: `pip install -e .` must build it"
    assert emit.dump is native


def test_meshc_pure_python_forces_the_python_emitter() -> None:
    code = "from meshc.compiler import emit; print(emit.dump is emit.dump_python, emit.dump_native)"
    env = {**os.environ, "MESHC_PURE_PYTHON": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "None"]


def _check_manifests(spec: Path) -> None:
    from meshc.compiler.pipeline import run

    assert native is not None
    bodies = [m.body for m in run(spec).manifests]
    _clear()
    assert [native(b) for b in bodies] == [emit.dump_python(b) for b in bodies]  # native cold
    _clear()
    reference = [emit.dump_python(b) for b in bodies]
    assert [native(b) for b in bodies] == reference  # native on caches Python warmed


@needs_native
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_renders_the_same(example: str) -> None:
    """The goldens (tests/test_examples.py) check `emit.dump`, the native walk where it is built;
    here the Python reference writes the same text for every manifest, so it matches them too
    (shop has manual injection: the shared sidecar subtrees of sharedtext.SHARED)."""
    _check_manifests(REPO / "examples" / example / "mesh.yaml")


@needs_native
def test_a_synthetic_mesh_in_manual_injection_mode_renders_the_same(tmp_path: Path) -> None:
    from bench.synthetic import write_spec

    _check_manifests(write_spec(40, tmp_path / "mesh.yaml", manual=True, slo=True, dashboards=True))


def _clear() -> None:
    emit._scalar_cache.clear()
    emit._key_orders.clear()


strings = st.text(max_size=20) | st.sampled_from(
    [
        "true",
        "No",
        "on",
        "null",
        "~",
        "1e3",
        "0x1F",
        "12s",
        "1.5Gi",
        "/path/x",
        "*",
        "&a",
        "- x",
        "a: b",
        "#c",
        "",
        " lead",
        "\x00\x07\x1b",
        "\x7f\x85\x9f",
        "a \u2028b",
        "\u2029",
        "\ufeff\ufffe\uffff",
        "\ud800",
        "é ñ 中文 🙂",
        "\t",
        "line\nbreak",
        "{}",
        "[]",
        "x" * 300,
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e300, -0.0, 5e-324, 1.5e20, 2.0**64])
    | strings
)
keys = (
    strings.filter(bool)
    | st.sampled_from(["on", "y", "1", "a.b/c", "@request.auth.claims.x", "k \u2028x", "é" * 600])
    | st.integers(1000, 3000).map(lambda n: "k" * n)  # explicit `? key` form
)
data = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)
documents = st.dictionaries(keys, data, max_size=6)


def _both(value: dict[str, Any]) -> tuple[str, str]:
    assert native is not None
    _clear()
    reference = emit.dump_python(value)
    _clear()
    cold = native(value)
    warm = native(value)  # caches filled by the native walk's own calls
    assert cold == warm
    return reference, cold


@needs_native
@settings(max_examples=500, deadline=None)
@given(documents)
def test_native_text_is_the_python_text(value: dict[str, Any]) -> None:
    reference, text = _both(value)
    assert text == reference


@needs_native
@settings(max_examples=200, deadline=None)
@given(st.lists(documents, min_size=2, max_size=4))
def test_caches_warmed_by_either_walk_give_the_same_text(values: list[dict[str, Any]]) -> None:
    assert native is not None
    _clear()
    reference = [emit.dump_python(v) for v in values]
    assert [native(v) for v in values] == reference  # caches warmed by Python
    _clear()
    assert [native(v) for v in values] == reference
    assert [emit.dump_python(v) for v in values] == reference  # caches warmed natively


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(keys, data, min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(st.lists(data, min_size=1, max_size=3), min_size=1, max_size=2),
)
def test_shared_subtrees_give_the_same_text(mappings: list[dict[str, Any]], seqs: list[list[Any]]) -> None:
    """Registered subtrees (sharedtext.SHARED) at several depths and positions: rendered once per
    first-line prefix by whichever walk meets them first, reused by both."""
    assert native is not None
    pieces: list[Any] = [*mappings, *seqs]
    doc = {
        "top": pieces[0],
        "deep": {"list": [*pieces, [pieces[-1]], {"again": pieces[0]}]},
        "also": pieces,
        "k" * 1100: pieces[-1],  # an explicit key's value is not looked up as shared
    }
    saved = dict(sharedtext.SHARED)
    sharedtext.SHARED.clear()
    try:
        _clear()
        fresh = emit.dump_python(doc)
        for piece in pieces:
            sharedtext.share(piece)
        assert native(doc) == fresh  # native renders and remembers
        assert native(doc) == fresh  # native reuses
        assert emit.dump_python(doc) == fresh  # Python reuses native's text
        for entry in sharedtext.SHARED.values():
            entry[1].clear()
        assert emit.dump_python(doc) == fresh
        assert native(doc) == fresh  # native reuses Python's text
    finally:
        sharedtext.SHARED.clear()
        sharedtext.SHARED.update(saved)


class MyStr(str):
    pass


class MyInt(int):
    def __str__(self) -> str:
        return "my-int"


class MyFloat(float):
    pass


def _outcome(dump: Any, value: Any) -> tuple[str, str]:
    try:
        return "ok", dump(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _stable_id(value: Any) -> str:
    """A test id the same in every process (`pytest -n` workers must collect the same tests):
    no object addresses, and short."""
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(value))
    return text if len(text) <= 60 else f"{text[:50]}...({len(text)} chars)"


@needs_native
@pytest.mark.parametrize(
    "value",
    [
        {"a": object()},
        {"a": [1, {2, 3}]},
        {"a": (1, 2)},
        {"a": b"bytes"},
        {"a": Decimal("1.5")},
        {"a": math.inf},
        {"a": math.nan},
        {"a": MyStr("x")},
        {"a": MyInt(3)},
        {"a": MyFloat(2.5)},
        {"a": OrderedDict(b=1)},  # not exactly a dict: emit._scalar writes {}
        {"a": OrderedDict()},
        {"a": {"k" * 1200: object()}},
        {1: "int key", 2: "x"},
        {True: "bool key"},
        {1: "keys that cannot be sorted", "b": 2},
        {None: "none key"},
        {("t",): "tuple key"},
        {"a": [[], {}, [[]], [{}]]},
        OrderedDict(b=1, a=2),
        {},
    ],
    ids=lambda value: _stable_id(value),
)
def test_odd_values_and_errors_are_those_of_the_python_emitter(value: Any) -> None:
    _clear()
    expected = _outcome(emit.dump_python, value)
    _clear()
    assert _outcome(native, value) == expected


@needs_native
def test_unsupported_values_raise_the_same_type_error() -> None:
    assert native is not None
    with pytest.raises(TypeError, match=r"^cannot emit object$"):
        native({"metadata": {"name": object()}})
    with pytest.raises(TypeError, match=r"^cannot emit set$"):
        native({"a": [{"b": [{1}]}]})


@needs_native
@pytest.mark.parametrize("kind", ["dict", "list", "mixed"])
def test_deep_nesting_is_a_recursion_error_not_a_crash(kind: str) -> None:
    assert native is not None
    value: Any = "leaf"
    for i in range(200_000):
        value = {"k": value} if kind == "dict" or (kind == "mixed" and i % 2) else [value]
    with pytest.raises(RecursionError):
        native({"root": value})
    with pytest.raises(RecursionError):
        emit.dump_python({"root": value})
    shallow: Any = "leaf"
    for _ in range(200):
        shallow = {"k": [shallow]}
    assert native({"root": shallow}) == emit.dump_python({"root": shallow})


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _containers(value: Any) -> list[Any]:
    found = [value]
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, dict | list):
            found += _containers(item)
    return found


@needs_native
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_no_leaks_over_many_dumps() -> None:
    """300,000 dumps through every path (cached and uncached key orders, scalar cache hits and
    misses, shared subtrees, the explicit form, errors half-way through): the process's memory
    stays flat and no object the dumps read gains a reference. Leaking one small object per dump
    would add several MiB."""
    assert native is not None
    shared = sharedtext.share({"shared": ["a", "b", {"c": 1.5}]})
    good = {
        "apiVersion": "v1",
        "metadata": {"name": "x", "labels": {"app": "x-y", "on": "yes"}},
        "spec": {"list": [shared, [1, None, True], {}, [], 10**30], "k" * 1100: {"v": "\u2028"}},
        "other": {1: "int keys", 2: "are not cached"},
        "shared": shared,
    }
    bad = {"metadata": {"name": "x"}, "spec": {"list": [1, 2, {"z": object()}]}}
    counts = [sys.getrefcount(c) for c in (*_containers(good), *_containers(bad))]
    saved = dict(emit._scalar_cache)

    def run(n: int) -> None:
        for i in range(n):
            native(good)
            if not i % 4:
                with contextlib.suppress(TypeError):
                    native(bad)

    try:
        # A full scalar cache: "x-y", "yes" and the other strings miss it on every dump.
        emit._scalar_cache.clear()
        emit._scalar_cache.update((f"filler-{i}", f"filler-{i}") for i in range(200_000))
        run(50_000)  # caches, allocator pools and the buffer reach their sizes
        before = _rss_kib()
        run(250_000)
        grown = _rss_kib() - before
        after = [sys.getrefcount(c) for c in (*_containers(good), *_containers(bad))]
    finally:
        sharedtext.SHARED.pop(id(shared), None)
        emit._scalar_cache.clear()
        emit._scalar_cache.update(saved)
    assert grown < 2048, f"RSS grew by {grown} KiB over 250,000 dumps"
    assert after == counts
