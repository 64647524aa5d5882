"""The review diff names authorization sources beyond declared edges, a service's own JWT and the
gateway edges' limits, and reports each widening as a risk (issue 14, items 2 and 3)."""

from __future__ import annotations

from meshc.compiler.pipeline import run
from meshc.compiler.review.intent import IntentDiff, diff_intent, plain
from meshc.compiler.review.view import MeshView, build_view
from meshc.spec.loader import load_sources

BASE = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  defaults: { namespace: app }
  services:
    - name: web
      ports: [{ port: 8080, protocol: http }]
      calls: [{ service: api, methods: [GET] }]
    - name: api
      ports: [{ port: 8080, protocol: http }]
      security:
        mtls: PERMISSIVE
        jwt:
          issuers: [{ issuer: https://issuer.example.com, jwksUri: https://issuer.example.com/jwks }]
          requireClaims: { group: [eng] }
        allow:
          - source: { namespaces: [ops] }
            methods: [GET]
  gateways:
    - name: public
      hosts: [shop.example.com]
      servers: [{ port: 80, protocol: http }]
      routes:
        - name: site
          to: { service: web, port: 8080, methods: [GET] }
          remoteIpBlocks: [203.0.113.0/24]
"""


def view(text: str) -> MeshView:
    c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.index is not None
    return build_view(c.index)


def diff(after: str) -> IntentDiff:
    return diff_intent(view(BASE), view(after))


def risks(d: IntentDiff) -> list[tuple[str, str]]:
    return [(r.kind, plain(r.message)) for r in d.risks]


def messages(d: IntentDiff) -> list[str]:
    return [plain(c.message) for c in d.changes]


def test_unchanged() -> None:
    assert diff(BASE).changes == [] and diff(BASE).risks == []


def test_a_new_source_widens_access() -> None:
    d = diff(BASE.replace("      - source: { namespaces: [ops] }", "      - source: { mesh: true }"))
    assert ("authz-widened", "api admits any mesh workload: GET, any path") in risks(d)
    assert any("api no longer admits workloads of namespace(s) ops" in m for m in messages(d))


def test_a_plaintext_source_is_a_risk_with_its_addresses() -> None:
    after = BASE.replace(
        "            methods: [GET]\n  gateways",
        "            methods: [GET]\n"
        "          - source: { plaintext: true, ipBlocks: [10.8.0.0/16] }\n"
        "  gateways",
    )
    assert (
        "authz-widened",
        "api admits callers without a sidecar (plain text) from 10.8.0.0/16: any method, any path",
    ) in risks(diff(after))


def test_removing_a_source_is_a_change_not_a_risk() -> None:
    after = BASE.replace(
        "        allow:\n          - source: { namespaces: [ops] }\n            methods: [GET]\n", ""
    )
    d = diff(after)
    assert d.risks == []
    assert any("no longer admits" in m for m in messages(d))


def test_jwt_no_longer_required_or_claims_dropped_are_risks() -> None:
    optional = diff(
        BASE.replace("          requireClaims:", "          required: false\n          requireClaims:")
    )
    assert ("authz-widened", "api no longer requires a JWT") in risks(optional)
    dropped = diff(BASE.replace("          requireClaims: { group: [eng] }\n", ""))
    assert any(k == "claims-relaxed" and "group" in m for k, m in risks(dropped))
    gone = diff(
        BASE.replace(
            "        jwt:\n"
            "          issuers: [{ issuer: https://issuer.example.com,"
            " jwksUri: https://issuer.example.com/jwks }]\n"
            "          requireClaims: { group: [eng] }\n",
            "",
        )
    )
    assert ("authz-widened", "api no longer validates or requires a JWT") in risks(gone)


def test_gateway_edge_limits_removed_are_risks() -> None:
    methods = diff(
        BASE.replace("to: { service: web, port: 8080, methods: [GET] }", "to: { service: web, port: 8080 }")
    )
    assert any(k == "authz-widened" and "methods" in m for k, m in risks(methods))
    clients = diff(BASE.replace("          remoteIpBlocks: [203.0.113.0/24]\n", ""))
    assert any(k == "authz-widened" and "client addresses" in m for k, m in risks(clients))


def test_the_graph_shows_who_else_gets_in() -> None:
    from meshc.compiler.review.graph import build_graph

    node = build_graph(view(BASE)).nodes["service:api"]
    assert "⚠ also admits workloads of namespace(s) ops" in node.details
    assert "JWT required" in node.details
