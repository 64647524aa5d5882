"""The same service name in several namespaces (issue 14, item 1): `httpbin` and `sleep` in `foo`
and in `bar`, as Istio's security tasks write them. Identity is (namespace, name); a reference is
`name` or `namespace/name`, and a bare name held by several namespaces is an error (MC240), never a
silent pick."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, meshc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import SpecError, run
from meshc.compiler.review.intent import diff_intent
from meshc.compiler.review.view import build_views
from meshc.compiler.verify import verify
from meshc.spec.loader import load_spec

EXAMPLE = REPO / "examples" / "namespaces" / "mesh.yaml"


def _spec() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _write(tmp_path: Path, spec: dict[str, Any], name: str = "mesh.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _errors(path: Path) -> list[Any]:
    try:
        c = run(path, schemas=False, behaviour=False)
    except SpecError as exc:
        return [d for d in exc.diagnostics if d.severity == "error"]
    return [d for d in c.diagnostics if d.severity == "error"]


def _by(manifests: list[Manifest], kind: str, namespace: str, name: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if (m.kind, m.namespace, m.name) == (kind, namespace, name)]
    return found.body


def _principals(policy: dict[str, Any]) -> set[str]:
    return {
        p
        for rule in policy["spec"].get("rules", [])
        for f in rule.get("from", [])
        for p in f["source"].get("principals", [])
    }


def test_the_example_compiles_with_every_check() -> None:
    c = run(EXAMPLE)
    assert [d for d in c.diagnostics if d.severity == "error"] == []
    kinds = Counter((m.kind, m.namespace, m.name) for m in c.manifests)
    assert [k for k, n in kinds.items() if n > 1] == []
    for ns in ("foo", "bar"):
        for kind in (
            "Service",
            "DestinationRule",
            "VirtualService",
            "Sidecar",
            "AuthorizationPolicy",
            "Deployment",
        ):
            assert _by(c.manifests, kind, ns, "httpbin-v1" if kind == "Deployment" else "httpbin")


def test_each_httpbin_admits_its_own_callers_by_their_namespace() -> None:
    c = run(EXAMPLE, behaviour=False)
    foo = _principals(_by(c.manifests, "AuthorizationPolicy", "foo", "httpbin"))
    bar = _principals(_by(c.manifests, "AuthorizationPolicy", "bar", "httpbin"))
    assert "cluster.local/ns/foo/sa/sleep" in foo
    assert "cluster.local/ns/bar/sa/sleep" not in foo
    assert {"cluster.local/ns/foo/sa/sleep", "cluster.local/ns/bar/sa/sleep"} <= bar


def test_hosts_are_the_namespace_s_fqdn() -> None:
    c = run(EXAMPLE, behaviour=False)
    for ns in ("foo", "bar"):
        dr = _by(c.manifests, "DestinationRule", ns, "httpbin")
        assert dr["spec"]["host"] == f"httpbin.{ns}.svc.cluster.local"
        vs = _by(c.manifests, "VirtualService", ns, "httpbin")
        assert vs["spec"]["hosts"] == [f"httpbin.{ns}.svc.cluster.local"]
    foo_sleep = _by(c.manifests, "Sidecar", "foo", "sleep")["spec"]["egress"][0]["hosts"]
    assert "foo/httpbin.foo.svc.cluster.local" in foo_sleep
    assert "bar/httpbin.bar.svc.cluster.local" in foo_sleep
    bar_sleep = _by(c.manifests, "Sidecar", "bar", "sleep")["spec"]["egress"][0]["hosts"]
    assert "bar/httpbin.bar.svc.cluster.local" in bar_sleep
    assert "foo/httpbin.foo.svc.cluster.local" not in bar_sleep
    gateway_vs = [m for m in c.manifests if m.kind == "VirtualService" and m.namespace == "istio-system"]
    destinations = {
        r["destination"]["host"] for m in gateway_vs for h in m.body["spec"]["http"] for r in h["route"]
    }
    assert destinations == {"httpbin.foo.svc.cluster.local", "httpbin.bar.svc.cluster.local"}


def test_the_verifier_denies_a_caller_of_bar_httpbin_at_foo_httpbin() -> None:
    denied = meshc("can-i", str(EXAMPLE), "--from", "bar/sleep", "--to", "foo/httpbin", "--port", "8000")
    assert denied.returncode == 1, denied.stdout + denied.stderr
    assert "DENY" in denied.stdout
    allowed = meshc("can-i", str(EXAMPLE), "--from", "bar/sleep", "--to", "bar/httpbin", "--port", "8000")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    cross = meshc("can-i", str(EXAMPLE), "--from", "foo/sleep", "--to", "bar/httpbin", "--path", "/ip")
    assert cross.returncode == 0, cross.stdout + cross.stderr


def test_the_verifier_catches_a_policy_that_admits_the_other_namespace() -> None:
    """The verifier models both httpbins apart: admit bar's sleep at foo's httpbin and a probe fails."""
    c = run(EXAMPLE, behaviour=False)
    assert verify(c.index, c.manifests).bugs == []

    def admit_bar_sleep(body: dict[str, Any]) -> None:
        for rule in body["spec"]["rules"]:
            for f in rule.get("from", []):
                if "cluster.local/ns/foo/sa/sleep" in f["source"].get("principals", []):
                    f["source"]["principals"].append("cluster.local/ns/bar/sa/sleep")

    def import_foo_httpbin(body: dict[str, Any]) -> None:
        body["spec"]["egress"][0]["hosts"].append("foo/httpbin.foo.svc.cluster.local")

    def changed(edits: dict[tuple[str, str, str], Any]) -> list[Manifest]:
        out = []
        for m in c.manifests:
            edit = edits.get((m.kind, m.namespace, m.name))
            if edit is not None:
                body = copy.deepcopy(m.body)
                edit(body)
                m = Manifest(m.kind, m.namespace, m.name, body, m.cluster, m.owner)
            out.append(m)
        return out

    policy, sidecar = ("AuthorizationPolicy", "foo", "httpbin"), ("Sidecar", "bar", "sleep")
    # bar's sleep sees foo's httpbin, but foo's httpbin's policy still refuses it: nothing to report
    assert verify(c.index, changed({sidecar: import_foo_httpbin})).bugs == []
    # and once the policy admits it too, the non-edge probe gets through: a meshc bug
    failures = [
        r.probe.key
        for r in verify(c.index, changed({sidecar: import_foo_httpbin, policy: admit_bar_sleep})).bugs
    ]
    assert "non-edge: bar/sleep -> foo/httpbin :8000" in failures, failures


def test_same_name_in_one_namespace_is_still_a_duplicate(tmp_path: Path) -> None:
    spec = _spec()
    spec["spec"]["services"][2]["namespace"] = "foo"
    errors = _errors(_write(tmp_path, spec))
    mc102 = [d for d in errors if d.code == "MC102"]
    assert len(mc102) == 1
    assert "'httpbin'" in mc102[0].message and "namespace 'foo'" in mc102[0].message


def test_a_bare_ambiguous_reference_is_an_error_at_the_reference(tmp_path: Path) -> None:
    spec = _spec()
    spec["spec"]["services"][3]["calls"][0]["service"] = "httpbin"
    path = _write(tmp_path, spec)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "service: httpbin" in text)
    result = meshc("validate", str(path))
    assert result.returncode == 1
    (finding,) = [x for x in result.stdout.splitlines() + result.stderr.splitlines() if "MC240" in x]
    assert finding.startswith(f"{path}:{line}:")
    assert "namespaces bar, foo" in finding
    text = result.stdout + result.stderr
    assert "'bar/httpbin'" in text and "'foo/httpbin'" in text


@pytest.mark.parametrize(
    ("where", "edit"),
    [
        ("call", lambda s: s["spec"]["services"][1]["calls"].__setitem__(0, {"service": "httpbin"})),
        (
            "gateway route",
            lambda s: s["spec"]["gateways"][0]["routes"][1]["to"].__setitem__("service", "httpbin"),
        ),
        ("egress caller", lambda s: s["spec"]["egress"][0].__setitem__("callers", ["sleep"])),
    ],
)
def test_every_kind_of_reference_refuses_an_ambiguous_name(tmp_path: Path, where: str, edit: Any) -> None:
    spec = _spec()
    edit(spec)
    codes = [d.code for d in _errors(_write(tmp_path, spec))]
    assert codes == ["MC240"], (where, codes)


def test_an_unknown_qualified_reference_is_mc101_with_a_suggestion(tmp_path: Path) -> None:
    spec = _spec()
    spec["spec"]["services"][1]["calls"][1]["service"] = "baz/httpbin"
    spec["spec"]["egress"][0]["callers"] = ["bar/slep"]
    errors = _errors(_write(tmp_path, spec))
    assert [d.code for d in errors] == ["MC101", "MC101"]
    assert "'baz/httpbin'" in errors[0].message
    assert errors[0].hint is not None and (
        "'bar/httpbin'" in errors[0].hint or "'foo/httpbin'" in errors[0].hint
    )
    assert errors[1].hint == "did you mean 'bar/sleep'?"


def test_a_qualified_reference_to_a_unique_name_compiles_as_the_bare_one(tmp_path: Path) -> None:
    bookinfo = yaml.safe_load((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    qualified = copy.deepcopy(bookinfo)
    for svc in qualified["spec"]["services"]:
        for call in svc.get("calls", []):
            call["service"] = f"bookinfo/{call['service']}"
    a = run(_write(tmp_path, bookinfo, "a.yaml"), behaviour=False)
    b = run(_write(tmp_path, qualified, "b.yaml"), behaviour=False)
    assert [m.body for m in a.manifests] == [m.body for m in b.manifests]


def test_adding_a_namespace_twin_renames_nothing_of_the_first(tmp_path: Path) -> None:
    """Stable names: adding bar's httpbin and sleep keeps every object of foo's services as it was."""
    full = _spec()
    alone = _foo_only(full)
    one = run(_write(tmp_path, alone, "one.yaml"), behaviour=False)
    two = run(_write(tmp_path, full, "two.yaml"), behaviour=False)
    names_two = {(m.kind, m.namespace, m.name) for m in two.manifests}
    kept = {
        (m.kind, m.namespace, m.name) for m in one.manifests if m.owner and m.owner.startswith("service/")
    }
    assert kept and kept <= names_two


def _foo_only(full: dict[str, Any]) -> dict[str, Any]:
    """The example before bar existed: foo's httpbin and sleep, referred to by bare names."""
    base = copy.deepcopy(full)
    base["spec"]["services"] = [s for s in base["spec"]["services"] if s.get("namespace") is None]
    base["spec"]["services"][1]["calls"] = [{"service": "httpbin", "methods": ["GET"]}]
    base["spec"]["gateways"][0]["routes"] = [{"to": {"service": "httpbin", "port": 8000}}]
    base["spec"]["egress"] = []
    return base


