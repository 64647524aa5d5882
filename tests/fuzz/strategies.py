"""Hypothesis strategies for fuzz cases: specs generated from the models, and mutated examples.

`model_specs()` walks the JSON Schema that meshc generates from its pydantic models (`meshc
schema`), so every field, enum, bound and pattern the models declare is covered and a new field is
fuzzed without touching this file. Strings are drawn mostly from small pools of plausible values
(so that references resolve and names collide) and sometimes from arbitrary unicode text.
`mutated_examples()` applies structural mutations (`mutate.py`) to the example specs. `cases()` is
both, rendered to YAML text, sometimes with a text-level mutation on top (tags, raw control
characters, truncation).
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from meshc.spec.schema import mesh_schema

from . import mutate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = tuple(sorted((REPO / "examples").glob("*/mesh.yaml")))

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

NAMES = (
    "a",
    "b",
    "c",
    "web",
    "api",
    "db",
    "a-b",
    "b-c",
    "default",
    "default-deny",
    "istio-system",
    "v1",
    "v2",
)
SERVICE_REFERENCES = (
    *NAMES[:6],
    "default/a",
    "default/web",
    "a/web",
    "b/web",
    "istio-system/api",
    "/a",
    "a/",
    "a/b/c",
)
"""Service references: bare names, `namespace/name` (resolving or not) and malformed ones."""
POOLS: dict[str, tuple[Any, ...]] = {
    "service": SERVICE_REFERENCES,
    "callers": SERVICE_REFERENCES,
    "hosts": ("*", "example.com", "*.example.com", "api.example.com", "a", "web.default.svc.cluster.local"),
    "paths": ("/", "/a", "/a/*", "*/b", "*"),
    "methods": ("GET", "POST", "get", "*"),
    "image": ("nginx:1.27", "docker.io/x/y:1", "img"),
    "trustDomain": ("cluster.local", "example.org", "*", "", "a/b"),
    "clusterDomain": ("cluster.local", "example.org"),
    "revision": ("canary", "1-30-3", "canary/x", ""),
    "credentialName": ("tls-cert", "x"),
    "issuer": ("https://issuer.example.com",),
    "jwksUri": ("https://issuer.example.com/jwks.json",),
}


@cache
def _schema() -> dict[str, Any]:
    return mesh_schema()


def _from_schema(node: dict[str, Any], field: str, depth: int) -> st.SearchStrategy[Any]:
    defs = _schema()["$defs"]
    if "$ref" in node:
        return st.deferred(lambda: _from_schema(defs[node["$ref"].rsplit("/", 1)[-1]], field, depth + 1))
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "anyOf" in node:
        return st.one_of([_from_schema(option, field, depth) for option in node["anyOf"]])
    kind = node.get("type")
    if kind == "object":
        return _object(node, field, depth)
    if kind == "array":
        items = _from_schema(node.get("items", {}), field, depth + 1)
        return st.lists(items, max_size=3 if depth < 6 else 1)
    if kind == "string":
        return _string(node, field)
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        return st.one_of(
            st.integers(min_value=low, max_value=high), st.sampled_from(mutate.EXTREME_NUMBERS[:10])
        )
    if kind == "number":
        return st.floats(
            min_value=node.get("minimum"),
            max_value=node.get("maximum"),
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none()


def _object(node: dict[str, Any], field: str, depth: int) -> st.SearchStrategy[Any]:
    properties: dict[str, Any] = node.get("properties", {})
    if not properties:  # a free-form mapping: labels, env, selectors, split weights
        extra = node.get("additionalProperties", {})
        values = _from_schema(extra, field, depth + 1) if isinstance(extra, dict) else st.none()
        keys = st.one_of(
            st.sampled_from((*NAMES, "istio", "app", "version", "k8s.io/x", "a/b/c", "")), st.text(max_size=8)
        )
        return st.dictionaries(keys, values, max_size=3)
    required = set(node.get("required", []))
    fixed = {name: _from_schema(properties[name], name, depth + 1) for name in sorted(required)}
    optional = {
        name: _from_schema(schema, name, depth + 1)
        for name, schema in sorted(properties.items())
        if name not in required and depth < 8
    }
    return st.fixed_dictionaries(fixed, optional=optional)


def _string(node: dict[str, Any], field: str) -> st.SearchStrategy[str]:
    plausible = st.sampled_from(POOLS.get(field, NAMES))
    odd = st.one_of(st.sampled_from(mutate.ODD_STRINGS), st.text(max_size=12))
    if "pattern" in node:
        return st.one_of(st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: len(s) < 30), odd)
    return st.one_of(plausible, plausible, plausible, odd)


def model_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Whole documents generated from the models' JSON Schema."""
    return _from_schema(_schema(), "", 0)


@cache
def example_documents() -> tuple[str, ...]:
    return tuple(path.read_text(encoding="utf-8") for path in EXAMPLES)


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.sampled_from(example_documents()))
    rng = draw(st.randoms(use_true_random=False))
    return mutate.mutate(
        yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)),
        rng,
        rng.choice([1, 1, 2, 3, 5]),
    )


def render(data: Any) -> str:
    """YAML text for a document: block style, or JSON (which is YAML) when too deep to dump."""
    try:
        return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 30)
    except (RecursionError, yaml.YAMLError):
        return json.dumps(data, ensure_ascii=False)


@st.composite
def cases(draw: st.DrawFn) -> str:
    """A spec text: mutated examples mostly (they reach deeper into the compiler), model-generated
    documents otherwise, a quarter of them with a text-level mutation on top."""
    data = draw(st.one_of(mutated_examples(), mutated_examples(), mutated_examples(), model_specs()))
    text = render(data)
    if draw(st.integers(0, 3)) == 0:
        text = mutate.mutate_text(text, draw(st.randoms(use_true_random=False)))
    return text


def random_case(rng: random.Random) -> str:
    """The same kinds of case without hypothesis (a cheap source for very long runs)."""
    data = yaml.load(rng.choice(example_documents()), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    text = render(mutate.mutate(data, rng, rng.choice([1, 1, 2, 3, 5])))
    return mutate.mutate_text(text, rng) if rng.random() < 0.25 else text
