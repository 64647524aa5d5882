"""The shortcuts the global rules take at 10,000 services (issue 17) give what the plain reading gives.

The rules that run over the whole mesh on every compile read the index's derived facts field by
field (`ServiceInfo.traffic_value`, `speaks_http`, `MeshIndex.unresolved_calls`) and skip work that
cannot produce a finding. Each shortcut is held here to the straightforward computation it
replaces, on every rule fixture, every example and generated meshes, so that an optimisation that
changes a finding (path, message, hint, severity or order) fails a test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshc.compiler.index import MeshIndex
from meshc.compiler.lower.gateway_policy import Inexpressible, combine, inexpressible
from meshc.compiler.pipeline import parse
from meshc.compiler.rules import RULES, RuleContext
from meshc.compiler.rules import mc150_name_collision as mc150
from meshc.compiler.rules.base import Finding
from meshc.compiler.rules.mc183_gateway_policy_inexpressible import may_be_inexpressible
from meshc.compiler.rules.walk import CallGraph, focused_entries
from meshc.spec.models import HTTP_PROTOCOLS, GatewayRoute, Match, Mesh, StringMatch, Traffic
from tests.test_gateway_policy import matches, matches_of, strings, texts
from tests.test_rule_scopes import _meshes, _traffic, _validate

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    *sorted((ROOT / "tests" / "rules" / "fixtures").glob("*/*.yaml")),
    *sorted(ROOT.glob("examples/*/mesh.yaml")),
]
GENERATED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
TRAFFIC_FIELDS = tuple(sorted(Traffic.model_fields))


def _file_meshes() -> Iterator[Mesh]:
    for path in FILES:
        c = parse(path)
        if c.mesh is not None:
            yield c.mesh


@st.composite
def _meshes_with_default_traffic(draw: st.DrawFn) -> dict[str, Any]:
    """The scope tests' meshes, half of them with a richer `spec.defaults.traffic` (HTTP-only
    policies that a TCP-only service must not inherit, `exportTo`, routes)."""
    data = copy.deepcopy(draw(_meshes())[0])
    if draw(st.booleans()):
        data["spec"]["defaults"] = {"traffic": draw(_traffic())}
    return data


# --- the index: one field of the merged traffic, HTTP ports, unresolved calls ---------------------


def assert_index_shortcuts(mesh: Mesh) -> None:
    unread, read = MeshIndex(mesh), MeshIndex(mesh)
    for info in read.services.values():
        assert info.traffic is not None  # merged first: traffic_value reads the merged model
    for info, merged in zip(unread.services.values(), read.services.values(), strict=True):
        http = any(p.protocol in HTTP_PROTOCOLS for p in merged.ports)
        assert info.speaks_http == http == bool(merged.http_ports) == merged.speaks_http
        for name in TRAFFIC_FIELDS:
            assert info.traffic_value(name) == getattr(merged.traffic, name), (info.key, name)
            assert merged.traffic_value(name) == getattr(merged.traffic, name), (info.key, name)
        assert info._traffic is None, "traffic_value must not merge the model"
    expected = [
        (caller.key, j, call)
        for caller in read.services.values()
        for j, call in enumerate(caller.model.calls)
        if read.resolve(call.service) is None
    ]
    assert [(e.caller.key, e.call_index, e.call) for e in read.unresolved_calls] == expected


def test_index_shortcuts_on_fixtures_and_examples() -> None:
    for mesh in _file_meshes():
        assert_index_shortcuts(mesh)


@GENERATED
@given(data=_meshes_with_default_traffic())
def test_index_shortcuts_on_generated_meshes(data: dict[str, Any]) -> None:
    mesh = _validate(data)
    if mesh is not None:
        assert_index_shortcuts(mesh)


@pytest.mark.parametrize(
    "ports", [[], [{"port": 5432}], [{"port": 80, "name": "http-web"}], [{"port": 1, "protocol": "tcp"}]]
)
def test_traffic_value_without_defaults_or_own_traffic(ports: list[dict[str, Any]]) -> None:
    mesh = Mesh.model_validate(
        {
            "apiVersion": "meshc.dev/v1alpha1",
            "kind": "Mesh",
            "metadata": {"name": "m"},
            "spec": {"services": [{"name": "a", "ports": ports}]},
        }
    )
    assert_index_shortcuts(mesh)


# --- every rule, shortcuts on and off ----------------------------------------------------------


def _findings(mesh: Mesh) -> list[tuple[str, list[Finding]]]:
    ctx = RuleContext(mesh, MeshIndex(mesh))
    return [(rule.code, list(rule.check(ctx))) for rule in RULES]


def assert_rules_unchanged_without_shortcuts(mesh: Mesh) -> None:
    """Every rule's findings (in order) equal those of the plain path: every service looked at, every
    plan resolved."""
    fast = _findings(mesh)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(MeshIndex, "has_bare_workload", lambda self, info: False)
        patched.setattr(MeshIndex, "with_pod_settings", property(lambda self: list(self.services.values())))
        plain = _findings(mesh)
    assert fast == plain


QUANTITIES = ("50m", "100m", "1", "64Mi", "128Mi", "1Gi")


def _workload() -> st.SearchStrategy[dict[str, Any]]:
    count = st.one_of(st.integers(0, 3), st.sampled_from(["0%", "50%", "100%"]))
    return st.fixed_dictionaries(
        {},
        optional={
            "resources": st.fixed_dictionaries(
                {},
                optional={
                    k: st.sampled_from(QUANTITIES) for k in ("cpu", "memory", "cpuLimit", "memoryLimit")
                },
            ),
            "disruptionBudget": st.fixed_dictionaries(
                {}, optional={"enabled": st.booleans(), "minAvailable": count, "maxUnavailable": count}
            ),
            "autoscaling": st.fixed_dictionaries(
                {},
                optional={
                    "enabled": st.booleans(),
                    "minReplicas": st.integers(1, 4),
                    "maxReplicas": st.integers(1, 4),
                },
            ),
        },
    )


@st.composite
def _workload_meshes(draw: st.DrawFn) -> dict[str, Any]:
    """Services with and without `workload` (and `proxy`), under defaults with and without one."""
    services = []
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True)):
        service: dict[str, Any] = {
            "name": name,
            "ports": [{"port": 8080, "protocol": "http"}],
            "versions": [
                {
                    "name": f"v{k}",
                    "replicas": draw(st.integers(0, 3)),
                    **({"image": "x:1"} if draw(st.booleans()) else {}),
                }
                for k in range(draw(st.integers(0, 2)))
            ],
        }
        if draw(st.booleans()):
            service["workload"] = draw(_workload())
        if draw(st.integers(0, 3)) == 0:
            service["proxy"] = {"memory": draw(st.sampled_from(QUANTITIES)), "memoryLimit": "64Mi"}
        services.append(service)
    spec: dict[str, Any] = {"services": services}
    if draw(st.integers(0, 2)) == 0:
        spec.setdefault("defaults", {})["workload"] = draw(_workload())
    if draw(st.booleans()):
        spec.setdefault("defaults", {})["proxy"] = {
            "cpu": draw(st.sampled_from(QUANTITIES)),
            "cpuLimit": "100m",
        }
    return {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "m"}, "spec": spec}


def test_rules_take_no_shortcut_that_changes_a_finding_on_fixtures_and_examples() -> None:
    for mesh in _file_meshes():
        assert_rules_unchanged_without_shortcuts(mesh)


@GENERATED
@given(data=_workload_meshes())
def test_workload_rules_take_no_shortcut_that_changes_a_finding(data: dict[str, Any]) -> None:
    mesh = _validate(data)
    if mesh is not None:
        assert_rules_unchanged_without_shortcuts(mesh)


# --- MC183: the pairs of matches that cannot be inexpressible -------------------------------------

odd_strings = st.one_of(
    strings, st.builds(lambda v, w: StringMatch(exact=v, regex=w), texts, texts), st.just(StringMatch())
)
odd_matches = matches_of(odd_strings)


@settings(max_examples=1500, deadline=None)
@given(
    st.none() | matches | odd_matches,
    st.none() | matches | odd_matches,
    st.none() | st.sampled_from(["", "/", "/v2", "/v2/", "/a"]),
    st.none() | st.sampled_from([80, 8080]),
)
def test_mc183_skips_only_pairs_that_combine(
    gateway: Match | None, service: Match | None, rewrite: str | None, port: int | None
) -> None:
    if not may_be_inexpressible(gateway, service, rewrite):
        assert not isinstance(combine(gateway, service, rewrite, port, build=False), Inexpressible)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(matches | odd_matches, max_size=3),
    st.lists(matches | odd_matches, max_size=3),
    st.none() | st.sampled_from(["", "/", "/v2", "/a"]),
)
def test_mc183_finds_what_the_full_combination_finds(
    gateway: list[Match], service: list[Match], rewrite: str | None
) -> None:
    every: list[Match | None] = [None]
    skipped = not any(may_be_inexpressible(a, b, rewrite) for a in gateway or every for b in service or every)
    if skipped:
        assert inexpressible(gateway, service, rewrite, None) is None


# --- ports the rules read without resolving them ----------------------------------------------------


def _route_is_http_resolved(index: MeshIndex, route: GatewayRoute) -> bool | None:
    """`MeshIndex.gateway_route_is_http` over the resolved ports (what it computed before)."""
    info = index.resolve(route.to.service)
    if info is None:
        return None
    if route.to.port is not None:
        port = info.port(route.to.port)
    else:
        port = info.ports[0] if len(info.ports) == 1 else None
    if port is None or port.protocol is None:
        return None
    return port.protocol in HTTP_PROTOCOLS


def assert_ports_read_as_resolved(mesh: Mesh) -> None:
    index = MeshIndex(mesh)
    for gateway in mesh.spec.gateways:
        for route in gateway.routes:
            assert index.gateway_route_is_http(route) == _route_is_http_resolved(index, route)
    for info in index.services.values():
        assert [p.port for p in info.model.ports] == [p.number for p in info.ports]


def test_ports_read_as_resolved_on_fixtures_and_examples() -> None:
    for mesh in _file_meshes():
        assert_ports_read_as_resolved(mesh)


# --- MC150: the objects left out of the stream --------------------------------------------------

SERVICE_NAMES = ("a", "a-b", "b", "b-c", "c", "default", "default-deny", "web", "shop-web", "a-require-jwt")


@st.composite
def _colliding_meshes(draw: st.DrawFn) -> dict[str, Any]:
    """Names that compile to one another's objects: `a` v `b-c` and `a-b` v `c` (Deployments), a
    service named like a namespace-wide policy, like a gateway's or egress's objects (mesh `shop`),
    like another service's JWT policy; duplicates of a service and of a version too."""
    namespaces = ("shop", "other")
    services = []
    for _ in range(draw(st.integers(1, 6))):
        service: dict[str, Any] = {
            "name": draw(st.sampled_from(SERVICE_NAMES)),
            "ports": [{"port": 80, "protocol": draw(st.sampled_from(["http", "tcp"]))}],
            "versions": [
                {"name": draw(st.sampled_from(["c", "b-c", "v1", "require-jwt"])), "image": "nginx"}
                for _ in range(draw(st.integers(0, 2)))
            ],
        }
        if draw(st.booleans()):
            service["namespace"] = draw(st.sampled_from(namespaces))
        if draw(st.integers(0, 2)) == 0:
            jwt = {"issuers": [{"issuer": "https://a.example", "jwksUri": "https://a.example/jwks"}]}
            service["security"] = {"jwt": {**jwt, "required": draw(st.booleans())}}
        elif draw(st.integers(0, 2)) == 0:
            service["security"] = {"mtls": "STRICT"}
        services.append(service)
    spec: dict[str, Any] = {
        "defaults": {"namespace": "shop"},
        "services": services,
        "security": {"authorization": {"defaultDeny": draw(st.booleans())}},
    }
    if draw(st.booleans()):
        spec["gateways"] = [
            {
                "name": draw(st.sampled_from(["web", "a", "b"])),
                "servers": [{"port": 80, "protocol": "http"}],
                "hosts": ["shop.example.com"],
                "routes": [{"to": {"service": draw(st.sampled_from(SERVICE_NAMES))}}],
            }
        ]
    if draw(st.booleans()):
        spec["egress"] = [
            {
                "name": draw(st.sampled_from(["web", "a", "api"])),
                "hosts": ["api.example.com"],
                "ports": [{"port": 443, "protocol": "tls"}],
                "callers": [draw(st.sampled_from(SERVICE_NAMES))],
            }
        ]
    return {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "shop"}, "spec": spec}


