"""The emitter writes YAML that reads back to exactly the data, and writes directories atomically."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshc.compiler import emit
from meshc.compiler.emit import MARKER, OutputError, dump_stream, write_tree
from meshc.compiler.lower.common import Manifest

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: math.isfinite(f))
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "true",
            "no",
            "on",
            "null",
            "~",
            "1e3",
            "0x1F",
            "1_000",
            "12s",
            "1:30",
            "*",
            "&a",
            "- x",
            "a: b",
            "#c",
            "",
            " lead",
            "trail ",
            "@x",
            "!tag",
            "%p",
            "'q'",
            '"d"',
            "2024-01-01",
            "0o17",
            ".inf",
            "-.5",
            "+1",
            "y",
            "N",
            "\u0085",
            "a \u2028b",  # a reader folds the break and drops the space before it
            "a \u2029b",
            "x \u0085 y",
            "é",
            "\t",
            "line\nbreak",
            "{}",
            "[]",
        ]
    )
)
keys = (
    st.text(min_size=1, max_size=12)
    | st.sampled_from(["on", "y", "1", "a.b/c", "@request.auth.claims.x", "k \u2028x"])
    | st.integers(1000, 3000).map(lambda n: "k" * n)  # readers refuse implicit keys over 1024
)
data = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)


# Both emitters: the Python reference and the native walk (compiler/_emitc.c) where it is built
# (tests/test_emit_native.py fails under CI when it is not).
EMITTERS = [
    pytest.param(emit.dump_python, id="python"),
    pytest.param(
        emit.dump_native,
        id="native",
        marks=pytest.mark.skipif(emit.dump_native is None, reason="the C extension is not built"),
    ),
]


@pytest.mark.parametrize("emitter", EMITTERS)
@settings(max_examples=400, deadline=None)
@given(value=st.dictionaries(keys, data, max_size=5))
def test_round_trip(emitter, value):
    text = emitter(value)
    assert yaml.safe_load(text) == (value or {})
    assert yaml.load(text, Loader=yaml.CSafeLoader) == (value or {})  # libyaml, as kubectl-like tools


shapes = st.lists(st.sampled_from(["a", "b", "on", "k" * 1100, "c"]), min_size=0, max_size=5, unique=True)


@pytest.mark.parametrize("emitter", EMITTERS)
@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        shapes.flatmap(lambda ks: st.fixed_dictionaries({k: data for k in ks})), min_size=2, max_size=5
    )
)
def test_the_key_order_cache_never_changes_the_text(emitter, values):
    """Mappings of one shape share a cached key order (emit._key_orders): the text of each value is
    the same whether the cache was empty or warmed by the others."""
    cold = []
    for value in values:
        emit._key_orders.clear()
        cold.append(emitter(value))
    emit._key_orders.clear()
    warm = [emitter(value) for value in values]
    assert warm == cold
    assert [yaml.safe_load(t) for t in warm] == [v or {} for v in values]


@pytest.mark.parametrize("emitter", EMITTERS)
def test_keys_equal_but_not_strings_are_not_mixed_up(emitter):
    """1 == True in Python, so {1: x} and {True: x} have equal shapes; only all-string shapes are
    cached, so each is written as itself."""
    assert emitter({"m": {1: "x"}}) == 'm:\n  "1": x\n'
    assert emitter({"m": {True: "x"}}) == 'm:\n  "True": x\n'
    assert emitter({"m": {1: "x"}}) == 'm:\n  "1": x\n'


@pytest.mark.parametrize("emitter", EMITTERS)
def test_canonical_key_order_and_style(emitter):
    text = emitter({"spec": {"b": 1, "a": [{"y": "2", "x": "*"}]}, "kind": "X", "apiVersion": "v1"})
    assert text == 'apiVersion: v1\nkind: X\nspec:\n  a:\n    - x: "*"\n      "y": "2"\n  b: 1\n'


def manifests(n: int) -> list[Manifest]:
    return [
        Manifest(
            "ConfigMap",
            "ns",
            f"cm-{i}",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}},
        )
        for i in range(n)
    ]


def test_stream_has_document_separators():
    text = dump_stream(manifests(3))
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(text)] == ["cm-0", "cm-1", "cm-2"]


def test_write_tree_replaces_previous_output(tmp_path):
    out = tmp_path / "out"
    write_tree(manifests(3), out)
    write_tree(manifests(1), out)
    assert sorted(p.name for p in out.rglob("*.yaml")) == ["configmap-cm-0.yaml"]
    assert (out / MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging leftovers


def test_failed_write_leaves_previous_output_untouched(tmp_path):
    out = tmp_path / "out"
    write_tree(manifests(2), out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def exploding():
        yield from manifests(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_tree(exploding(), out)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    precious = tmp_path / "src"
    precious.mkdir()
    (precious / "main.py").write_text("print('hi')\n")
    with pytest.raises(OutputError, match="not written by meshc"):
        write_tree(manifests(1), precious)
    assert (precious / "main.py").exists()


def test_unwritable_parent_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_tree(manifests(1), blocker / "out")


def test_layout_for_cluster_scoped_and_clustered(tmp_path: Path):
    ns = Manifest(
        "Namespace", None, "shop", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    )
    clustered = Manifest(
        "Service", "shop", "a", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}, "east"
    )
    write_tree([ns, clustered], tmp_path / "o")
    assert (tmp_path / "o" / "shop" / "namespace-shop.yaml").is_file()
    assert (tmp_path / "o" / "east" / "shop" / "service-a.yaml").is_file()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_json_string_encoder_is_json_dumps(value):
    """emit._string quotes with json's C string encoder directly: the text of json.dumps for a str."""
    import json

    assert emit._json_string(value) == json.dumps(value, ensure_ascii=False)


_NAMES = st.text("abcXY-.0", min_size=1, max_size=6)


@given(
    st.lists(
        st.builds(
            Manifest,
            st.sampled_from(["Namespace", "Deployment", "VirtualService", "PodMonitor"]),
            st.none() | _NAMES,
            _NAMES,
            st.just({}),
            st.none() | st.just("") | _NAMES,
        ),
        max_size=8,
    )
)
def test_relative_paths_are_each_manifests_relative_path(manifests: list[Manifest]) -> None:
    """The inlined paths of a whole tree (`relative_paths`) are `relative_path`'s, cluster or not."""
    assert emit.relative_paths(manifests) == [emit.relative_path(m) for m in manifests]
