"""Spec fields carry their own meaning (`FieldMeta`, docs/fields.md): every traffic field declares
it, and what the index, MC115 and the review diff do follows from the declaration alone.

The behavioural tests run over every field of the models, with one sample value per field: a new
traffic field fails here until it has metadata and a sample, and from then on it is checked for
HTTP-only handling (defaults, MC115) and for its place in the review without any other list."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

import pytest
from pydantic import BaseModel

from meshc.compiler.index import HTTP_ONLY_POLICIES, MeshIndex
from meshc.compiler.pipeline import run
from meshc.compiler.review.intent import CATEGORIES, DIFFERS, diff_intent
from meshc.compiler.review.intent.base import DiffContext, diff_values
from meshc.compiler.review.view import MeshView, build_view
from meshc.compiler.rules import mc115_http_policy_on_tcp as mc115
from meshc.compiler.rules.base import RuleContext
from meshc.spec.loader import load_sources
from meshc.spec.models import (
    Egress,
    FieldMeta,
    Gateway,
    GatewayRoute,
    Match,
    Route,
    Service,
    SpecModel,
    Traffic,
    field_meta,
    http_only_fields,
    meta_fields,
    wire_name,
)
from meshc.spec.models.meta import ReviewCategory
from meshc.spec.structure import parse_mesh

FULLY_DECLARED = (Traffic, Route, Match)
"""Models whose every field must declare `FieldMeta`."""

HAND_DIFFED = {
    Service: {
        "name", "namespace", "account", "team", "ports", "versions", "calls", "traffic", "security",
        "injection", "proxy", "telemetry", "slo", "placement",
    },
    Gateway: {"name", "namespace", "selector", "workload", "hosts", "servers", "routes", "jwt", "placement"},
    Egress: {"name", "hosts", "ports", "callers", "resolution", "namespace", "gateway"},
    GatewayRoute: {
        "name", "match", "to", "rewrite", "timeout", "require_jwt", "require_claims", "hosts",
    },
}  # fmt: skip
"""Fields that existed before `FieldMeta` and are reviewed by hand-written code (or not at all).
This set may only shrink: a new field of these models declares `FieldMeta` (docs/fields.md)."""

SAMPLES: dict[str, Any] = {
    "split": {"v1": 50, "v2": 50},
    "routes": [{"name": "beta", "match": [{"headers": {"x-beta": {"exact": "1"}}}], "to": "v2"}],
    "timeout": "2s",
    "retries": {"attempts": 2},
    "fault": {"abort": {"status": 503, "percent": 1}},
    "mirror": {"version": "v2"},
    "connectionPool": {"maxConnections": 10},
    "outlierDetection": {"consecutive5xxErrors": 5},
    "loadBalancer": {"simple": "RANDOM"},
    "headers": {"request": {"set": {"x-a": "1"}}, "response": {"remove": ["server"]}},
    "cors": {"allowOrigins": [{"exact": "https://a.example"}], "allowMethods": ["GET"]},
    "exportTo": "callers",
    "rewrite": {"uri": "/v2"},
    "redirect": {"uri": "/new", "redirectCode": 308},
    "directResponse": {"status": 410, "body": "gone"},
}
"""One valid value per traffic field and per HTTP-only route field (by YAML name), used to exercise
each field."""

MATCH_SAMPLES: dict[str, Any] = {
    "path": {"prefix": "/a"},
    "method": {"exact": "GET"},
    "headers": {"x-a": {"exact": "1"}},
    "query": {"a": {"exact": "1"}},
    "claims": {"group": {"exact": "admin"}},
    "port": 5432,
}


def _spec(*, api_traffic: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None) -> str:
    """JSON (a YAML subset) spec: an HTTP service `api` with two versions and a TCP-only `db`."""
    services: list[dict[str, Any]] = [
        {
            "name": "api",
            "ports": [{"port": 8080, "protocol": "http"}],
            "versions": [{"name": "v1", "image": "api:1"}, {"name": "v2", "image": "api:2"}],
        },
        {
            "name": "db",
            "ports": [{"port": 5432, "protocol": "tcp"}],
            "versions": [{"name": "v1", "image": "db:1"}, {"name": "v2", "image": "db:2"}],
        },
    ]
    if api_traffic is not None:
        services[0]["traffic"] = api_traffic
    spec: dict[str, Any] = {"defaults": {"namespace": "app"}, "services": services}
    if defaults is not None:
        spec["defaults"]["traffic"] = defaults
    return json.dumps(
        {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    )


def _compile(text: str) -> Any:
    return run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))


def _view(text: str) -> MeshView:
    c = _compile(text)
    assert c.index is not None
    return build_view(c.index)


# --- every field declares what it is ------------------------------------------------------------


@pytest.mark.parametrize("model", FULLY_DECLARED, ids=lambda m: m.__name__)
def test_every_traffic_field_declares_its_meaning(model: type[BaseModel]) -> None:
    missing = [name for name in model.model_fields if field_meta(model, name) is None]
    assert not missing, f"{model.__name__} fields without FieldMeta (see docs/fields.md): {missing}"


@pytest.mark.parametrize("model", list(HAND_DIFFED), ids=lambda m: m.__name__)
def test_new_fields_of_reviewed_models_declare_their_meaning(model: type[BaseModel]) -> None:
    undeclared = {name for name in model.model_fields if field_meta(model, name) is None}
    assert undeclared <= HAND_DIFFED[model], (
        f"new {model.__name__} fields need FieldMeta (docs/fields.md): "
        f"{sorted(undeclared - HAND_DIFFED[model])}"
    )


def _declared() -> list[tuple[type[BaseModel], str, FieldMeta]]:
    return [
        (model, name, meta) for model in (*FULLY_DECLARED, *HAND_DIFFED) for name, meta in meta_fields(model)
    ]


def test_review_sections_are_the_declarable_categories() -> None:
    assert tuple(CATEGORIES) == get_args(ReviewCategory)


def test_every_category_has_a_review_section() -> None:
    unknown = {
        (m.__name__, name, meta.category) for m, name, meta in _declared() if meta.category not in CATEGORIES
    }
    assert not unknown


def test_custom_fields_are_handled_by_a_differ_and_claims_are_real() -> None:
    custom = {(model, name) for model, name, meta in _declared() if meta.review == "custom"}
    claimed = {
        (model, name)
        for differ in DIFFERS
        for model, names in getattr(differ, "CUSTOM_FIELDS", {}).items()
        for name in names
    }
    assert custom - claimed == set(), "review='custom' fields no differ lists in CUSTOM_FIELDS"
    assert claimed - custom == set(), "CUSTOM_FIELDS names fields not declared review='custom'"


def test_lists_in_the_code_are_the_declared_ones() -> None:
    assert (
        HTTP_ONLY_POLICIES
        == http_only_fields(Traffic)
        == ("timeout", "retries", "fault", "mirror", "headers", "cors")
    )
    assert (
        tuple((n, wire_name(Match, n)) for n in ("path", "method", "headers", "query", "claims"))
        == mc115.MATCHES
    )
    assert {name for name, _ in mc115.POLICIES[Route]} == set(http_only_fields(Route))


def test_samples_cover_every_field() -> None:
    traffic = {wire_name(Traffic, n) for n in Traffic.model_fields}
    route_only = {wire_name(Route, n) for n in http_only_fields(Route)} - traffic
    assert set(SAMPLES) == traffic | route_only
    assert set(MATCH_SAMPLES) == {wire_name(Match, n) for n in Match.model_fields}


# --- HTTP-only: defaults and MC115 follow the declaration ---------------------------------------


@pytest.mark.parametrize("name", list(Traffic.model_fields))
def test_http_only_defaults_skip_tcp_services(name: str) -> None:
    wire = wire_name(Traffic, name)
    c = _compile(_spec(defaults={wire: SAMPLES[wire]}))
    db, api = c.index.services["db"], c.index.services["api"]
    assert getattr(api.traffic, name) not in (None, [])
    if field_meta(Traffic, name).http_only:  # type: ignore[union-attr]
        assert getattr(db.traffic, name) is None
    else:
        assert getattr(db.traffic, name) not in (None, [])


def _mc115_paths(traffic: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The (parent, key) ends of the paths MC115 flags when the TCP-only `db` has `traffic`."""
    text = _spec().replace('"name": "db",', f'"name": "db", "traffic": {json.dumps(traffic)},')
    mesh = parse_mesh(load_sources([("mesh.yaml", text.encode())]))
    return {tuple(f.path[-2:]) for f in mc115.check(RuleContext(mesh, MeshIndex(mesh)))}


