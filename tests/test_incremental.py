"""The incremental compile (meshc.compiler.units, pipeline.lower_incrementally): reusing the objects
of the namespaces whose key did not change gives exactly the output of a full compile.

- restriction: lowering with some namespaces skipped gives exactly the other namespaces' objects
  of a full lowering (every example, every way to skip one namespace);
- keys: over random edits of one service (or of mesh-wide settings) in meshes that spread over
  several namespaces, with calls, gateway routes, egress callers and authorization sources across
  them, a compile with the cache the previous compile left gives byte for byte the stream, the
  files and the diagnostics of a compile without cache, and it did reuse units (the test would
  pass vacuously otherwise).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_buildcache import compile_, outcome, tree, write

from bench.synthetic import make_spec
from meshc.compiler import pipeline
from meshc.compiler.buildcache import BuildCache
from meshc.compiler.lower import lower
from meshc.compiler.units import unit_keys, unit_of
from meshc.compiler.verify import verify
from meshc.spec.diagnostics import SpecError

EXAMPLES = sorted(p for p in (REPO / "examples").glob("*/mesh.yaml"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_lowering_without_some_namespaces_gives_exactly_the_others(spec: Path) -> None:
    parsed = pipeline.parse(spec)
    full = lower(parsed.index)
    units = sorted({unit_of(m) for m in full})
    for unit in units:
        skipped = frozenset(units) - {unit}
        assert lower(parsed.index, skipped) == [m for m in full if unit_of(m) == unit], unit
        assert lower(parsed.index, frozenset({unit})) == [m for m in full if unit_of(m) != unit], unit


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_lowering_without_a_gateways_objects_gives_exactly_the_others(spec: Path) -> None:
    """`skip_gateways` leaves out each gateway's Gateway and VirtualService in its namespace and
    nothing else (its policies on its pods stay: `_gateways_reused` reuses only those two)."""
    parsed = pipeline.parse(spec)
    index = parsed.index
    full = lower(index)
    for name, (_, gateway) in sorted(index.gateways.items()):
        ns = index.gateway_namespace(gateway)
        own = [
            m
            for m in full
            if m.owner == f"gateway/{name}" and m.kind in ("Gateway", "VirtualService") and m.namespace == ns
        ]
        assert any(m.kind == "Gateway" for m in own), name
        assert lower(index, skip_gateways=frozenset({name})) == [m for m in full if m not in own], name


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_namespace_with_services_or_a_gateway_has_a_key(spec: Path) -> None:
    """A gateway's namespaces (of its Gateway and VirtualService, of its pods' policies) are keyed
    too, in a single-cluster mesh (`units.gateway_targets`)."""
    parsed = pipeline.parse(spec)
    keys = unit_keys(parsed.loaded.data, parsed.index)
    assert keys is not None
    index = parsed.index
    gateways = [gw for _, gw in index.gateways.values()] if not index.clusters else []
    assert set(keys.keys) == {info.namespace for info in index.services.values()} | {
        ns for gw in gateways for ns in (index.gateway_namespace(gw), gw.workload.namespace)
    }


# --- random edits over meshes spread across namespaces ----------------------------------------------


def spread(n: int, per_namespace: int) -> dict[str, Any]:
    """The synthetic mesh with `per_namespace` services a namespace (calls cross namespaces), an
    egress entry called from several namespaces and a service open to the whole mesh."""
    spec = make_spec(n)
    services = spec["spec"]["services"]
    for i, svc in enumerate(services):
        svc["namespace"] = f"ns-{i // per_namespace}"
        # calls into this namespace and the next only: a chain of namespaces, each adjacent to two
        svc["calls"] = [
            c for c in svc["calls"] if int(c["service"][4:]) // per_namespace <= i // per_namespace + 1
        ]
    spec["spec"]["egress"][0]["callers"] = [services[i]["name"] for i in range(0, n, 3)]
    services[1]["security"] = {"allow": [{"source": {"mesh": True}, "methods": ["GET"]}]}
    for svc in services[2::per_namespace]:  # a warning in every namespace (MC109, a local rule)
        svc["traffic"]["retries"] = {"attempts": 3, "perTryTimeout": "10s"}
    return spec


def sparse(n: int, per_namespace: int) -> dict[str, Any]:
    """Namespaces joined by one call each (the first service of each calls the first of the
    next): removing or adding a service makes or breaks the adjacency of two namespaces."""
    spec = spread(n, per_namespace)
    for i, svc in enumerate(spec["spec"]["services"]):
        k = i % per_namespace
        svc["calls"] = [{"service": f"svc-{i + 1:05d}"}] if k < per_namespace - 1 and i + 1 < n else []
        if k == 0 and i + per_namespace < n:
            svc["calls"].append({"service": f"svc-{i + per_namespace:05d}"})
    # egress callers that are not the links (a change to the callers is a change to every key)
    spec["spec"]["egress"][0]["callers"] = [f"svc-{i:05d}" for i in range(1, n, 2 * per_namespace)]
    return spec


def gateways(n: int, per_namespace: int) -> dict[str, Any]:
    """`spread` with five gateways in one namespace: three with hosts of their own (their objects
    are reused one by one, `units.gateway_keys`), one with a wildcard host, one with a host the
    wildcard covers (on another port: the same one is MC106): those two never are."""
    spec = spread(n, per_namespace)

    def gateway(name: str, hosts: list[str], targets: range | list[int], port: int = 80) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": "ingress",
            "selector": {"istio": "ingressgateway"},
            "hosts": hosts,
            "servers": [{"port": port, "protocol": "http"}],
            "routes": [
                {
                    "match": [{"path": {"prefix": f"/s{i:05d}/"}}],
                    "to": {"service": f"svc-{i:05d}", "port": 8080},
                }
                for i in targets
            ],
        }

    spec["spec"]["gateways"] = [
        gateway("gw-000", ["app0.example.com"], range(0, n, 8)),
        gateway("gw-001", ["app1.example.com"], range(5, n, 8)),
        gateway("gw-002", ["app2.example.com"], range(10, n, 8)),
        gateway("gw-003", ["*.wild.example.com"], [3]),
        gateway("gw-004", ["a.wild.example.com"], [7], port=8080),
    ]
    return spec


BASES = {
    "spread": spread(24, 4),
    "gateways": gateways(24, 4),
    "sparse": sparse(24, 3),
    "shop": yaml.safe_load((REPO / "examples/shop/mesh.yaml").read_text()),
    "namespaces": yaml.safe_load((REPO / "examples/namespaces/mesh.yaml").read_text()),
    "multicluster": yaml.safe_load((REPO / "examples/multicluster/mesh.yaml").read_text()),
}


def _service(spec: dict[str, Any], i: int) -> dict[str, Any]:
    services = spec["spec"]["services"]
    return services[i % len(services)]


def edit_timeout(spec: dict[str, Any], i: int, n: int) -> None:
    svc = _service(spec, i)
    svc.setdefault("traffic", {})["timeout"] = f"{n % 9 + 1}s"


def edit_calls(spec: dict[str, Any], i: int, n: int) -> None:
    """A call added (to a service of another namespace, mostly) or the last one removed."""
    svc, other = _service(spec, i), _service(spec, n)
    calls = svc.setdefault("calls", [])
    target = f"{other.get('namespace', 'default')}/{other['name']}"
    if n % 2 and calls:
        calls.pop()
    elif other is not svc and all(c.get("service") not in (target, other["name"]) for c in calls):
        calls.append({"service": target})


def edit_account(spec: dict[str, Any], i: int, n: int) -> None:
    """Who the service is (its principal): every callee's policy names it."""
    _service(spec, i)["account"] = f"sa-{n % 4}"


