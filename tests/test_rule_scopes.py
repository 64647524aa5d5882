"""What the rules' SCOPE promises an incremental compile (docs/rule-scopes.md), checked.

- Restriction: a local rule's findings lie under `spec.services[i]`, and with `focus={N}` it yields
  exactly the whole-mesh run's findings of N's services.
- Dependency: a local rule's findings of a namespace that neither holds nor is adjacent to an
  edited service (in the old or the new spec) do not change.
"""

from __future__ import annotations

import copy
import importlib
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meshc.compiler.index import MeshIndex
from meshc.compiler.pipeline import parse
from meshc.compiler.rules import (
    RULE_MODULES,
    RULES,
    Finding,
    Rule,
    RuleContext,
    owned_findings,
    run_rules,
    to_diagnostics,
)
from meshc.compiler.rules.base import SCOPES
from meshc.compiler.rules.walk import adjacent_namespaces, namespace_adjacency, service_owner
from meshc.spec.models import Mesh
from tests.fuzz.strategies import mutated_examples

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FILES = sorted((ROOT / "tests" / "rules" / "fixtures").glob("*/*.yaml"))
EXAMPLES = sorted(ROOT.glob("examples/*/mesh.yaml"))
CUE_EXAMPLES = sorted(ROOT.glob("examples/*/mesh.cue"))
LOCAL = tuple(rule for rule in RULES if rule.check_services is not None)


def _context(mesh: Mesh, focus: frozenset[str] | None = None) -> RuleContext:
    return RuleContext(mesh, MeshIndex(mesh), focus)


def _namespaces(mesh: Mesh) -> list[str]:
    spec = mesh.spec
    return sorted({svc.namespace or spec.defaults.namespace for svc in spec.services})


def _local_findings(rule: Rule, ctx: RuleContext) -> list[Finding]:
    assert rule.check_services is not None
    return list(rule.check_services(ctx))


def _of_namespace(mesh: Mesh, findings: Iterable[Finding], namespace: str) -> Counter[Finding]:
    return Counter(f for f in findings if (service_owner(mesh, f.path) or ("",))[0] == namespace)


def assert_restricted(mesh: Mesh) -> None:
    """Every local rule: findings under a service only, and focus={N} gives the whole run's
    findings of N's services (same paths, messages, hints, severities; as a multiset)."""
    whole = _context(mesh)
    namespaces = _namespaces(mesh)
    for rule in LOCAL:
        found = _local_findings(rule, whole)
        outside = [f.path for f in found if service_owner(mesh, f.path) is None]
        assert not outside, f"{rule.code} (local) reports outside spec.services: {outside}"
        for namespace in namespaces:
            focused = Counter(_local_findings(rule, RuleContext(mesh, whole.index, frozenset({namespace}))))
            assert focused == _of_namespace(mesh, found, namespace), (rule.code, namespace)
        assert _local_findings(rule, RuleContext(mesh, whole.index, frozenset({"no-such-namespace"}))) == []


# --- catalogue -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULE_MODULES)
def test_every_rule_module_states_its_scope(name: str) -> None:
    module = importlib.import_module(f"meshc.compiler.rules.{name}")
    assert getattr(module, "SCOPE", None) in SCOPES, f"{name}: SCOPE = 'namespace' or 'mesh'"
    if module.SCOPE == "mesh":
        assert not hasattr(module, "check_mesh"), f"{name}: a global rule's check is its mesh part"


def test_the_catalogue_refuses_a_module_without_scope() -> None:
    module = importlib.import_module("meshc.compiler.rules.mc104_unknown_protocol")

    class Unscoped:
        __name__ = "unscoped"
        __doc__ = module.__doc__
        CODE, NAME, SEVERITY, check = module.CODE, module.NAME, module.SEVERITY, module.check

    with pytest.raises(ValueError, match="SCOPE"):
        Rule.from_module(Unscoped)  # type: ignore[arg-type]


# --- restriction -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_local_rules_restrict_to_the_focus_on_fixtures_and_examples(path: Path) -> None:
    parsed = parse(path)
    assert parsed.mesh is not None
    assert_restricted(parsed.mesh)


