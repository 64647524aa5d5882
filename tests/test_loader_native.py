"""The native check of the loader's fast path (mesh_spec/_loadc.c) answers exactly as the Python
walk (`loader._plain`, the reference and the fallback), on generated data of every shape the fast
parser can hand it and many it cannot."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshc.spec import loader

REPO = Path(__file__).resolve().parent.parent
native = loader._native_plain()
needs_native = pytest.mark.skipif(
    native is None and os.environ.get("CI") != "true",
    reason="the C extension is not built here (pip install -e . builds it)",
)


class Text(str):
    """A str subclass: not plain (exact types only)."""


def test_the_extension_is_built_and_used_under_ci() -> None:
    if os.environ.get("CI") != "true":
        pytest.skip("only required under CI (CI=true)")
    assert native is not None, "meshc.spec._loadc is not built: `pip install -e .` must build it"
    assert loader._PLAIN is not loader._plain


def test_meshc_pure_python_forces_the_python_check() -> None:
    code = "from meshc.spec import loader; print(loader._PLAIN is loader._plain)"
    env = {**os.environ, "MESHC_PURE_PYTHON": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from([Text("x"), b"bytes", (1, 2), 1j, math.inf, -math.inf, math.nan, 0.5]),
)
keys = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.booleans(), st.none(), st.just(1.5))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.tuples(inner),
    ),
    max_leaves=30,
)


@needs_native
@settings(max_examples=600, deadline=None)
@given(st.one_of(values, st.dictionaries(st.text(max_size=3), values, max_size=5)))
def test_native_and_python_agree(value: Any) -> None:
    assert native is not None
    assert native(value) == loader._plain(value)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": [value]} if depth % 2 else {"k": value}
    return value


@needs_native
@pytest.mark.parametrize("depth", [1, loader.MAX_DEPTH - 1, loader.MAX_DEPTH, loader.MAX_DEPTH + 1, 500])
def test_the_depth_limit_is_the_same(depth: int) -> None:
    assert native is not None
    value = _nested(depth)
    assert native(value) == loader._plain(value)
    assert loader._plain(_nested(2))


# --- the careful-path tokens ------------------------------------------------------------------------

careful_native = loader._native_careful()
token_texts = st.text(
    alphabet=st.sampled_from(
        [*"&*!?<:ab -[]{},\n\t\r", "\x85", "\xa0", "\u2028", "\x1c", "\u3000", "é", "\U0001f600"]
    ),
    max_size=24,
)


@needs_native
@settings(max_examples=3000, deadline=None)
@given(token_texts)
def test_native_careful_path_check_agrees_with_the_expression(text: str) -> None:
    assert careful_native is not None
    assert careful_native(text) == loader._needs_careful_path(text)


@needs_native
@pytest.mark.parametrize(
    ("text", "careful"),
    [
        ("a: &x 1", True),
        ("a: *x", True),
        ("a: !!str 1", True),
        ("<<: *base", True),
        ("<< :", True),
        ("? key", True),
        ("a: ?", True),
        ("[&x]", True),
        ("{a: *b}", True),
        ("a,*b", True),
        ("&x", True),
        ("a: x&y", False),
        ("host: '*.example.com'", False),  # after a quote: a plain character
        ("a: &", False),
        ("a: & x", False),
        ("a: *]", False),
        ("a: <x", False),
        ("a:?x", False),
        ("a: ?x", False),
        ("", False),
    ],
)
def test_native_careful_path_examples(text: str, careful: bool) -> None:
    assert careful_native is not None
    assert loader._needs_careful_path(text) is careful
    assert careful_native(text) is careful


def test_meshc_pure_python_forces_the_python_careful_path_check() -> None:
    code = "from meshc.spec import loader; print(loader._CAREFUL is loader._needs_careful_path)"
    env = {**os.environ, "MESHC_PURE_PYTHON": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