def edit_allow(spec: dict[str, Any], i: int, n: int) -> None:
    """A source that admits workloads without an edge: every Sidecar it admits imports the service."""
    svc = _service(spec, i)
    other = _service(spec, n)
    source = {"mesh": True} if n % 2 else {"namespaces": [other.get("namespace", "default")]}
    svc.setdefault("security", {})["allow"] = [{"source": source, "methods": ["GET"]}]


def edit_egress_callers(spec: dict[str, Any], i: int, n: int) -> None:
    egress = spec["spec"].get("egress") or []
    if not egress:
        return
    callers = egress[0].setdefault("callers", [])
    svc = _service(spec, i)
    name = f"{svc.get('namespace', 'default')}/{svc['name']}"
    if name in callers:
        callers.remove(name)
    else:
        callers.append(name)


def edit_port(spec: dict[str, Any], i: int, n: int) -> None:
    svc = _service(spec, i)
    if svc.get("ports"):
        svc["ports"][0]["port"] = 8000 + n % 5


def edit_gateway_target(spec: dict[str, Any], i: int, n: int) -> None:
    gateways = spec["spec"].get("gateways") or []
    routes = gateways[0].get("routes") if gateways else None
    svc = _service(spec, n)
    if routes and svc.get("ports"):
        routes[i % len(routes)]["to"] = {
            "service": f"{svc.get('namespace', 'default')}/{svc['name']}",
            "port": svc["ports"][0]["port"],
        }


