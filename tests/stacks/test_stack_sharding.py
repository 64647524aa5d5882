"""Sharding: stacks limited to namespaces or teams (plus one owning the mesh-wide resources) add up
to exactly the unsharded stack, disjointly, with identical objects: the whole mesh is compiled
before the selection, so cross-shard references (principals, Sidecar hosts) are untouched."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from stackhelp import REPO, Plan, plan_config

from meshc.compiler.pipeline import run

SHOP = str(REPO / "examples/shop/mesh.yaml")
CLUSTERS = {"default": {"context": "kind-shop"}}
SHARDS: dict[str, dict[str, Any] | None] = {
    "all": None,
    "web-data": {"namespaces": ["web", "data"]},
    "payments": {"teams": ["payments"]},
    "shop": {"teams": ["catalog", "checkout"]},
    "platform": {"namespaces": ["platform"]},
    "mesh": {"meshWide": True},
}


@functools.cache
def shard_plan(name: str) -> Plan:
    import tempfile

    config: dict[str, Any] = {"meshc:spec": SHOP, "meshc:clusters": CLUSTERS}
    if SHARDS[name] is not None:
        config["meshc:shard"] = SHARDS[name]
    with tempfile.TemporaryDirectory() as tmp:
        result = plan_config(Path(tmp), config)
    assert result.exit_code == 0, result.stderr
    return result


def test_shards_add_up_to_the_unsharded_stack_disjointly_and_identically() -> None:
    whole = shard_plan("all").kube()
    seen: dict[str, str] = {}
    for name in SHARDS:
        if name == "all":
            continue
        for key, reg in shard_plan(name).kube().items():
            assert key not in seen, f"{key} in both {seen.get(key)} and {name}"
            seen[key] = name
            assert reg["inputs"] == whole[key]["inputs"], key
            assert reg["type"] == whole[key]["type"]
    assert set(seen) == set(whole)


def test_namespace_level_resources_go_with_their_namespace() -> None:
    for name in ("web-data", "payments", "shop", "platform"):
        namespaces = {key.split("/")[1] for key in shard_plan(name).kube()}
        expected = {
            "web-data": {"web", "data"},
            "payments": {"payments"},
            "shop": {"shop"},
            "platform": {"platform"},
        }
        assert namespaces == expected[name]
        assert shard_plan(name).outputs["shard"]["meshWide"] is False


def test_mesh_wide_resources_only_in_the_stack_that_owns_them() -> None:
    mesh = shard_plan("mesh").kube()
    # istio-ingress holds the public gateway pods' JWT policies (shared gateway infrastructure),
    # monitoring the mesh-wide SLI rules, monitors and overview dashboard.
    platform = {"istio-system", "istio-ingress", "monitoring"}
    assert {key.split("/")[1] for key in mesh} == platform
    kinds = {key.split("/")[2] for key in mesh}
    # shop does not set `meshWide`: its mTLS and telemetry are namespace-level, in the namespace
    # shards; the shared namespaces hold its gateway's JWT objects and its egress entries.
    assert {"RequestAuthentication", "ServiceEntry", "Gateway"} <= kinds
    assert not {"PeerAuthentication", "Telemetry"} & kinds
    for name in ("web-data", "payments", "shop", "platform"):
        assert not [k for k in shard_plan(name).kube() if k.split("/")[1] in platform]


def test_monitoring_goes_with_the_team_that_owns_the_service() -> None:
    """A service's SLO rows and dashboard deploy with its team; the mesh-wide SLI rules, alerts,
    monitors and overview with the stack that owns mesh-wide resources; no SLO, no object."""
    mesh = set(shard_plan("mesh").kube())
    assert {
        "default/monitoring/PrometheusRule/shop-meshc-sli",
        "default/monitoring/PodMonitor/shop-meshc-envoy-stats",
        "default/monitoring/ServiceMonitor/shop-meshc-istiod",
        "default/monitoring/ConfigMap/shop-meshc-dashboard",
    } <= mesh
    payments = shard_plan("payments").kube()
    assert {k for k in payments if "/PrometheusRule/" in k or "/ConfigMap/" in k} == {
        "default/payments/PrometheusRule/meshc-slo",
        "default/payments/ConfigMap/meshc-dashboard-payments",
    }
    rule = payments["default/payments/PrometheusRule/meshc-slo"]
    assert rule["type"] == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
    (group,) = rule["inputs"]["spec"]["groups"]
    # fraud and ledger (same team and namespace, no slo) add nothing
    assert {r["labels"]["destination_service_name"] for r in group["rules"]} == {"payments"}
    assert (
        payments["default/payments/ConfigMap/meshc-dashboard-payments"]["type"]
        == "kubernetes:core/v1:ConfigMap"
    )
    shop = shard_plan("shop").kube()
    (shop_rule,) = [r for k, r in shop.items() if "/PrometheusRule/" in k]
    names = {
        r["labels"]["destination_service_name"]
        for g in shop_rule["inputs"]["spec"]["groups"]
        for r in g["rules"]
    }
    assert names == {"checkout", "recommendations"}


def test_cross_shard_references_are_those_of_the_whole_mesh() -> None:
    manifests = run(SHOP).manifests
    payments = shard_plan("payments").kube()
    policies = [r for k, r in payments.items() if "/AuthorizationPolicy/" in k]
    principals = {
        p
        for r in policies
        for rule in r["inputs"]["spec"].get("rules", [])
        for source in rule.get("from", [])
        for p in source["source"].get("principals", [])
    }
    # Callers in other namespaces (other shards) are authorized by their full identity.
    assert any("/ns/shop/" in p for p in principals), principals
    sidecars = [m for m in manifests if m.kind == "Sidecar" and m.namespace == "payments"]
    for m in sidecars:
        key = f"default/payments/Sidecar/{m.name}"
        assert payments[key]["inputs"]["spec"] == m.body["spec"]


def test_team_that_does_not_own_its_namespace_is_a_config_error(tmp_path: Path) -> None:
    config = {"meshc:spec": SHOP, "meshc:clusters": CLUSTERS, "meshc:shard": {"teams": ["catalog"]}}
    result = plan_config(tmp_path, config)
    assert result.exit_code == 2
    problem = next(m for m in result.messages if m.startswith("meshc:shard.teams:"))
    assert "team 'catalog' does not own namespace 'shop'" in problem
    assert "(team checkout)" in problem and "select those teams too" in problem
    assert result.resources == []


@pytest.mark.parametrize(
    ("shard", "expected"),
    [
        (
            {"namespaces": ["istio-system"]},
            "meshc:shard.namespaces: 'istio-system' is a control-plane, root or gateway namespace",
        ),
        ({}, "meshc:shard: selects nothing"),
        ({"teams": ["nobody"]}, "meshc:shard.teams: no service belongs to team 'nobody' (teams: "),
    ],
)
def test_other_shard_mistakes(tmp_path: Path, shard: dict[str, Any], expected: str) -> None:
    config = {"meshc:spec": SHOP, "meshc:clusters": CLUSTERS, "meshc:shard": shard}
    result = plan_config(tmp_path, config)
    assert result.exit_code == 2
    assert any(m.startswith(expected) for m in result.messages), result.messages


def test_multicluster_shard_without_mesh_wide_resources(tmp_path: Path) -> None:
    from stackhelp import stack_file_config

    config = {**stack_file_config("prod"), "meshc:shard": {"namespaces": ["travel"]}}
    result = plan_config(tmp_path, config)
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert {k.split("/")[1] for k in kube} == {"travel"}
    assert {k.split("/")[0] for k in kube} == {"east", "west"}
    assert not [k for k, r in kube.items() if r.get("retainOnDelete")]
