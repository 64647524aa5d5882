"""HTTP routing fields (issue 14 item 6): headers, CORS, rewrite, redirect, direct response and
exportTo, from the spec to the VirtualService/DestinationRule, through the verifier and the review
(which must not print credential header values)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshc.compiler.pipeline import run
from meshc.compiler.review.intent import diff_intent
from meshc.compiler.review.resources import diff_manifests
from meshc.compiler.review.view import build_view
from meshc.compiler.verify import verify
from meshc.spec.loader import load_sources

TOKEN = "Bearer s3cr3t-value"


def _spec(api_traffic: dict[str, Any], *, call_paths: list[str] | None = None) -> str:
    """`web` (namespace front) calls `api` (namespace back, two versions); gateway pods in `edge`."""
    call: dict[str, Any] = {"service": "api"}
    if call_paths:
        call["paths"] = call_paths
    spec = {
        "defaults": {"namespace": "back"},
        "services": [
            {
                "name": "web",
                "namespace": "front",
                "ports": [{"port": 8080, "protocol": "http"}],
                "versions": [{"name": "v1", "image": "web:1"}],
                "calls": [call],
            },
            {
                "name": "api",
                "ports": [{"port": 8080, "protocol": "http"}],
                "versions": [{"name": "v1", "image": "api:1"}, {"name": "v2", "image": "api:2"}],
                "traffic": api_traffic,
            },
        ],
        "gateways": [
            {
                "name": "public",
                "namespace": "front",
                "workload": {"namespace": "edge"},
                "hosts": ["shop.example.com"],
                "servers": [{"port": 80, "protocol": "http"}],
                "routes": [{"to": {"service": "web"}}],
            }
        ],
    }
    return json.dumps(
        {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    )


def _compile(text: str) -> Any:
    c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.manifests, [str(d) for d in c.diagnostics]
    return c


def _body(c: Any, kind: str, name: str) -> dict[str, Any]:
    return next(m.body for m in c.manifests if m.kind == kind and m.name == name)


def test_headers_and_cors_on_every_rule_a_routes_own_replacing_the_services() -> None:
    c = _compile(
        _spec(
            {
                "split": {"v1": 100, "v2": 0},
                "headers": {"request": {"set": {"x-b": "2", "x-a": "1"}}, "response": {"remove": ["server"]}},
                "cors": {
                    "allowOrigins": [{"exact": "https://a.example"}],
                    "maxAge": "1h",
                    "allowCredentials": True,
                },
                "routes": [
                    {
                        "name": "own",
                        "match": [{"path": {"prefix": "/own"}}],
                        "headers": {"request": {"add": {"x-c": "3"}}},
                    }
                ],
            }
        )
    )
    http = _body(c, "VirtualService", "api")["spec"]["http"]
    assert http[0]["headers"] == {"request": {"add": {"x-c": "3"}}}
    assert http[1]["headers"] == {
        "request": {"set": {"x-a": "1", "x-b": "2"}},
        "response": {"remove": ["server"]},
    }
    cors = {"allowOrigins": [{"exact": "https://a.example"}], "maxAge": "1h", "allowCredentials": True}
    assert http[0]["corsPolicy"] == http[1]["corsPolicy"] == cors


def test_redirect_and_direct_response_rules_have_no_destination_nor_call_settings() -> None:
    c = _compile(
        _spec(
            {
                "timeout": "5s",
                "retries": {"attempts": 2},
                "headers": {"response": {"set": {"cache-control": "no-store"}}},
                "routes": [
                    {
                        "match": [{"path": {"prefix": "/old"}}],
                        "redirect": {"uri": "/new", "redirectCode": 308},
                    },
                    {
                        "match": [{"path": {"exact": "/feed"}}],
                        "directResponse": {"status": 410, "body": "gone"},
                    },
                    {
                        "match": [{"path": {"prefix": "/v2/"}}],
                        "to": "v2",
                        "rewrite": {"uri": "/", "authority": "api2"},
                    },
                ],
            }
        )
    )
    http = _body(c, "VirtualService", "api")["spec"]["http"]
    assert http[0] == {
        "match": [{"uri": {"prefix": "/old"}}],
        "redirect": {"uri": "/new", "redirectCode": 308},
        "headers": {"response": {"set": {"cache-control": "no-store"}}},
    }
    assert http[1]["directResponse"] == {"status": 410, "body": {"string": "gone"}}
    assert "route" not in http[1] and "timeout" not in http[1] and "retries" not in http[1]
    assert http[2]["rewrite"] == {"uri": "/", "authority": "api2"} and http[2]["timeout"] == "5s"


def test_export_to_callers_is_own_namespace_callers_and_routing_gateways() -> None:
    c = _compile(_spec({"exportTo": "callers"}))
    assert _body(c, "VirtualService", "api")["spec"]["exportTo"] == [".", "front"]
    assert _body(c, "DestinationRule", "api")["spec"]["exportTo"] == [".", "front"]
    # web is routed to by the gateway, whose pods run in `edge`: they need web's subsets.
    web = json.loads(_spec({}))
    web["spec"]["services"][0]["traffic"] = {"exportTo": "callers"}
    c = _compile(json.dumps(web))
    assert _body(c, "DestinationRule", "web")["spec"]["exportTo"] == [".", "edge"]


def test_export_to_list_names_the_own_namespace_as_dot_and_defaults_to_istios() -> None:
    c = _compile(_spec({"exportTo": ["back", "front", "front"]}))
    assert _body(c, "VirtualService", "api")["spec"]["exportTo"] == [".", "front"]
    c = _compile(_spec({"split": {"v1": 50, "v2": 50}}))
    assert "exportTo" not in _body(c, "VirtualService", "api")["spec"]


def test_verifier_expects_the_proxy_to_answer_redirects_and_direct_responses() -> None:
    traffic = {
        "routes": [
            {"match": [{"path": {"exact": "/feed"}}], "directResponse": {"status": 410}},
            {"match": [{"path": {"prefix": "/old"}}], "redirect": {"uri": "/new"}},
        ]
    }
    for paths in (["/feed"], ["/old/x"], ["/other"]):
        c = run(
            "mesh.yaml",
            loaded=load_sources([("mesh.yaml", _spec(traffic, call_paths=paths).encode())]),
        )
        assert c.manifests, [str(d) for d in c.diagnostics]  # the verify stage passed
        report = verify(c.index, c.manifests)
        assert [r.probe.key for r in report.failures if r.probe.kind != "foreign"] == []
        edges = [r for r in report.results if r.probe.kind == "edge" and r.probe.source == "web"]
        answered = paths != ["/other"]
        assert edges and all(("answered by the proxy" in r.probe.key) == answered for r in edges)


def _review(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, str]:
    a, b = _compile(_spec(before)), _compile(_spec(after))
    intent = diff_intent(build_view(a.index), build_view(b.index))
    resources = diff_manifests(a.manifests, b.manifests)
    return json.dumps([c.message for c in intent.changes]), json.dumps(resources.to_json())


def test_review_does_not_print_credential_header_values() -> None:
    headers = {"request": {"set": {"Authorization": TOKEN, "x-tenant": "blue"}}}
    intent, resources = _review({}, {"headers": headers})
    assert "headers" in intent and "blue" in intent and "s3cr3t" not in intent
    assert "x-tenant" in resources and "blue" in resources and "s3cr3t" not in resources
    route = {
        "routes": [
            {"match": [{"path": {"prefix": "/a"}}], "headers": {"request": {"set": {"cookie": TOKEN}}}}
        ]
    }
    intent, resources = _review({"headers": headers}, route)
    assert "s3cr3t" not in intent and "s3cr3t" not in resources


def test_export_to_callers_includes_the_east_west_gateways_namespace_across_clusters() -> None:
    text = (Path(__file__).resolve().parent.parent / "examples" / "multicluster" / "mesh.yaml").read_text()
    text = text.replace(
        "        split: { v1: 90, v2: 10 }\n",
        "        split: { v1: 90, v2: 10 }\n        exportTo: callers\n",
    )
    c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.manifests, [str(d) for d in c.diagnostics]
    exported = {
        m.body["spec"]["exportTo"] == [".", "istio-system"]
        for m in c.manifests
        if m.name == "reviews" and m.kind in ("VirtualService", "DestinationRule")
    }
    assert exported == {True}


def test_gateway_routes_carry_the_services_headers_and_cors() -> None:
    spec = json.loads(_spec({}))
    cors = {"allowOrigins": [{"exact": "https://shop.example.com"}]}
    spec["spec"]["services"][0]["traffic"] = {"cors": cors, "headers": {"response": {"remove": ["server"]}}}
    c = _compile(json.dumps(spec))
    (rule,) = _body(c, "VirtualService", "t-public")["spec"]["http"]
    assert rule["corsPolicy"] == {"allowOrigins": [{"exact": "https://shop.example.com"}]}
    assert rule["headers"] == {"response": {"remove": ["server"]}}


def test_review_names_a_redirect_or_direct_response_as_where_a_route_leads() -> None:
    old = {"path": {"prefix": "/old"}}
    routes = [
        {"name": "old", "match": [old], "redirect": {"scheme": "https", "uri": "/new", "redirectCode": 308}},
        {"name": "feed", "match": [{"path": {"exact": "/feed"}}], "directResponse": {"status": 410}},
    ]
    intent, _ = _review({}, {"routes": routes})
    assert "redirect 308 (scheme https, uri /new)" in intent
    assert "direct response 410" in intent and "the default split" not in intent


def test_sources_beyond_the_edges_expect_the_proxy_to_answer_a_redirected_path() -> None:
    """Found by the fuzzer (exit 3): a redirect taking every path of a service that admits any mesh
    workload (`security.allow`); the source probes expected the request to reach the service."""
    traffic = {"routes": [{"name": "moved", "redirect": {"uri": "/new"}}]}
    spec = json.loads(_spec(traffic))
    spec["spec"]["security"] = {"authorization": {"defaultDeny": True}}
    api = spec["spec"]["services"][1]
    api["security"] = {"allow": [{"source": {"mesh": True}, "methods": ["GET"]}]}
    c = _compile(json.dumps(spec))  # the verify stage passed (it raised a CompilerBug before)
    report = verify(c.index, c.manifests)
    assert [r.probe.key for r in report.failures if r.probe.kind != "foreign"] == []
    sources = [
        r for r in report.results if r.probe.kind == "source" and r.probe.source != "pod without sidecar"
    ]
    assert any("answered by the proxy" in r.probe.key for r in sources)