def edit_mtls(spec: dict[str, Any], i: int, n: int) -> None:
    _service(spec, i).setdefault("security", {})["mtls"] = ("STRICT", "PERMISSIVE")[n % 2]


def edit_move(spec: dict[str, Any], i: int, n: int) -> None:
    """A service moved to another namespace (its identity changes: nothing is reused)."""
    svc, other = _service(spec, i), _service(spec, n)
    svc["namespace"] = other.get("namespace", "default")


def edit_defaults(spec: dict[str, Any], i: int, n: int) -> None:
    spec["spec"].setdefault("defaults", {}).setdefault("traffic", {})["timeout"] = f"{20 + n % 20}s"


def edit_placement(spec: dict[str, Any], i: int, n: int) -> None:
    """Where a service runs (a multi-cluster mesh): which clusters see it and its callers."""
    clusters = [c["name"] for c in spec["spec"].get("clusters", [])]
    if clusters:
        _service(spec, i)["placement"] = [clusters[n % len(clusters)]] if n % 3 else clusters


def edit_injection(spec: dict[str, Any], i: int, n: int) -> None:
    """A workload's own injection mode: its namespace's labels depend on all of its services."""
    _service(spec, i)["injection"] = {"mode": ("manual", "auto")[n % 2]}


def edit_versions(spec: dict[str, Any], i: int, n: int) -> None:
    """A version added (its Deployment, the subsets, the routes' weights stay valid)."""
    svc = _service(spec, i)
    versions = svc.get("versions")
    if versions and n % 2:
        versions.append({"name": f"v{len(versions) + 1}", "image": f"registry.example.com/x:{n}"})


def _references_to(spec: dict[str, Any], svc: dict[str, Any]) -> set[str]:
    """The strings that name `svc`: `namespace/name`, and its bare name."""
    namespace = svc.get("namespace") or spec["spec"].get("defaults", {}).get("namespace", "default")
    return {f"{namespace}/{svc['name']}", svc["name"]}


def _routed(spec: dict[str, Any], names: set[str]) -> bool:
    return any(
        r["to"]["service"] in names for g in spec["spec"].get("gateways") or [] for r in g.get("routes", [])
    )


def edit_add_service(spec: dict[str, Any], i: int, n: int) -> None:
    """A service added (a copy of another under a new name, somewhere in the spec, in an existing
    namespace or a new one), called by another service half of the time."""
    services = spec["spec"]["services"]
    added = copy.deepcopy(_service(spec, i))
    added["name"] = f"added-{n}"
    added["namespace"] = f"ns-new-{n % 2}" if n % 5 == 0 else _service(spec, n).get("namespace", "default")
    services.insert(n % (len(services) + 1), added)
    if n % 2:
        caller = _service(spec, n + 1)
        if caller is not added:
            caller.setdefault("calls", []).append({"service": f"{added['namespace']}/{added['name']}"})


def edit_add_namesake(spec: dict[str, Any], i: int, n: int) -> None:
    """A service added under a name another namespace holds already: that name is shared now (each
    of the two is `namespace/name` from now on, and a bare reference to it is ambiguous)."""
    svc = _service(spec, i)
    added = copy.deepcopy(svc)
    namespace = svc.get("namespace", "default")
    other = _service(spec, n).get("namespace", "default")
    added["namespace"] = other if other != namespace else f"ns-new-{n % 2}"
    spec["spec"]["services"].append(added)