def test_the_review_names_the_new_namespace_twin_and_the_retargeted_call(tmp_path: Path) -> None:
    """Adding bar's services reads as additions (foo's httpbin is not "renamed" to foo/httpbin),
    and a call moved from foo/httpbin to bar/httpbin as exactly that edge removed and added."""
    full = _spec()
    head = copy.deepcopy(full)
    head["spec"]["services"][1]["calls"] = [{"service": "bar/httpbin", "methods": ["GET"]}]
    a = run(_write(tmp_path, _foo_only(full), "a.yaml"), behaviour=False)
    b = run(_write(tmp_path, head, "b.yaml"), behaviour=False)
    old, new = build_views(a.index, b.index)
    changes = {(c.kind, c.subject) for c in diff_intent(old, new).changes}
    assert ("service-added", "bar/httpbin") in changes
    assert ("service-added", "bar/sleep") in changes
    assert ("edge-removed", "foo/sleep → foo/httpbin") in changes
    assert ("edge-added", "foo/sleep → bar/httpbin") in changes
    assert ("call-retargeted", "foo/sleep → httpbin") in changes
    (moved,) = [c for c in diff_intent(old, new).changes if c.kind == "call-retargeted"]
    assert moved.message == "`foo/sleep`'s call to `httpbin` retargeted from `foo/httpbin` to `bar/httpbin`"
    foo = ("httpbin", "sleep", "foo/httpbin", "foo/sleep")
    assert not {s for k, s in changes if k.startswith("service-") and s in foo}