@pytest.mark.parametrize("name", list(Traffic.model_fields))
def test_mc115_flags_exactly_the_http_only_fields(name: str) -> None:
    wire = wire_name(Traffic, name)
    flagged = _mc115_paths({wire: SAMPLES[wire]}) & {("traffic", wire)}  # not the parts of a route
    assert bool(flagged) == field_meta(Traffic, name).http_only  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(Route.model_fields))
def test_mc115_on_route_fields(name: str) -> None:
    meta = field_meta(Route, name)
    assert meta is not None
    if not meta.http_only:
        return  # name, match, to, split: checked through their own samples elsewhere
    wire = wire_name(Route, name)
    flagged = _mc115_paths({"routes": [{"name": "r", "to": "v1", wire: SAMPLES[wire]}]})
    assert flagged == {(0, wire)}


@pytest.mark.parametrize("name", list(Match.model_fields))
def test_mc115_on_match_fields(name: str) -> None:
    wire = wire_name(Match, name)
    flagged = _mc115_paths({"routes": [{"to": "v1", "match": [{wire: MATCH_SAMPLES[wire]}]}]})
    assert bool(flagged) == field_meta(Match, name).http_only  # type: ignore[union-attr]


# --- review: every field lands in its declared category -----------------------------------------


@pytest.mark.parametrize("name", list(Traffic.model_fields))
def test_review_reports_each_traffic_field_in_its_category(name: str) -> None:
    meta = field_meta(Traffic, name)
    assert meta is not None
    wire = wire_name(Traffic, name)
    d = diff_intent(_view(_spec()), _view(_spec(api_traffic={wire: SAMPLES[wire]})))
    found = {(c.category, c.kind) for c in d.changes if c.subject == "api"}
    assert found, f"a change of traffic.{wire} is not in the review"
    assert {category for category, _ in found} == {meta.category}
    if meta.review == "value":
        assert found == {(meta.category, f"policy-{wire}")}
    defaults = diff_intent(_view(_spec()), _view(_spec(defaults={wire: SAMPLES[wire]})))
    assert [(c.category, c.kind) for c in defaults.changes if c.subject == "defaults"] == [
        (meta.category, f"default-{wire}")
    ]


class _Toy(SpecModel):
    knob: Annotated[str | None, FieldMeta("security")] = None
    hidden: Annotated[str | None, FieldMeta("security", review="none")] = None


def test_value_fields_need_no_differ_code() -> None:
    empty = MeshView("t", "STRICT", True, {}, {}, {})
    ctx = DiffContext(empty, empty, new_spec=False, deleted=False)
    diff_values(ctx, _Toy, {"knob": "a", "hidden": "x"}, {"knob": "b"}, kind="toy", subject="s", label="`s`")
    assert [(c.category, c.kind, c.message) for c in ctx.out.changes] == [
        ("security", "toy-knob", "`s` knob: a → b")
    ]