def edit_remove_service(spec: dict[str, Any], i: int, n: int) -> None:
    """A service removed, with the calls and egress callers that name it (one no route sends to)."""
    services = spec["spec"]["services"]
    svc = _service(spec, i)
    names = _references_to(spec, svc)
    if len(services) < 3 or _routed(spec, names):
        return
    services.remove(svc)
    for other in services:
        if other.get("calls"):
            other["calls"] = [c for c in other["calls"] if c.get("service") not in names]
    for egress in spec["spec"].get("egress") or []:
        if egress.get("callers"):
            egress["callers"] = [c for c in egress["callers"] if c not in names]


def edit_rename_service(spec: dict[str, Any], i: int, n: int) -> None:
    """A service renamed, with the calls and egress callers that name it (one no route sends to)."""
    svc = _service(spec, i)
    names = _references_to(spec, svc)
    if _routed(spec, names):
        return
    namespace = next(r.split("/")[0] for r in names if "/" in r)
    svc["name"] = f"renamed-{n}"
    for other in spec["spec"]["services"]:
        for call in other.get("calls") or []:
            if call.get("service") in names:
                call["service"] = f"{namespace}/{svc['name']}"
    for egress in spec["spec"].get("egress") or []:
        if egress.get("callers"):
            egress["callers"] = [f"{namespace}/{svc['name']}" if c in names else c for c in egress["callers"]]


EDITS = [
    edit_add_service,
    edit_add_namesake,
    edit_remove_service,
    edit_rename_service,
    edit_timeout,
    edit_placement,
    edit_injection,
    edit_versions,
    edit_calls,
    edit_account,
    edit_allow,
    edit_egress_callers,
    edit_port,
    edit_gateway_target,
    edit_mtls,
    edit_move,
    edit_defaults,
]


def lowered_output(lowered: pipeline.Lowered) -> list[tuple[str, str | None, str | None]]:
    from meshc.compiler.buildcache import address

    return [(m.ref, m.cluster, address(m.body)) for m in lowered.manifests]


def assert_incremental_equals_full(before: dict[str, Any], after: dict[str, Any], tmp: Path) -> None:
    """Lowering `after` with the units `before` left gives what lowering it in full gives."""
    cache = BuildCache(None)
    try:
        parsed = pipeline.parse(write(before, tmp / "before.yaml"))
    except SpecError:
        return
    remember(cache, pipeline.lower_incrementally(parsed, cache))
    try:
        parsed = pipeline.parse(write(after, tmp / "after.yaml"))
    except SpecError:
        return
    incremental = pipeline.lower_incrementally(parsed, cache)
    full = pipeline.lower(parsed)
    assert lowered_output(incremental) == lowered_output(full)
    assert_reused_rows_are_rebuilt_rows(cache, incremental)
    if incremental.fresh is not None and not verify(parsed.index, full.manifests).bugs:
        # Output the whole verifier accepts: the focused one accepts it too, from the objects
        # lowered anew alone (a probe that needs a reused one is left out or lowered anew).
        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(pipeline, "lower", fallback)
            pipeline.verify_behaviour(incremental)


def assert_reused_rows_are_rebuilt_rows(cache: BuildCache, lowered: pipeline.Lowered) -> None:
    """The units section the pack gets keeps the rows of the units this compile reused as they
    were loaded (`BuildCache._unit_rows`): exactly the rows made anew of their objects."""
    cache.prepare(lowered.manifests)
    saved = cache._unit_rows(cache.addresses)
    reused, cache.reused_units = cache.reused_units, frozenset()
    try:
        assert saved == cache._unit_rows(cache.addresses)
    finally:
        cache.reused_units = reused