@pytest.mark.skipif(
    not (ROOT / "node_modules").exists() and shutil.which("cue") is None, reason="no CUE toolchain"
)
@pytest.mark.parametrize("path", CUE_EXAMPLES, ids=lambda p: p.parent.name)
def test_local_rules_restrict_to_the_focus_on_cue_examples(path: Path) -> None:
    parsed = parse(path)
    assert parsed.mesh is not None
    assert_restricted(parsed.mesh)


def test_owned_findings_name_the_service_and_run_rules_is_their_union() -> None:
    parsed = parse(ROOT / "examples" / "namespaces" / "mesh.yaml")
    assert parsed.mesh is not None and parsed.index is not None and parsed.loaded is not None
    whole = RuleContext(parsed.mesh, parsed.index)
    found = owned_findings(whole)
    for rule, finding, service in found:
        if service is not None:
            assert rule.scope == "namespace" and service == service_owner(parsed.mesh, finding.path)
    # a compile that focuses on each namespace in turn and keeps the global findings once gets
    # what the whole run gets
    pieced = [item for item in found if item.service is None]
    for namespace in _namespaces(parsed.mesh):
        focused = RuleContext(parsed.mesh, parsed.index, frozenset({namespace}))
        pieced += [item for item in owned_findings(focused) if item.service is not None]
    source = parsed.loaded.source
    assert to_diagnostics(pieced, source) == run_rules(whole, source)


# --- generated multi-namespace meshes --------------------------------------------------------------

NAMESPACES = ("n0", "n1", "n2", "n3", "n4")
NAMES = ("a", "b", "c")
DURATIONS = ("100ms", "1s", "2s", "5s", "30s")


def _ports() -> st.SearchStrategy[list[dict[str, Any]]]:
    port = st.fixed_dictionaries(
        {"port": st.sampled_from([80, 8080, 9090, 5432])},
        optional={"protocol": st.sampled_from(["http", "grpc", "tcp", "https"]), "name": st.just("web")},
    )
    return st.lists(port, max_size=3, unique_by=lambda p: p["port"])


def _calls(identities: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    refs = st.sampled_from([*identities, *NAMES, "zz", "n9/a"])
    call = st.fixed_dictionaries(
        {"service": refs},
        optional={
            "ports": st.lists(st.sampled_from([80, 8080, 9090, 1]), max_size=2, unique=True),
            "protocol": st.sampled_from(["http", "grpc", "tcp"]),
            "methods": st.lists(st.sampled_from(["GET", "POST"]), min_size=1, max_size=2, unique=True),
            "paths": st.lists(
                st.sampled_from(["/a", "/pkg.Svc/Get", "a"]), min_size=1, max_size=2, unique=True
            ),
        },
    )
    return st.lists(call, max_size=3)


def _retries() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"attempts": st.integers(0, 5)}, optional={"perTryTimeout": st.sampled_from(DURATIONS)}
    )


def _traffic() -> st.SearchStrategy[dict[str, Any]]:
    route = st.fixed_dictionaries(
        {},
        optional={
            "match": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "path": st.sampled_from([{"prefix": "/a"}, {"exact": "/a/b"}, {"prefix": "a"}]),
                        "claims": st.just({"group": {"exact": "x"}}),
                    },
                ),
                max_size=2,
            ),
            "timeout": st.sampled_from(DURATIONS),
            "retries": _retries(),
            "fault": st.just({"abort": {"status": 503, "percent": 10}}),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "timeout": st.sampled_from(DURATIONS),
            "retries": _retries(),
            "routes": st.lists(route, max_size=2),
            "exportTo": st.sampled_from([["."], ["*"], ["n1"], ["callers"]]),
            "outlierDetection": st.just({"consecutive5xxErrors": 5}),
        },
    )


def _security() -> st.SearchStrategy[dict[str, Any]]:
    source = st.sampled_from([{"mesh": True}, {"namespaces": ["n1"]}, {"plaintext": True}, {}])
    allow = st.fixed_dictionaries(
        {"source": source},
        optional={"ports": st.just([8080]), "methods": st.just(["GET"]), "claims": st.just({"g": ["x"]})},
    )
    issuer = st.fixed_dictionaries(
        {
            "issuer": st.sampled_from(["https://a.example", "https://b.example", " "]),
            "jwksUri": st.sampled_from(["https://a.example/jwks", "ftp://x"]),
        },
    )
    jwt = st.fixed_dictionaries(
        {"issuers": st.lists(issuer, min_size=1, max_size=2)}, optional={"required": st.booleans()}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "mtls": st.sampled_from(["STRICT", "PERMISSIVE", "DISABLE"]),
            "portMtls": st.lists(
                st.fixed_dictionaries(
                    {"port": st.sampled_from([80, 8080, 7]), "mode": st.sampled_from(["DISABLE", "STRICT"])}
                ),
                max_size=1,
            ),
            "allow": st.lists(allow, max_size=2),
            "jwt": jwt,
        },
    )


