"""Intent-level diff: what a change means, and which changes are risks."""

from __future__ import annotations

import pytest
from review_helpers import BOOKINFO, CANARY, MTLS_RELAXED, NEW_EDGE, PUBLIC_ROUTE

from meshc.compiler.pipeline import run
from meshc.compiler.review.intent import IntentDiff, diff_intent, plain
from meshc.compiler.review.view import MeshView, build_view
from meshc.spec.loader import load_sources

SHOP_LIKE = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  defaults: { namespace: app }
  security: { mtls: STRICT }
  services:
    - name: web
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: web:1 }]
      calls:
        - { service: api, methods: [GET] }
    - name: api
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: api:1 }, { name: v2, image: api:2 }]
      traffic:
        split: { v1: 90, v2: 10 }
        timeout: 5s
        retries: { attempts: 2, perTryTimeout: 1s, retryOn: [5xx] }
      calls:
        - { service: db, ports: [5432] }
    - name: db
      ports: [{ port: 5432, protocol: tcp }]
  gateways:
    - name: public
      hosts: [shop.example.com]
      servers: [{ port: 443, protocol: https, tls: { credentialName: cert } }]
      jwt: { issuer: https://issuer.example.com, jwksUri: https://issuer.example.com/jwks }
      routes:
        - { name: site, match: [{ path: { prefix: / } }], to: { service: web, port: 8080 } }
  egress:
    - { name: pay, hosts: [api.pay.example.com], callers: [api] }
"""


def view(text: str) -> MeshView:
    c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.index is not None
    return build_view(c.index)


def diff(before: str, after: str) -> IntentDiff:
    return diff_intent(view(before), view(after))


def messages(d: IntentDiff) -> list[str]:
    return [plain(c.message) for c in d.changes]


def risks(d: IntentDiff) -> list[tuple[str, str]]:
    return [(r.kind, plain(r.message)) for r in d.risks]


def test_identical_specs_have_no_changes() -> None:
    d = diff(BOOKINFO, BOOKINFO)
    assert d.changes == [] and d.risks == []


def test_canary_shift() -> None:
    d = diff(BOOKINFO, CANARY)
    assert messages(d) == ["reviews: v1 50% → 0%, v3 50% → 100%"]
    assert d.risks == []


def test_new_edge_is_a_new_caller() -> None:
    d = diff(BOOKINFO, NEW_EDGE)
    assert messages(d) == ["details → ratings added (http; GET /ratings/*)"]
    assert risks(d) == [("authz-widened", "ratings accepts a new caller: details (GET /ratings/*)")]


def test_mtls_relaxed_at_namespace_is_reported_once() -> None:
    d = diff(BOOKINFO, MTLS_RELAXED)
    assert risks(d) == [("mtls-relaxed", "namespace bookinfo: STRICT → PERMISSIVE")]


def test_new_public_route_without_authentication() -> None:
    d = diff(BOOKINFO, PUBLIC_ROUTE)
    assert [kind for kind, _ in risks(d)] == ["authz-widened", "unauthenticated-route"]


def test_traffic_timeouts_and_retries() -> None:
    after = (
        SHOP_LIKE.replace("split: { v1: 90, v2: 10 }", "split: { v1: 50, v2: 50 }")
        .replace("timeout: 5s", "timeout: 10s")
        .replace("retries: { attempts: 2, perTryTimeout: 1s, retryOn: [5xx] }", "retries: { attempts: 0 }")
    )
    d = diff(SHOP_LIKE, after)
    assert messages(d) == [
        "api: v1 90% → 50%, v2 10% → 50%",
        "api retries: 2 attempts, 1s per try, on 5xx → off",
        "api timeout: 5s → 10s",
    ]
    assert [c.category for c in d.changes] == ["traffic", "resilience", "resilience"]
    assert d.risks == []


def test_restrictions_removed_widen_authorization() -> None:
    after = SHOP_LIKE.replace("- { service: api, methods: [GET] }", "- { service: api }")
    d = diff(SHOP_LIKE, after)
    assert messages(d) == ["web → api: GET → any request"]
    assert risks(d) == [("authz-widened", "web → api now allows more: GET → any request")]
    narrower = diff(after, SHOP_LIKE)
    assert narrower.risks == [] and messages(narrower) == ["web → api: any request → GET"]


def test_default_deny_off_and_mesh_mtls() -> None:
    after = SHOP_LIKE.replace(
        "security: { mtls: STRICT }", "security: { mtls: DISABLE, authorization: { defaultDeny: false } }"
    )
    d = diff(SHOP_LIKE, after)
    kinds = risks(d)
    assert ("mtls-relaxed", "mesh-wide mTLS: STRICT → DISABLE") in kinds
    assert (
        "authz-widened",
        "default deny turned off: calls that are not declared edges are no longer denied",
    ) in kinds
    # the namespace inherits the mesh setting: reported once, at the mesh
    assert not [k for k in kinds if "namespace" in k[1] or "web:" in k[1]]


def test_service_and_port_level_mtls() -> None:
    after = SHOP_LIKE.replace(
        "    - name: db\n      ports: [{ port: 5432, protocol: tcp }]\n",
        "    - name: db\n      ports: [{ port: 5432, protocol: tcp }]\n"
        "      security: { portMtls: [{ port: 5432, mode: PERMISSIVE }] }\n",
    ).replace(
        "    - name: web\n      ports: [{ port: 8080, protocol: http }]\n",
        "    - name: web\n      ports: [{ port: 8080, protocol: http }]\n"
        "      security: { mtls: PERMISSIVE }\n",
    )
    d = diff(SHOP_LIKE, after)
    assert risks(d) == [
        ("mtls-relaxed", "db port 5432: STRICT → PERMISSIVE"),
        ("mtls-relaxed", "web: STRICT → PERMISSIVE"),
    ]


def test_service_moved_to_a_permissive_namespace() -> None:
    before = SHOP_LIKE.replace(
        "  services:\n", "  namespaces:\n    - { name: legacy, mtls: PERMISSIVE }\n  services:\n"
    )
    after = before.replace("    - name: db\n", "    - name: db\n      namespace: legacy\n")
    d = diff(before, after)
    assert "db moved: namespace app → legacy" in messages(d)
    assert ("mtls-relaxed", "db: STRICT → PERMISSIVE (moved to namespace legacy)") in risks(d)


def test_injection_disabled_is_a_risk() -> None:
    after = SHOP_LIKE.replace(
        "    - name: db\n",
        "    - name: db\n      injection: { enabled: false }\n      security: { mtls: DISABLE }\n",
    )
    d = diff(SHOP_LIKE, after)
    assert ("mtls-relaxed", "sidecar injection disabled for db: it loses mTLS and authorization") in risks(d)


def test_egress_new_host_wildcard_and_new_caller() -> None:
    after = SHOP_LIKE.replace(
        "- { name: pay, hosts: [api.pay.example.com], callers: [api] }",
        "- { name: pay, hosts: [api.pay.example.com, '*.pay.example.com'], callers: [api, web] }",
    )
    d = diff(SHOP_LIKE, after)
    assert risks(d) == [
        ("egress-widened", "web may now call api.pay.example.com, *.pay.example.com (egress pay)"),
        ("egress-widened", "wildcard egress host *.pay.example.com (egress pay, callers api, web)"),
    ]
    assert "egress pay: caller web added" in messages(d)


def test_new_egress_entry() -> None:
    after = SHOP_LIKE + "    - { name: mail, hosts: [smtp.example.com], callers: [web] }\n"
    d = diff(SHOP_LIKE, after)
    assert risks(d) == [("egress-widened", "new egress host smtp.example.com (egress mail, callers web)")]


def test_jwt_requirement_dropped() -> None:
    after = SHOP_LIKE.replace(
        "to: { service: web, port: 8080 } }", "to: { service: web, port: 8080 }, requireJwt: false }"
    )
    d = diff(SHOP_LIKE, after)
    assert messages(d) == ["route site on gateway public: JWT required → not required"]
    assert risks(d) == [
        ("unauthenticated-route", "route site on gateway public → web:8080 no longer requires a JWT")
    ]


def test_route_retarget_and_hosts() -> None:
    after = SHOP_LIKE.replace("to: { service: web, port: 8080 }", "to: { service: api, port: 8080 }").replace(
        "hosts: [shop.example.com]", "hosts: [shop.example.com, '*']"
    )
    d = diff(SHOP_LIKE, after)
    text = messages(d)
    assert "public host * added on gateway public" in text
    assert any("target web:8080 → api:8080" in m for m in text)
    assert ("authz-widened", "gateway public accepts wildcard host *") in risks(d)
    assert ("authz-widened", "api is newly exposed through gateway public (route site)") in risks(d)


def test_gateway_tls_removed() -> None:
    after = SHOP_LIKE.replace(
        "servers: [{ port: 443, protocol: https, tls: { credentialName: cert } }]",
        "servers: [{ port: 443, protocol: http }]",
    )
    d = diff(SHOP_LIKE, after)
    assert ("tls-relaxed", "gateway public port 443: TLS SIMPLE → none") in risks(d)


def test_services_added_removed_and_versions() -> None:
    after = (
        SHOP_LIKE.replace("{ name: v2, image: api:2 }", "{ name: v2, image: api:3, replicas: 2 }")
        .replace(
            "    - name: db\n      ports: [{ port: 5432, protocol: tcp }]\n",
            "    - name: db\n      ports: [{ port: 5432, protocol: tcp }]\n"
            "    - name: cache\n      ports: [{ port: 6379, protocol: redis }]\n",
        )
        .replace(
            "        - { service: db, ports: [5432] }\n",
            "        - { service: db, ports: [5432] }\n        - { service: cache }\n",
        )
    )
    d = diff(SHOP_LIKE, after)
    text = messages(d)
    assert "cache added in namespace app" in text
    assert "api v2 image: api:2 → api:3" in text
    assert "api v2 replicas: 1 → 2" in text
    assert "api → cache added (redis; any request)" in text
    assert d.risks == []  # a new caller of a new service widens nothing that existed
    back = diff(after, SHOP_LIKE)
    assert "cache removed from namespace app" in messages(back)


@pytest.mark.parametrize("side", ["base", "head"])
def test_spec_added_or_deleted(side: str) -> None:
    v = view(SHOP_LIKE)
    d = diff_intent(None, v) if side == "base" else diff_intent(v, None)
    verbs = {c.kind.rsplit("-", 1)[-1] for c in d.changes}
    assert verbs == ({"added"} if side == "base" else {"removed"})
    if side == "head":
        assert d.risks == []
    else:
        assert {r.kind for r in d.risks} == {"authz-widened", "egress-widened"}


def test_intent_diff_is_linear_and_quiet_on_large_meshes() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import yaml
    from synthetic import make_spec

    spec = make_spec(300)
    before = yaml.safe_dump(spec)
    spec["spec"]["services"][10]["traffic"]["split"] = {"v1": 50, "v2": 50}
    after = yaml.safe_dump(spec)
    d = diff(before, after)
    assert messages(d) == ["svc-00010: v1 90% → 50%, v2 10% → 50%"]


def test_a_default_change_is_reported_once() -> None:
    before = SHOP_LIKE.replace(
        "  defaults: { namespace: app }", "  defaults: { namespace: app, traffic: { timeout: 30s } }"
    )
    after = before.replace("traffic: { timeout: 30s }", "traffic: { timeout: 20s }")
    d = diff(before, after)
    # api sets its own timeout, db has no HTTP port: only web inherits the default
    assert messages(d) == ["defaults timeout: 30s → 20s (1 service inherits it)"]
    own = after.replace("split: { v1: 90, v2: 10 }\n        timeout: 5s", "split: { v1: 90, v2: 10 }")
    d = diff(before, own)
    assert "api timeout: 5s → 20s" in messages(d)  # api stopped setting its own


def _unchecked_view(text: str) -> MeshView:
    """The view of a spec the rules would reject (MC151): the review must still weigh it."""
    from meshc.compiler.pipeline import parse

    c = parse("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())]))
    assert c.index is not None
    return build_view(c.index)


def test_relaxing_a_namespace_new_to_the_spec_is_a_risk() -> None:
    """Issue 13 defect 1: declaring the root namespace DISABLE beside `security.mtls: STRICT` showed
    `STRICT → DISABLE` in the resources and reported 0 risks: a namespace only the head declares
    was never compared with anything."""
    root = BOOKINFO.replace(
        "  security:\n    mtls: STRICT\n",
        "  security:\n    mtls: STRICT\n  namespaces:\n    - { name: istio-system, mtls: DISABLE }\n",
    )
    assert root != BOOKINFO
    d = diff_intent(_unchecked_view(BOOKINFO), _unchecked_view(root))
    assert risks(d) == [
        ("mtls-relaxed", "namespace istio-system (Istio's root namespace: every namespace): STRICT → DISABLE")
    ]
    legacy = BOOKINFO.replace(
        "  security:\n    mtls: STRICT\n",
        "  security:\n    mtls: STRICT\n  namespaces:\n    - { name: legacy, mtls: PERMISSIVE }\n",
    )
    assert risks(diff(BOOKINFO, legacy)) == [("mtls-relaxed", "namespace legacy: STRICT → PERMISSIVE")]
    strict = legacy.replace("mtls: PERMISSIVE }", "mtls: STRICT }")
    assert diff(BOOKINFO, strict).risks == []


def test_giving_up_the_mesh_wide_mode_is_a_risk() -> None:
    owner = BOOKINFO.replace("  security:\n", "  meshWide: true\n  security:\n", 1)
    assert owner != BOOKINFO
    d = diff(owner, BOOKINFO)
    assert messages(d) == ["cluster-wide defaults (meshWide): on → off"]
    assert [kind for kind, _ in risks(d)] == ["mtls-relaxed"]
    d = diff(BOOKINFO, owner)
    assert messages(d) == ["cluster-wide defaults (meshWide): off → on"] and d.risks == []


def test_an_injection_mode_change_is_a_risk_naming_the_pinned_proxy() -> None:
    manual = SHOP_LIKE.replace(
        "  defaults: { namespace: app }\n",
        "  defaults: { namespace: app }\n"
        "  sidecarInjector: { hub: registry.example.com/istio, tag: 1.30.3 }\n"
        "  namespaces: [{ name: app, injection: { mode: manual } }]\n",
    ).replace("    - name: db\n", "    - name: db\n      namespace: data\n")
    d = diff(SHOP_LIKE.replace("    - name: db\n", "    - name: db\n      namespace: data\n"), manual)
    risks = sorted((r.kind, r.subject, plain(r.message)) for r in d.risks)
    assert risks == [
        (
            "injection-mode",
            name,
            f"{name} sidecar injection auto → manual: pods restart; "
            "proxy version pinned to registry.example.com/istio/proxyv2:1.30.3",
        )
        for name in ("api", "web")  # db has no image: meshc writes no pod for it
    ]
    assert "web sidecar injection: auto → manual" in messages(d)
    back = diff(manual, SHOP_LIKE.replace("    - name: db\n", "    - name: db\n      namespace: data\n"))
    assert [plain(r.message) for r in back.risks if r.subject == "web"] == [
        "web sidecar injection manual → auto: pods restart; the proxy now comes from the webhook of "
        "revision default"
    ]
    bumped = diff(manual, manual.replace("tag: 1.30.3", "tag: 1.30.4"))
    assert [r.kind for r in bumped.risks] == ["injection-mode", "injection-mode"]
    assert (
        "pinned proxy registry.example.com/istio/proxyv2:1.30.3 → registry.example.com/istio/proxyv2:1.30.4"
        in (plain(bumped.risks[0].message))
    )
    assert diff(manual, manual).risks == []


def test_gateway_route_traffic_policy_change() -> None:
    """Issue 14 traffic defect 1: a gateway route's `policy` is reviewed as what its requests get."""
    after = SHOP_LIKE.replace(
        "to: { service: web, port: 8080 } }", "to: { service: web, port: 8080 }, policy: none }"
    )
    d = diff(SHOP_LIKE, after)
    assert messages(d) == ["route site on gateway public: traffic policy the service's own → the split only"]
    assert risks(d) == []


def test_egress_addresses_change() -> None:
    """Issue 14 traffic defect 4: `egress.addresses` is reviewed (a generic value change)."""
    after = SHOP_LIKE.replace(
        "- { name: pay, hosts: [api.pay.example.com], callers: [api] }",
        "- { name: pay, hosts: [api.pay.example.com], addresses: [203.0.113.7], callers: [api] }",
    )
    d = diff(SHOP_LIKE, after)
    assert [c.category for c in d.changes] == ["egress"]
    assert "203.0.113.7" in messages(d)[0] and "addresses" in messages(d)[0]
