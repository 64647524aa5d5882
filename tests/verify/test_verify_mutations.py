"""The verifier is no rubber stamp: break one thing in today's compiled bookinfo (or shop, for the
egress gateway) and the probe that depends on it fails, with the reason and the resource that made
the difference."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import run
from meshc.compiler.verify import Report, verify


def _compiled(example: str = "bookinfo") -> tuple[Any, list[Manifest]]:
    c = run(f"examples/{example}/mesh.yaml", schemas=False, behaviour=False)
    return c.index, c.manifests


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


def _failures(report: Report) -> list[str]:
    return [f"{r.probe.key} | {r.reason} | {[s.resource for s in r.chain]}" for r in report.bugs]


@pytest.mark.parametrize("example", ["bookinfo", "shop"])
def test_todays_output_passes(example: str) -> None:
    index, manifests = _compiled(example)
    assert _failures(verify(index, manifests)) == []


def _weights(spec: dict[str, Any]) -> None:
    spec["http"][-1]["route"][0]["weight"], spec["http"][-1]["route"][1]["weight"] = 80, 20


def _drop_principal(spec: dict[str, Any]) -> None:
    for rule in spec["rules"]:
        for src in rule.get("from", []):
            src["source"]["principals"] = [p for p in src["source"]["principals"] if "productpage" not in p]


def _open_policy(spec: dict[str, Any]) -> None:
    spec["rules"] = [{}]


def _hide_reviews(spec: dict[str, Any]) -> None:
    spec["egress"][0]["hosts"] = [h for h in spec["egress"][0]["hosts"] if "reviews" not in h]


def _wrong_subset(spec: dict[str, Any]) -> None:
    spec["subsets"][-1]["labels"] = {"version": "v9"}


def _plaintext_client(spec: dict[str, Any]) -> None:
    spec.setdefault("trafficPolicy", {})["tls"] = {"mode": "DISABLE"}


def _egress_leg_without_sni(spec: dict[str, Any]) -> None:
    # the mesh leg's SNI becomes the outbound cluster name: no server of the egress Gateway takes it
    for subset in spec["subsets"]:
        for setting in subset["trafficPolicy"]["portLevelSettings"]:
            del setting["tls"]["sni"]


def _egress_policy_for_another_host(spec: dict[str, Any]) -> None:
    for rule in spec["rules"]:
        for cond in rule["when"]:
            cond["values"] = ["api.other.example"]


MUTATIONS = [
    ("VirtualService", "reviews", _weights, "edge: productpage -> reviews", "lands on"),
    (
        "AuthorizationPolicy",
        "reviews",
        _drop_principal,
        "edge: productpage -> reviews",
        "403: no ALLOW rule matches",
    ),
    ("AuthorizationPolicy", "reviews", _open_policy, "non-edge:", "expected denied"),
    ("Sidecar", "productpage", _hide_reviews, "edge: productpage -> reviews", "REGISTRY_ONLY"),
    ("DestinationRule", "reviews", _wrong_subset, "edge: productpage -> reviews", "no endpoints"),
    ("DestinationRule", "reviews", _plaintext_client, "edge: productpage -> reviews", "requires mTLS"),
]


SHOP_MUTATIONS = [
    (
        "DestinationRule",
        "shop-istio-egressgateway-subsets",
        _egress_leg_without_sni,
        "egress: payments -> api.stripe.com",
        "serves no outbound_.443_.stripe_.",
    ),
    (
        "AuthorizationPolicy",
        "shop-stripe-egress",
        _egress_policy_for_another_host,
        "egress: payments -> api.stripe.com",
        "403: no ALLOW rule matches",
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "change", "probe", "reason"), SHOP_MUTATIONS, ids=[m[2].__name__ for m in SHOP_MUTATIONS]
)
def test_a_broken_egress_gateway_resource_fails_its_probe(
    kind: str, name: str, change: Any, probe: str, reason: str
) -> None:
    index, manifests = _compiled("shop")
    failures = _failures(verify(index, _mutate(manifests, kind, name, change)))
    assert any(probe in f and reason in f for f in failures), failures


@pytest.mark.parametrize(
    ("kind", "name", "change", "probe", "reason"), MUTATIONS, ids=[m[2].__name__ for m in MUTATIONS]
)
def test_a_broken_resource_fails_its_probe(
    kind: str, name: str, change: Any, probe: str, reason: str
) -> None:
    index, manifests = _compiled()
    failures = _failures(verify(index, _mutate(manifests, kind, name, change)))
    assert any(probe in f and reason in f for f in failures), failures
