"""The other half of each defect test: the same captured output with the defect repaired by hand
(the smallest change that does what the spec says) passes the probe that caught it. So the probe
fails because of the defect, and will pass once the lowering produces correct output."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from verify_helpers import FIXTURES, manifests_of

from compiler.lower import Manifest
from compiler.pipeline import check_semantics, check_structure, load, run
from compiler.verify import verify

Spec = dict[str, Any]


def _jwt_hosts_with_ports(spec: Spec) -> None:
    for rule in spec["rules"]:
        for to in rule["to"]:
            op = to["operation"]
            op["hosts"] = sorted({*op["hosts"], *(f"{h}:*" for h in op["hosts"])})


def _claims_enforced(spec: Spec) -> None:
    spec["rules"].append(
        {
            "to": [{"operation": {"paths": ["/api/admin/*"]}}],
            "when": [{"key": "request.auth.claims[role]", "notValues": ["admin"]}],
        }
    )


def _port_only_rule(spec: Spec) -> None:
    spec["rules"] = [{"to": [{"operation": {"ports": ["5432"]}}]}]


def _auto_mtls(spec: Spec) -> None:
    del spec["trafficPolicy"]["tls"]


def _methods_on_http_port_only(spec: Spec) -> None:
    source = spec["rules"][0]["from"]
    spec["rules"] = [
        {"from": source, "to": [{"operation": {"ports": ["8080"], "methods": ["GET"]}}]},
        {"from": source, "to": [{"operation": {"ports": ["6379"]}}]},
    ]


def _gateway_principal(spec: Spec) -> None:
    for rule in spec["rules"]:
        for src in rule["from"]:
            src["source"]["principals"] = ["cluster.local/ns/istio-ingress/sa/istio-ingress"]


FIXES: list[tuple[str, str, str, str, Callable[[Spec], None] | None, list[str]]] = [
    (
        "1",
        "shop",
        "AuthorizationPolicy",
        "public-require-jwt",
        _jwt_hosts_with_ports,
        ["routes[1] (api)", "Host: shop.example.com:443", "without JWT"],
    ),
    (
        "2",
        "shop",
        "AuthorizationPolicy",
        "public-require-jwt",
        _claims_enforced,
        ["routes[0] (admin-api)", "lacking"],
    ),
    ("4", "d4-port-mtls-disable", "AuthorizationPolicy", "db", _port_only_rule, ["edge: web -> db :5432"]),
    (
        "5",
        "d5-default-deny-off",
        "AuthorizationPolicy",
        "api",
        None,
        ["non-edge: batch -> api", "(authorization only)"],
    ),
    ("6", "shop", "Telemetry", "mesh-default", None, []),
    ("8", "shop", "DestinationRule", "catalog-db", _auto_mtls, ["edge-no-sidecar: catalog -> catalog-db"]),
    (
        "9",
        "d9-methods-tcp-port",
        "AuthorizationPolicy",
        "cache",
        _methods_on_http_port_only,
        ["edge: web -> cache :6379"],
    ),
    (
        "10",
        "d10-gateway-selector",
        "AuthorizationPolicy",
        "web",
        _gateway_principal,
        ["gateway: external -> gateway/edge"],
    ),
]


def _repaired(
    manifests: list[Manifest], kind: str, name: str, fix: Callable[[Spec], None] | None
) -> list[Manifest]:
    out = []
    for m in manifests:
        if m.kind == kind and m.name == name:
            if fix is None:
                continue  # the repair is to not write it
            body = copy.deepcopy(m.body)
            fix(body["spec"])
            m = Manifest(m.kind, m.namespace, m.name, body)
        out.append(m)
    return out


@pytest.mark.parametrize(
    ("defect", "fixture", "kind", "name", "fix", "probe_words"), FIXES, ids=[f[0] for f in FIXES]
)
def test_repaired_output_passes_the_probe(
    defect: str,
    fixture: str,
    kind: str,
    name: str,
    fix: Callable[[Spec], None] | None,
    probe_words: list[str],
) -> None:
    c = run(FIXTURES / f"{fixture}.mesh.yaml", stages=(load, check_structure, check_semantics))
    assert c.index is not None
    today = manifests_of(FIXTURES / f"{fixture}.today.yaml")
    if defect == "6":  # the mesh-wide resources go; the namespaces keep their mode
        today = [
            m
            for m in today
            if not (m.namespace == "istio-system" and m.kind in ("PeerAuthentication", "Telemetry"))
        ]
        probe_words = ["foreign: probe/other-team"]
    before = [
        r.probe.key
        for r in verify(c.index, today).failures
        if all(w in r.probe.key + " " for w in probe_words)
    ]
    after = [
        r.probe.key
        for r in verify(c.index, _repaired(today, kind, name, fix)).failures
        if all(w in r.probe.key + " " for w in probe_words)
    ]
    if defect != "6":
        assert before, "the captured output exhibits the defect"
    assert after == [], after