def assert_mc150_as_planned(mesh: Mesh) -> list[Finding]:
    """MC150's findings are the collisions of every planned object, in the order planned."""
    ctx = RuleContext(mesh, MeshIndex(mesh))
    found = list(mc150.check(ctx))
    assert found == list(mc150._collisions(ctx, mc150.planned(ctx)))
    return found


def test_mc150_as_planned_on_fixtures_and_examples() -> None:
    assert any([assert_mc150_as_planned(mesh) for mesh in _file_meshes()])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_colliding_meshes())
def test_mc150_as_planned_on_colliding_meshes(data: dict[str, Any]) -> None:
    mesh = _validate(data)
    if mesh is not None:
        assert_mc150_as_planned(mesh)


# --- the call graph MC110 and MC111 walk -------------------------------------------------------------


def _plain_graph(index: MeshIndex) -> tuple[list[list[int]], list[list[bool]]]:
    """Callees and HTTP flags the plain way: every call resolved, every port resolved."""
    nodes = list(index.services.values())
    callees, http = [], []
    for info in nodes:
        edges: dict[int, bool] = {}
        for call in info.model.calls:
            callee = index.resolve(call.service)
            if callee is None:
                continue
            i = nodes.index(callee)
            if call.protocol is not None:
                speaks = call.protocol in HTTP_PROTOCOLS
            else:
                speaks = any(
                    p.protocol in HTTP_PROTOCOLS
                    for p in callee.ports
                    if not call.ports or p.number in call.ports
                )
            edges[i] = edges.get(i, False) or speaks
        callees.append(list(edges))
        http.append(list(edges.values()))
    return callees, http