def _fields(identities: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy per service field: a body draws some of them, an edit redraws some."""
    return {
        "ports": _ports(),
        "versions": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["v1", "v2", "V3"])},
                optional={"image": st.just("nginx:1.27"), "env": st.just({"A=B": "x"})},
            ),
            max_size=2,
        ),
        "calls": _calls(identities),
        "traffic": _traffic(),
        "security": _security(),
        "injection": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans(),
                "mode": st.sampled_from(["auto", "manual"]),
                "revision": st.sampled_from(["canary", "bad/rev"]),
            },
        ),
        "slo": st.sampled_from(
            [{"availability": 99.9}, {"latency": {"p99": "250ms"}}, {"availability": 99.999}]
        ),
        "telemetry": st.sampled_from([{"tracing": {"provider": "nope"}}, {"metrics": {}}]),
        "placement": st.sampled_from([["east"], ["west"], ["east", "west"], ["mars"]]),
        "account": st.sampled_from(["shared", "Bad_Account"]),
        "workload": st.sampled_from(
            [
                {"probes": {"readiness": {"port": 7, "path": "/"}}},
                {"autoscaling": {"minReplicas": 3, "maxReplicas": 2}},
            ]
        ),
    }


@st.composite
def _meshes(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    # several namespaces, few services each and few calls: so that most namespaces are not
    # adjacent to a given one, and chains of calls cross several namespaces
    namespaces = draw(st.lists(st.sampled_from(NAMESPACES), min_size=3, max_size=5, unique=True))
    identities = [
        f"{ns}/{name}"
        for ns in namespaces
        for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
    ]
    fields = _fields(identities)
    services = []
    for identity in identities:
        ns, name = identity.split("/")
        body: dict[str, Any] = {"name": name, "namespace": ns}
        for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=6, unique=True)):
            body[key] = draw(fields[key])
        body.setdefault("ports", [{"port": 8080, "protocol": "http"}])
        body.setdefault(
            "calls", [{"service": c} for c in draw(st.lists(st.sampled_from(identities), max_size=2))]
        )
        if draw(st.booleans()):
            body.setdefault("traffic", {"timeout": draw(st.sampled_from(DURATIONS))})
        services.append(body)
    spec: dict[str, Any] = {
        "services": services,
        "security": {"authorization": {"defaultDeny": draw(st.booleans())}},
    }
    if draw(st.integers(0, 3)) == 0:
        spec["defaults"] = {
            "traffic": {"timeout": draw(st.sampled_from(DURATIONS)), "retries": draw(_retries())}
        }
    if draw(st.booleans()):
        spec["clusters"] = [
            {"name": "east", "network": "n-east", "region": "r1"},
            {"name": "west", "network": "n-west", "region": "r2"},
        ]
    if draw(st.booleans()):
        spec["namespaces"] = [
            {
                "name": ns,
                "mtls": draw(st.sampled_from(["STRICT", "DISABLE"])),
                "injection": {"enabled": draw(st.booleans())},
            }
            for ns in draw(st.lists(st.sampled_from(namespaces), max_size=2, unique=True))
        ]
    if draw(st.booleans()):
        target = draw(st.sampled_from(identities))
        spec["gateways"] = [
            {
                "name": "public",
                "hosts": ["example.com"],
                "servers": [{"port": 80, "protocol": "http"}],
                "routes": [{"to": {"service": target, "port": 8080}}],
            }
        ]
    if draw(st.booleans()):
        spec["egress"] = [
            {
                "name": "api",
                "hosts": ["api.example.com"],
                "ports": [{"port": 443, "protocol": "tls"}],
                "callers": draw(st.lists(st.sampled_from(identities), min_size=1, max_size=2, unique=True)),
            }
        ]
    return {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "m"},
        "spec": spec,
    }, identities


@st.composite
def _edits(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A mesh, the same mesh with one service's fields redrawn (its identity kept), and the
    namespace of that service."""
    data, identities = draw(_meshes())
    fields = _fields(identities)
    edited = copy.deepcopy(data)
    services = edited["spec"]["services"]
    k = draw(st.integers(0, len(services) - 1))
    service = services[k]
    # the fields other services' findings read (timeouts and retries along calls, ports, the
    # calls themselves) more often than the rest
    keys = st.sampled_from([*sorted(fields), "traffic", "traffic", "traffic", "calls", "ports", "security"])
    for key in draw(st.lists(keys, min_size=1, max_size=3, unique=True)):
        if key in service and draw(st.booleans()):
            del service[key]
        else:
            service[key] = draw(fields[key])
    return data, edited, service["namespace"]


@st.composite
def _chain_edits(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A chain of calls through namespaces n0 -> n1 -> ... (one service each, some random
    fields), and one of its services edited: what a rule that follows calls further than one hop
    (timeout budgets, retry amplification) reads beyond the neighbours."""
    length = draw(st.integers(3, 5))
    identities = [f"{NAMESPACES[k]}/a" for k in range(length)]
    fields = _fields(identities)
    timeouts = st.sampled_from([None, None, None, *DURATIONS])  # unbounded hops make long chains

    def body(k: int) -> dict[str, Any]:
        service: dict[str, Any] = {
            "name": "a",
            "namespace": NAMESPACES[k],
            "ports": [{"port": 8080, "protocol": "http"}],
        }
        for key in draw(st.lists(st.sampled_from(["security", "slo", "injection", "versions"]), max_size=2)):
            service[key] = draw(fields[key])
        traffic: dict[str, Any] = {}
        timeout = draw(timeouts)
        if timeout is not None:
            traffic["timeout"] = timeout
        if draw(st.integers(0, 2)) == 0:
            traffic["retries"] = draw(_retries())
        if traffic:
            service["traffic"] = traffic
        service["calls"] = [{"service": identities[k + 1]}] if k + 1 < length else []
        return service

    services = [body(k) for k in range(length)]
    data = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "m"},
        "spec": {"services": services},
    }
    edited = copy.deepcopy(data)
    k = draw(st.integers(0, length - 1))
    replacement = body(k)
    edited["spec"]["services"][k] = replacement
    return data, edited, replacement["namespace"]


def _validate(data: dict[str, Any]) -> Mesh | None:
    try:
        return Mesh.model_validate(data)
    except ValidationError:
        return None


GENERATED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


@GENERATED
@given(case=_meshes())
def test_local_rules_restrict_to_the_focus_on_generated_meshes(
    case: tuple[dict[str, Any], list[str]],
) -> None:
    mesh = _validate(case[0])
    if mesh is not None:
        assert_restricted(mesh)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=mutated_examples())
def test_local_rules_restrict_to_the_focus_on_mutated_examples(data: Any) -> None:
    mesh = _validate(data) if isinstance(data, dict) else None
    if mesh is not None:
        assert_restricted(mesh)


def local_findings_by_namespace(
    mesh: Mesh, rules: Iterable[Rule] = LOCAL
) -> dict[str, dict[str, Counter[Finding]]]:
    ctx = _context(mesh)
    out: dict[str, dict[str, Counter[Finding]]] = {}
    for rule in rules:
        found = _local_findings(rule, ctx)
        for namespace in _namespaces(mesh):
            out.setdefault(namespace, {})[rule.code] = _of_namespace(mesh, found, namespace)
    return out


def assert_unreached_namespaces_keep_their_findings(
    old: Mesh, new: Mesh, edited: str, rules: Iterable[Rule] = LOCAL
) -> None:
    before_index, after_index = MeshIndex(old), MeshIndex(new)
    for index in (before_index, after_index):  # the one-pass form an incremental compile uses
        held = {info.namespace for info in index.services.values()}
        assert namespace_adjacency(index) == {ns: adjacent_namespaces(index, ns) for ns in held}
    reached = {edited} | adjacent_namespaces(before_index, edited) | adjacent_namespaces(after_index, edited)
    before = local_findings_by_namespace(old, rules)
    after = local_findings_by_namespace(new, rules)
    for namespace in sorted(set(before) - reached):
        assert before[namespace] == after[namespace], f"namespace {namespace} changed (edited {edited})"


@GENERATED
@given(case=_edits())
def test_an_edit_changes_no_local_finding_beyond_its_namespace_and_neighbours(
    case: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    old, new = _validate(case[0]), _validate(case[1])
    if old is not None and new is not None:
        assert_unreached_namespaces_keep_their_findings(old, new, case[2])


@settings(GENERATED, max_examples=300)
@given(case=_chain_edits())
def test_an_edit_along_a_chain_of_calls_changes_no_local_finding_two_hops_away(
    case: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """Fails when a rule that follows calls further than one hop (MC110, MC111) is marked local."""
    old, new = _validate(case[0]), _validate(case[1])
    assert old is not None and new is not None
    assert_unreached_namespaces_keep_their_findings(old, new, case[2])


def _rooted(mesh: Mesh, found: Counter[Finding]) -> Counter[tuple[Any, ...]]:
    """Findings with their service's place in the spec replaced by its identity: what the build
    cache keeps (`pipeline.FindingRow`) and puts back at the service's new place."""
    out: Counter[tuple[Any, ...]] = Counter()
    for finding, count in found.items():
        out[(service_owner(mesh, finding.path), finding.path[3:], finding.message, finding.hint)] += count
    return out


def _referenced(data: dict[str, Any], identity: str) -> bool:
    """Whether anything names the service `identity` (`namespace/name`, or its bare name)."""
    names = {identity, identity.split("/")[1]}
    spec = data["spec"]
    calls = [c["service"] for s in spec["services"] for c in s.get("calls", [])]
    routes = [r["to"]["service"] for g in spec.get("gateways", []) for r in g["routes"]]
    callers = [c for e in spec.get("egress", []) for c in e["callers"]]
    return bool(names & {*calls, *routes, *callers})


@st.composite
def _additions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A single-cluster mesh and the same mesh with one service added under a name nothing holds
    yet, or with one service nothing names removed (the first mesh is the one before), and the
    namespace of that service."""
    data, identities = draw(_meshes())
    data["spec"].pop("clusters", None)  # a multi-cluster mesh keys who exists (units.unit_keys)
    changed = copy.deepcopy(data)
    services = changed["spec"]["services"]
    if draw(st.booleans()):
        namespace = draw(st.sampled_from(NAMESPACES))
        body: dict[str, Any] = {"name": "newcomer", "namespace": namespace}
        fields = _fields(identities)
        for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=6, unique=True)):
            body[key] = draw(fields[key])
        body.setdefault("ports", [{"port": 8080, "protocol": "http"}])
        services.insert(draw(st.integers(0, len(services))), body)
        return data, changed, namespace
    k = draw(st.integers(0, len(services) - 1))
    identity = f"{services[k]['namespace']}/{services[k]['name']}"
    namesakes = [s for s in services if s["name"] == services[k]["name"]]
    if _referenced(data, identity) or len(namesakes) > 1:
        reject()  # named (the rules reject its removal), or a shared name (every key changes)
    del services[k]
    return changed, data, identity.split("/")[0]  # removing it is adding it, the other way round


@GENERATED
@given(case=_additions())
def test_a_service_added_or_removed_changes_no_local_finding_beyond_its_namespace_and_neighbours(
    case: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """Who exists is not a key input (units.unit_keys): a service that nothing names, added or
    removed, changes the local findings of its namespace and of those adjacent to it only, once
    each finding is put back at its service's new place."""
    old, new = _validate(case[0]), _validate(case[1])
    if old is None or new is None or not old.spec.services:
        return
    edited = case[2]
    before_index, after_index = MeshIndex(old), MeshIndex(new)
    reached = {edited} | adjacent_namespaces(before_index, edited) | adjacent_namespaces(after_index, edited)
    for rule in LOCAL:
        before, after = _local_findings(rule, _context(old)), _local_findings(rule, _context(new))
        for namespace in sorted(set(_namespaces(old)) - reached):
            assert _rooted(old, _of_namespace(old, before, namespace)) == _rooted(
                new, _of_namespace(new, after, namespace)
            ), f"{rule.code}: namespace {namespace} changed ({edited} gained or lost a service)"