def test_a_unique_mesh_keeps_bare_names_in_the_review() -> None:
    c = run(REPO / "examples" / "bookinfo" / "mesh.yaml", behaviour=False)
    view, _ = build_views(c.index, c.index)
    assert view is not None and "productpage" in view.services
    assert ("productpage", "reviews") in view.edges


def test_can_i_refuses_an_ambiguous_name() -> None:
    result = meshc("can-i", str(EXAMPLE), "--from", "sleep", "--to", "foo/httpbin")
    assert result.returncode == 2
    assert "bar/sleep or foo/sleep" in result.stderr


def test_the_graph_shows_qualified_names() -> None:
    result = meshc("graph", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    for name in ("foo/httpbin", "bar/httpbin", "foo/sleep", "bar/sleep"):
        assert name in result.stdout


def test_an_overlay_changes_the_service_of_the_namespace_it_names(tmp_path: Path) -> None:
    overlay = tmp_path / "prod.yaml"
    overlay.write_text(
        "spec:\n  services:\n    - name: httpbin\n      namespace: bar\n      traffic: { timeout: 20s }\n"
    )
    data = load_spec(EXAMPLE, [overlay]).data
    timeouts = {
        (s.get("namespace"), s["name"]): s.get("traffic", {}).get("timeout") for s in data["spec"]["services"]
    }
    assert timeouts[("bar", "httpbin")] == "20s"
    assert timeouts[(None, "httpbin")] == "5s"
    assert len(data["spec"]["services"]) == 4


def test_an_overlay_item_must_say_which_namespace_s_service(tmp_path: Path) -> None:
    overlay = tmp_path / "prod.yaml"
    overlay.write_text("spec:\n  services:\n    - name: httpbin\n      traffic: { timeout: 20s }\n")
    with pytest.raises(SpecError) as caught:
        load_spec(EXAMPLE, [overlay])
    (d,) = caught.value.diagnostics
    assert (Path(d.file).name, d.line, d.column, d.code) == ("prod.yaml", 3, 7, "MC241")
    assert "bar, the default" in d.message and d.hint is not None and "namespace" in d.hint


@st.composite
def _twin_meshes(draw: st.DrawFn) -> dict[str, Any]:
    """Meshes where every name repeats in several namespaces and calls are qualified at random."""
    namespaces = draw(st.lists(st.sampled_from(["foo", "bar", "baz"]), min_size=2, max_size=3, unique=True))
    names = draw(st.lists(st.sampled_from(["httpbin", "sleep", "web"]), min_size=1, max_size=3, unique=True))
    identities = [f"{ns}/{name}" for ns in namespaces for name in names]
    services = []
    for identity in identities:
        ns, name = identity.split("/")
        callees = draw(st.lists(st.sampled_from(identities), max_size=3, unique=True))
        services.append(
            {
                "name": name,
                "namespace": ns,
                "ports": [{"port": 8000, "protocol": "http"}],
                "versions": [{"name": "v1", "image": "docker.io/mccutchen/go-httpbin:v2.15.0"}],
                "calls": [{"service": c} for c in callees if c != identity],
            }
        )
    draw(st.randoms()).shuffle(services)
    return {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "twins"},
        "spec": {"defaults": {"namespace": namespaces[0]}, "services": services},
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mesh=_twin_meshes())
def test_each_twin_admits_exactly_its_declared_callers(tmp_path: Path, mesh: dict[str, Any]) -> None:
    """Any mesh of namespace twins compiles (with the verifier) to distinct objects, and each
    service's policy names exactly the identities of the services that call it."""
    c = run(_write(tmp_path, mesh))
    seen = Counter((m.kind, m.namespace, m.name) for m in c.manifests)
    assert [k for k, n in seen.items() if n > 1] == []
    expected: dict[tuple[str, str], set[str]] = {}
    for svc in mesh["spec"]["services"]:
        expected.setdefault((svc["namespace"], svc["name"]), set())
        for call in svc["calls"]:
            ns, name = call["service"].split("/")
            expected.setdefault((ns, name), set()).add(
                f"cluster.local/ns/{svc['namespace']}/sa/{svc['name']}"
            )
    for (ns, name), principals in expected.items():
        policies = [
            m for m in c.manifests if (m.kind, m.namespace, m.name) == ("AuthorizationPolicy", ns, name)
        ]
        assert {p for m in policies for p in _principals(m.body)} == principals, (ns, name)