@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("base", sorted(BASES))
def test_lowering_after_each_kind_of_edit_anywhere(tmp_path: Path, base: str, edit: Any) -> None:
    """Every kind of edit, on every service of the base (and with partners far and near)."""
    count = len(BASES[base]["spec"]["services"])
    for i in range(0, count, max(1, count // 5)):
        for n in (i + 1, i + count // 2):
            after = copy.deepcopy(BASES[base])
            edit(after, i, n)
            assert_incremental_equals_full(BASES[base], after, tmp_path)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.sampled_from(sorted(BASES)),
    series=st.lists(
        st.tuples(st.sampled_from(EDITS), st.integers(0, 80), st.integers(0, 80)), min_size=2, max_size=5
    ),
)
def test_lowering_after_a_series_of_edits(tmp_path: Path, base: str, series: list[Any]) -> None:
    before = copy.deepcopy(BASES[base])
    after = copy.deepcopy(before)
    for edit, i, n in series:
        edit(after, i, n)
    assert_incremental_equals_full(before, after, tmp_path)


@settings(
    max_examples=int(os.environ.get("MESHC_INCREMENTAL_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.sampled_from(sorted(BASES)),
    series=st.lists(
        st.tuples(st.sampled_from(EDITS), st.integers(0, 80), st.integers(0, 80)), min_size=1, max_size=4
    ),
)
def test_an_incremental_compile_is_byte_identical_to_a_full_one(
    tmp_path: Path, base: str, series: list[Any]
) -> None:
    work = Path(os.path.realpath(tmp_path)) / f"w{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    cache, spec, live = work / "cache", copy.deepcopy(BASES[base]), work / "out"
    path = write(spec, work / "mesh.yaml")
    assert compile_(path, str(live), cache)[0] == 0
    for edit, i, n in series:
        edit(spec, i, n)
        path = write(spec, work / "mesh.yaml")
        fresh = work / f"fresh-{len(list(work.iterdir()))}"
        expected_dir = outcome(*compile_(path, str(fresh), None), fresh)
        assert outcome(*compile_(path, str(live), cache), live) == expected_dir
        if expected_dir[0] == 0:
            assert tree(live) == tree(fresh)
        assert outcome(*compile_(path, "-", cache)) == outcome(*compile_(path, "-", None))


def test_a_one_service_edit_reuses_the_namespaces_it_does_not_reach(tmp_path: Path) -> None:
    """The property above would hold if nothing were ever reused: here a timeout edit in one
    namespace of six reuses the units that are neither it nor adjacent to it."""
    spec = spread(24, 4)
    path = write(spec, tmp_path / "mesh.yaml")
    cache = BuildCache(None)
    first = pipeline.lower_incrementally(pipeline.parse(path), cache)
    assert first.fresh is None  # nothing to reuse: a full lowering, verified in full
    remember(cache, first)
    spec["spec"]["services"][9]["traffic"]["timeout"] = "7s"  # svc-00009 in ns-2
    path = write(spec, tmp_path / "mesh.yaml")
    parsed = pipeline.parse(path)
    second = pipeline.lower_incrementally(parsed, cache)
    keys = unit_keys(parsed.loaded.data, parsed.index)
    assert keys is not None
    assert "ns-2" in second.changed
    assert second.changed <= keys.ring({"ns-2"})
    edited = parsed.index.services["svc-00009"]
    assert second.probed == {
        "svc-00009",
        *(e.caller.key for e in edited.callers),
        *(c.key for c in parsed.index.callees(edited)),
    }
    reused = set(keys.keys) - (second.fresh or set())
    assert reused, "nothing was reused"
    assert [(m.ref, m.cluster) for m in second.manifests] == [(m.ref, m.cluster) for m in lower(parsed.index)]


@pytest.mark.parametrize("edit", [edit_add_service, edit_remove_service, edit_rename_service])
def test_a_service_added_removed_or_renamed_reuses_the_namespaces_it_does_not_reach(
    tmp_path: Path, edit: Any
) -> None:
    """Who exists is not in the keys (units.py says why): a service added, removed or renamed in
    ns-5 of twelve lowers and checks again its namespace and those next to it, not the mesh (it
    was a full compile: 4.0 s at 10,000 services, 0.88x of a compile to a stream)."""
    spec = sparse(48, 4)
    cache = BuildCache(None)
    first = pipeline.run(write(spec, tmp_path / "mesh.yaml"), cache=cache)
    remember(cache, first.verified.lowered)
    edit(spec, 21, 22)  # svc-00021 in ns-5 (no route sends to it); `added-22` lands in ns-5
    path = write(spec, tmp_path / "mesh.yaml")
    parsed = pipeline.parse(path)
    keys = unit_keys(parsed.loaded.data, parsed.index)
    assert keys is not None
    lowered = pipeline.lower_incrementally(parsed, cache)
    assert lowered.fresh is not None
    assert "ns-5" in lowered.changed
    assert {"ns-0", "ns-1", "ns-9", "ns-10", "ns-11"}.isdisjoint(lowered.fresh)
    assert lowered_output(lowered) == lowered_output(pipeline.lower(parsed))
    assert pipeline.plan_rules(parsed, keys, cache).focus == lowered.changed
    assert pipeline.run(path, cache=cache).diagnostics == pipeline.run(path).diagnostics


def combined_routes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targets of the gateway routes lowering combines from now on (`ingress._http_rules`)."""
    from meshc.compiler.lower import ingress

    combined: list[str] = []
    real = ingress._http_rules

    def spy(index, route):  # type: ignore[no-untyped-def]
        combined.append(route.to.service)
        return real(index, route)

    monkeypatch.setattr(ingress, "_http_rules", spy)
    return combined


def test_a_gateway_namespace_is_lowered_again_only_when_a_route_target_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's objects are a function of the gateways and of the services its routes send
    to: an edit of another service reuses them without combining a single route; an edit of a
    target lowers them again (target 2 of issue 17: only what the change reaches)."""
    combined = combined_routes(monkeypatch)
    spec = spread(24, 4)
    routed = {r["to"]["service"] for r in spec["spec"]["gateways"][0]["routes"]}
    assert spec["spec"]["gateways"][0]["namespace"] == "ingress" and "svc-00005" in routed
    cache = BuildCache(None)
    remember(cache, pipeline.lower_incrementally(pipeline.parse(write(spec, tmp_path / "mesh.yaml")), cache))
    for i, expect_ingress in ((9, False), (5, True)):  # svc-00009 is not routed, svc-00005 is
        combined.clear()
        spec["spec"]["services"][i]["traffic"]["timeout"] = "7s"
        parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
        lowered = pipeline.lower_incrementally(parsed, cache)
        assert lowered.fresh is not None
        assert ("ingress" in lowered.fresh) is expect_ingress
        assert ("ingress" in lowered.changed) is expect_ingress
        assert bool(combined) is expect_ingress
        assert lowered_output(lowered) == lowered_output(pipeline.lower(parsed))
        # svc-00009 calls svc-00010, a route target: the probes through the reused gateway are left
        # out (nothing they read changed), not failed and then judged on the whole mesh lowered again
        with monkeypatch.context() as patched:
            patched.setattr(pipeline, "lower", fallback)
            pipeline.verify_behaviour(lowered)
        remember(cache, lowered)


def fallback(parsed: pipeline.Parsed) -> pipeline.Lowered:
    raise AssertionError("the focused behaviour verifier fell back to the whole mesh")


def test_the_gateways_whose_targets_did_not_change_are_reused_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route target edited lowers its gateway's namespace anew; the other gateways there keep
    their Gateway and VirtualService (`units.gateway_keys`): their routes are not combined again.
    At 10,000 services (20 gateways of 100 routes in one namespace) that was 0.1 s of a 1.7 s
    recompile. Not reused: a gateway with a route to a probed service (the edited one, its callers
    and callees: the verifier probes through it), one with a wildcard host and one whose host
    another gateway's covers (a probe through one could be served by the other)."""
    combined = combined_routes(monkeypatch)
    spec = gateways(24, 4)
    cache = BuildCache(None)
    remember(cache, pipeline.lower_incrementally(pipeline.parse(write(spec, tmp_path / "mesh.yaml")), cache))
    assert set(cache.gateways) == {f"gw-00{i}" for i in range(5)}
    for timeout in ("7s", "8s"):
        combined.clear()
        spec["spec"]["services"][16]["traffic"]["timeout"] = (
            timeout  # gw-000's; it calls 17 and 21 (gw-001's)
        )
        parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
        lowered = pipeline.lower_incrementally(parsed, cache)
        assert lowered.fresh is not None and "ingress" in lowered.fresh
        assert lowered.probed == {"svc-00016", "svc-00017", "svc-00021"}
        assert lowered.unseen_gateways == {"gw-002"}
        # gw-000's routes, gw-001's, gw-003's and gw-004's; not gw-002's (svc-00010, svc-00018)
        assert sorted(combined) == [f"svc-{i:05d}" for i in (0, 3, 5, 7, 8, 13, 16, 21)]
        assert lowered_output(lowered) == lowered_output(pipeline.lower(parsed))
        assert_reused_rows_are_rebuilt_rows(cache, lowered)
        with monkeypatch.context() as patched:
            patched.setattr(pipeline, "lower", fallback)
            pipeline.verify_behaviour(lowered)
        remember(cache, lowered)


def _shared_by_a_gateway(spec: dict[str, Any]) -> None:
    other = copy.deepcopy(spec["spec"]["gateways"][2])  # gw-002's host, on another port (not MC106)
    other.update(name="gw-005", servers=[{"port": 8080, "protocol": "http"}])
    spec["spec"]["gateways"].append(other)


def _shared_by_an_egress_entry(spec: dict[str, Any]) -> None:
    spec["spec"]["egress"][0]["hosts"].append("app2.example.com")


@pytest.mark.parametrize("share", [_shared_by_a_gateway, _shared_by_an_egress_entry])
def test_a_gateway_whose_host_is_served_elsewhere_is_lowered_anew(tmp_path: Path, share: Any) -> None:
    """gw-002 reused and hidden from the verifier, a probe of the other gateway (or egress
    gateway) serving its host could be judged without it: it is not reused."""
    spec = gateways(24, 4)
    share(spec)
    cache = BuildCache(None)
    remember(cache, pipeline.lower_incrementally(pipeline.parse(write(spec, tmp_path / "mesh.yaml")), cache))
    spec["spec"]["services"][16]["traffic"]["timeout"] = "7s"
    parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
    lowered = pipeline.lower_incrementally(parsed, cache)
    assert lowered.fresh is not None and "ingress" in lowered.fresh
    assert lowered.unseen_gateways == frozenset()
    assert lowered_output(lowered) == lowered_output(pipeline.lower(parsed))


def test_the_hosts_a_gateway_serves_are_its_servers_own(tmp_path: Path) -> None:
    """A gateway's `hosts` (`*` unless given) is only the default of its servers: one whose servers
    name their hosts is no wildcard, and does not keep every other gateway from being reused."""
    spec = gateways(24, 4)
    first = spec["spec"]["gateways"][0]
    del first["hosts"]
    first["servers"] = [{"port": 80, "protocol": "http", "hosts": ["App0.example.com"]}]
    parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
    served = {name: pipeline._served_hosts(gw) for name, (_, gw) in parsed.index.gateways.items()}
    assert served["gw-000"] == {"app0.example.com"}
    assert served["gw-003"] == {"*.wild.example.com"}


def test_a_reused_gateway_is_out_of_the_verifiers_sight(tmp_path: Path) -> None:
    """The verifier gets neither the reused gateway's objects (they hold no body) nor a probe
    through it: a probe left in would judge a gateway it cannot see. With a JWT on the shared
    gateway pods, every gateway gets a probe whatever the focus (another team's host)."""
    spec = gateways(24, 4)
    for gateway in spec["spec"]["gateways"][1:3]:
        gateway["jwt"] = {
            "issuer": "https://auth.example.com",
            "jwksUri": "https://auth.example.com/jwks.json",
        }
    cache = BuildCache(None)
    remember(cache, pipeline.lower_incrementally(pipeline.parse(write(spec, tmp_path / "mesh.yaml")), cache))
    spec["spec"]["services"][16]["traffic"]["timeout"] = "7s"
    parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
    lowered = pipeline.lower_incrementally(parsed, cache)
    assert lowered.unseen_gateways == {"gw-002"}
    seen: list[Any] = []
    probed: list[str] = []
    real = verify

    def spy(index, manifests, **kwargs):  # type: ignore[no-untyped-def]
        seen.extend(manifests)
        report = real(index, manifests, **kwargs)
        probed.extend(r.probe.source for r in report.results)
        return report

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("meshc.compiler.verify.verify", spy)
        pipeline.verify_behaviour(lowered)
    assert not [m for m in seen if m.owner == "gateway/gw-002" and m.kind in ("Gateway", "VirtualService")]
    assert [m for m in seen if m.owner == "gateway/gw-000" and m.kind == "VirtualService"]
    assert "gateway/gw-000" in probed and "gateway/gw-001" in probed and "gateway/gw-002" not in probed


def test_a_new_call_to_a_routed_service_is_verified_without_lowering_the_whole_mesh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call added from an unrouted service to a routed one elsewhere: the callee's objects change
    (its policy admits the new caller), so its gateway probes run, and they need the gateway's
    objects lowered anew too. Judged against the reused gateway, each such probe "found no server"
    and the verifier fell back to lowering and probing the whole mesh (2.3 s of a 4.8 s recompile at
    10,000 services, longer than a full compile)."""
    spec = spread(48, 4)
    routed = {r["to"]["service"] for r in spec["spec"]["gateways"][0]["routes"]}
    services = spec["spec"]["services"]
    assert services[9]["name"] not in routed and services[20]["name"] in routed
    assert services[9]["namespace"] != services[20]["namespace"]
    cache = BuildCache(None)
    remember(cache, pipeline.lower_incrementally(pipeline.parse(write(spec, tmp_path / "mesh.yaml")), cache))
    services[9]["calls"].append({"service": f"{services[20]['namespace']}/{services[20]['name']}"})
    parsed = pipeline.parse(write(spec, tmp_path / "mesh.yaml"))
    lowered = pipeline.lower_incrementally(parsed, cache)
    assert lowered.fresh is not None and "ingress" in lowered.fresh
    assert lowered_output(lowered) == lowered_output(pipeline.lower(parsed))
    monkeypatch.setattr(pipeline, "lower", fallback)
    pipeline.verify_behaviour(lowered)


def test_the_rules_look_again_only_at_the_namespaces_whose_key_changed(tmp_path: Path) -> None:
    """The local rules' findings of the other namespaces are the previous compile's, at their new
    place in the file (an edit above them moved their lines)."""
    spec = spread(24, 4)
    cache = BuildCache(None)
    first = pipeline.run(write(spec, tmp_path / "mesh.yaml"), cache=cache)
    assert "MC109" in {d.code for d in first.diagnostics}
    remember(cache, first.verified.lowered)
    spec["spec"]["services"][9]["calls"].append({"service": "ns-3/svc-00013", "methods": ["GET", "PUT"]})
    path = write(spec, tmp_path / "mesh.yaml")
    parsed = pipeline.parse(path)
    keys = unit_keys(parsed.loaded.data, parsed.index)
    assert keys is not None
    plan = pipeline.plan_rules(parsed, keys, cache)
    assert plan.focus == {"ns-1", "ns-2", "ns-3"}
    assert {service[0] for _, _, service in plan.reused} == {"ns-0", "ns-4", "ns-5"}
    second = pipeline.run(path, cache=cache)
    assert second.diagnostics == pipeline.run(path).diagnostics
    assert [d.line for d in second.diagnostics] != [d.line for d in first.diagnostics]  # they moved


def remember(cache: BuildCache, lowered: pipeline.Lowered) -> None:
    """What saving the pack and opening it again would leave: the units and their texts."""
    from meshc.compiler.buildcache import address

    cache.prepare(lowered.manifests)
    rows = cache._unit_rows(cache.addresses).whole()
    cache.spans = {a: i for i, a in enumerate(a for a in cache.addresses if a is not None)}
    cache.services = dict(cache.kept_services)
    cache.findings = {unit: [list(row) for row in rows] for unit, rows in cache.kept_findings.items()}
    names, units, keys = rows["gateways"]
    cache.gateways = dict(zip(names, zip(units, keys, strict=True), strict=True))
    start = 0
    for unit, key, count in zip(rows["names"], rows["keys"], rows["counts"], strict=True):
        cache.units[unit] = (
            key,
            list(zip(*(c[start : start + count] for c in rows["columns"]), strict=True)),
        )
        start += count
    assert all(address(m.body) for m in lowered.manifests)


def test_an_edit_that_changes_no_file_still_keeps_the_new_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o DIR` has nothing to write (the output is the same), but the units' keys changed: the
    cache keeps the new ones, so the next compile reuses those namespaces again."""
    from meshc.compiler.buildcache import open_cache

    spec = spread(24, 4)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    before = tree(out)
    last = spec["spec"]["services"][23]  # tier 3: it calls nobody
    assert last["calls"] == []
    del last["calls"]  # the empty list left out: the same output, other data
    path = write(spec, tmp_path / "mesh.yaml")
    assert compile_(path, str(out), cache)[0] == 0
    assert tree(out) == before
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    saved = open_cache(path)
    parsed = pipeline.parse(path)
    keys = unit_keys(parsed.loaded.data, parsed.index)
    assert keys is not None
    assert {unit: key for unit, (key, _) in saved.units.items()} == keys.keys
