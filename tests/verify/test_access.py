"""Authorization sources beyond declared edges and JWT on services (issue 14, items 2 and 3): the
verifier probes them, and each protection the lowering writes is needed: take it out of the
compiled output and a probe fails with the resource that made the difference."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import run
from meshc.compiler.verify import Report, verify
from meshc.compiler.verify.check import configs_for
from meshc.compiler.verify.engine import Model
from meshc.compiler.verify.request import Request, Token
from meshc.compiler.verify.spec_world import SpecWorld

SPEC = Path(__file__).parent / "fixtures" / "access.mesh.yaml"
ISSUER = "https://issuer.example.com"
HTTPBIN = "httpbin.foo.svc.cluster.local"


def _compiled() -> tuple[Any, list[Manifest]]:
    c = run(SPEC, schemas=False, behaviour=False)
    return c.index, c.manifests


def _failures(report: Report) -> list[str]:
    return sorted(r.probe.key for r in report.bugs)


def _mutate(
    manifests: list[Manifest], kind: str, name: str, change: Callable[[dict[str, Any]], None]
) -> list[Manifest]:
    out = []
    for m in manifests:
        if m.kind == kind and m.name == name:
            body = copy.deepcopy(m.body)
            change(body["spec"])
            m = Manifest(m.kind, m.namespace, m.name, body, m.cluster, m.owner)
        out.append(m)
    return out


def test_the_output_passes_every_probe() -> None:
    index, manifests = _compiled()
    report = verify(index, manifests)
    assert _failures(report) == []
    kinds = {r.probe.kind for r in report.results}
    assert {"jwt", "source"} <= kinds


def _drop(manifests: list[Manifest], kind: str, name: str) -> list[Manifest]:
    return [m for m in manifests if not (m.kind == kind and m.name == name)]


def _drop_rules(where: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        spec["rules"] = [r for r in spec["rules"] if not where(r)]

    return change


def _source(rule: dict[str, Any]) -> dict[str, Any]:
    return rule.get("from", [{}])[0].get("source", {})


def test_a_request_authentication_alone_lets_tokenless_requests_through() -> None:
    index, manifests = _compiled()
    broken = _drop(manifests, "AuthorizationPolicy", "httpbin-require-jwt")
    failures = _failures(verify(index, broken))
    assert "jwt: web -> httpbin :8000 GET / without JWT" in failures
    assert any("lacking ['group']" in f for f in failures)


def test_the_mesh_source_admits_mesh_workloads_not_plaintext() -> None:
    index, manifests = _compiled()
    gone = _mutate(
        manifests,
        "AuthorizationPolicy",
        "httpbin",
        _drop_rules(lambda r: "principals" in _source(r) and _source(r)["principals"] == ["cluster.local/*"]),
    )
    assert any("security.allow[0]" in f and "meshed workload" in f for f in _failures(verify(index, gone)))

    def any_source(spec: dict[str, Any]) -> None:
        for r in spec["rules"]:
            if _source(r).get("principals") == ["cluster.local/*"]:
                del r["from"]

    opened = _mutate(manifests, "AuthorizationPolicy", "httpbin", any_source)
    assert (
        "source: probe/legacy.foo -> httpbin security.allow[0] :8000 GET /status/probe (pod without sidecar)"
        in _failures(verify(index, opened))
    )


def test_the_plaintext_source_admits_no_meshed_workload_and_no_other_address() -> None:
    index, manifests = _compiled()

    def meshed_too(spec: dict[str, Any]) -> None:
        for r in spec["rules"]:
            _source(r).pop("notPrincipals", None)

    failures = _failures(verify(index, _mutate(manifests, "AuthorizationPolicy", "httpbin", meshed_too)))
    assert any("security.allow[2]" in f and "meshed workload" in f for f in failures)

    def any_address(spec: dict[str, Any]) -> None:
        for r in spec["rules"]:
            _source(r).pop("ipBlocks", None)

    failures = _failures(verify(index, _mutate(manifests, "AuthorizationPolicy", "httpbin", any_address)))
    assert any("security.allow[2]" in f and "from 192.0.2.1" in f for f in failures)


def test_a_namespace_source_admits_that_namespace_only() -> None:
    index, manifests = _compiled()

    def every_namespace(spec: dict[str, Any]) -> None:
        for r in spec["rules"]:
            if "namespaces" in _source(r):
                _source(r)["namespaces"] = ["*"]

    failures = _failures(verify(index, _mutate(manifests, "AuthorizationPolicy", "httpbin", every_namespace)))
    assert any("security.allow[1]" in f and "meshc-probe-foreign" in f for f in failures)


def test_the_gateway_may_call_only_its_methods_and_paths() -> None:
    index, manifests = _compiled()

    def every_method(spec: dict[str, Any]) -> None:
        for r in spec["rules"]:
            if "istio-ingressgateway" in str(_source(r).get("principals")):
                r["to"][0]["operation"].pop("methods", None)

    failures = _failures(verify(index, _mutate(manifests, "AuthorizationPolicy", "httpbin", every_method)))
    assert any("DELETE /headers (method not in to.methods)" in f for f in failures)


def test_client_addresses_are_enforced_and_x_forwarded_for_is_not_believed() -> None:
    index, manifests = _compiled()
    broken = _drop(manifests, "AuthorizationPolicy", "demo-public-client-ips")
    failures = _failures(verify(index, broken))
    assert any(f.endswith("GET /headers from 192.0.2.1") for f in failures)
    assert any("claiming X-Forwarded-For: 203.0.113.1" in f for f in failures)


def _model() -> tuple[Any, Model, SpecWorld]:
    index, manifests = _compiled()
    sw = SpecWorld(index)
    return index, Model(configs_for(manifests, index), sw.world), sw


def test_an_undeclared_workload_of_the_same_namespace_is_denied_even_with_a_token() -> None:
    _, model, sw = _model()
    sleep = sw.caller("sleep")
    assert sleep is not None
    token = Token(ISSUER, claims=(("group", "eng"),))
    out = model.send(sleep, Request(HTTPBIN, 8000, "http", "GET", "/", token=token))
    assert out.decision == "deny" and "403" in out.landings[0].reason
    # what the mesh source admits, it admits to every mesh workload
    out = model.send(sleep, Request(HTTPBIN, 8000, "http", "GET", "/status/x", token=token))
    assert out.allowed


@pytest.mark.parametrize("authority", [HTTPBIN, "example.com:443", f"{HTTPBIN}:8000"])
def test_a_tokenless_request_is_denied_whatever_its_host_header(authority: str) -> None:
    _, model, sw = _model()
    web = sw.caller("web")
    assert web is not None
    out = model.send(web, Request(HTTPBIN, 8000, "http", "GET", "/", authority=authority))
    assert out.decision == "deny"
    assert "httpbin-require-jwt" in out.landings[0].reason


def test_a_token_of_another_issuer_is_refused_by_the_service() -> None:
    _, model, sw = _model()
    web = sw.caller("web")
    assert web is not None
    out = model.send(web, Request(HTTPBIN, 8000, "http", "GET", "/", token=Token("https://evil.example")))
    assert out.decision == "deny" and out.landings[0].reason.startswith("401")


def test_a_workload_the_mesh_source_admits_can_see_the_service() -> None:
    # Found by the source probe: authorization admitted `sleep`, but its Sidecar (REGISTRY_ONLY,
    # declared callees only) sent the call to the BlackHoleCluster.
    index, manifests = _compiled()

    def hide(spec: dict[str, Any]) -> None:
        spec["egress"][0]["hosts"] = [h for h in spec["egress"][0]["hosts"] if "httpbin" not in h]

    failures = _failures(verify(index, _mutate(manifests, "Sidecar", "sleep", hide)))
    assert (
        "source: sleep -> httpbin security.allow[0] :8000 GET /status/probe"
        " (service sleep, no declared caller)" in failures
    )
