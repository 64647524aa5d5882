"""The verifier is no rubber stamp: break one thing in today's compiled bookinfo and the probe that
depends on it fails, with the reason and the resource that made the difference."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from compiler.lower import Manifest
from compiler.pipeline import check_semantics, check_structure, load, lower_resources, run
from compiler.verify import Report, verify

KNOWN = {"foreign"}  # defect 6: every output writes the mesh-wide PeerAuthentication today


def _compiled() -> tuple[Any, list[Manifest]]:
    c = run("examples/bookinfo/mesh.yaml", stages=(load, check_structure, check_semantics, lower_resources))
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
    return [
        f"{r.probe.key} | {r.reason} | {[s.resource for s in r.chain]}"
        for r in report.failures
        if r.probe.kind not in KNOWN
    ]


def test_todays_bookinfo_passes_but_for_known_defects() -> None:
    index, manifests = _compiled()
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
    spec["trafficPolicy"]["tls"] = {"mode": "DISABLE"}


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


@pytest.mark.parametrize(
    ("kind", "name", "change", "probe", "reason"), MUTATIONS, ids=[m[2].__name__ for m in MUTATIONS]
)
def test_a_broken_resource_fails_its_probe(
    kind: str, name: str, change: Any, probe: str, reason: str
) -> None:
    index, manifests = _compiled()
    failures = _failures(verify(index, _mutate(manifests, kind, name, change)))
    assert any(probe in f and reason in f for f in failures), failures