def assert_call_graph_as_plain(mesh: Mesh) -> None:
    graph = CallGraph.of(MeshIndex(mesh))
    assert (graph.callees, graph.http) == _plain_graph(MeshIndex(mesh))
    assert sorted(graph.postorder()) == list(range(len(graph.nodes)))


def test_call_graph_on_fixtures_and_examples() -> None:
    for mesh in _file_meshes():
        assert_call_graph_as_plain(mesh)


@GENERATED
@given(data=_meshes_with_default_traffic())
def test_call_graph_on_generated_meshes(data: dict[str, Any]) -> None:
    mesh = _validate(data)
    if mesh is not None:
        assert_call_graph_as_plain(mesh)


def test_focus_entries_are_the_namespaces_entries() -> None:
    """`walk.focused_entries` reads the indexed services' positions when no entry is a duplicate."""
    for mesh in _file_meshes():
        ctx = RuleContext(mesh, MeshIndex(mesh))
        spec = mesh.spec
        for ns in {svc.namespace or spec.defaults.namespace for svc in spec.services}:
            expected = [
                (i, svc)
                for i, svc in enumerate(spec.services)
                if (svc.namespace or spec.defaults.namespace) == ns
            ]
            assert list(focused_entries(RuleContext(mesh, ctx.index, frozenset({ns})))) == expected
