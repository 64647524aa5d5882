"""What the observability lowering emits, resource by resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from obshelp import REPO, compile_spec, mesh_spec, rule_groups

from meshc.compiler.lower import Manifest
from meshc.compiler.lower.observability import BUDGET


def _rows(manifests: list[Manifest]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["labels"]["destination_service_name"], r["labels"]["slo"]): r
        for g in rule_groups(manifests)
        for r in g["rules"]
        if r.get("record") == BUDGET
    }


def test_no_observability_section_emits_nothing_new(tmp_path: Path) -> None:
    spec = mesh_spec()
    del spec["spec"]["observability"]
    kinds = {m.kind for m in compile_spec(tmp_path, spec)}
    assert not kinds & {"PrometheusRule", "PodMonitor", "ServiceMonitor", "ConfigMap"}
    spec["spec"]["observability"] = {"prometheus": {"output": "none"}}
    kinds = {m.kind for m in compile_spec(tmp_path, spec, "none.yaml")}
    assert not kinds & {"PrometheusRule", "PodMonitor", "ServiceMonitor", "ConfigMap"}


def test_exact_budgets_reporters_and_labels(tmp_path: Path) -> None:
    rows = _rows(compile_spec(tmp_path, mesh_spec()))
    assert rows[("tight", "availability")]["expr"] == "vector(0.001)"
    assert rows[("loose", "availability")]["expr"] == "vector(0.01)"
    assert rows[("tight", "latency")]["expr"] == "vector(0.01)"
    assert rows[("tight", "latency")]["labels"]["le_ms"] == "250"
    assert rows[("tight", "availability")]["labels"]["reporter"] == "source"  # auto: web is in the mesh
    assert rows[("dest", "availability")]["labels"]["reporter"] == "destination"  # explicit
    assert rows[("loose", "availability")]["labels"] == {
        "destination_service_namespace": "shop",
        "destination_service_name": "loose",
        "reporter": "source",
        "slo": "availability",
        "alerting": "page-ticket",
        "team": "checkout",
        "channel": "slow",
    }


def test_burn_factors_follow_the_period(tmp_path: Path) -> None:
    spec = mesh_spec(slo={"period": "28d"})
    alerts = [r for g in rule_groups(compile_spec(tmp_path, spec)) for r in g["rules"] if "alert" in r]
    fast = next(a for a in alerts if a["alert"] == "MeshcSLOFastBurn")
    slow = next(a for a in alerts if a["alert"] == "MeshcSLOSlowBurn")
    assert "> 13.44 " in fast["expr"] and "> 5.6 " in fast["expr"]
    assert "> 2.8 " in slow["expr"] and "> 0.933333)" in slow["expr"]
    groups = rule_groups(compile_spec(tmp_path, mesh_spec(), "30.yaml"))
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    assert "meshc:sli_availability_error:ratio_rate30d" in records


def test_scraping_is_limited_to_the_mesh(tmp_path: Path) -> None:
    manifests = compile_spec(tmp_path, mesh_spec())
    (pod,) = [m for m in manifests if m.kind == "PodMonitor"]
    assert pod.namespace == "monitoring"
    assert pod.body["spec"]["namespaceSelector"] == {"matchNames": ["istio-system", "shop"]}
    (istiod,) = [m for m in manifests if m.kind == "ServiceMonitor"]
    assert istiod.body["spec"]["namespaceSelector"] == {"matchNames": ["istio-system"]}
    secure = compile_spec(
        tmp_path, mesh_spec(prometheus={"output": "files", "scrape": "secure"}), "secure.yaml"
    )
    (snippet,) = [m for m in secure if m.name == "slotest-meshc-prometheus-scrape"]
    envoy = yaml.safe_load(snippet.body["data"]["meshc-scrape.yaml"])["scrape_configs"][0]
    assert envoy["scheme"] == "https" and envoy["tls_config"]["cert_file"] == "/etc/prom-certs/cert-chain.pem"
    assert envoy["relabel_configs"][-1]["replacement"] == "$1:15091"
    none = compile_spec(tmp_path, mesh_spec(prometheus={"scrape": "none"}), "noscrape.yaml")
    assert not [m for m in none if m.kind in ("PodMonitor", "ServiceMonitor")]


def test_files_mode_writes_rule_files_and_a_scrape_snippet_in_config_maps(tmp_path: Path) -> None:
    manifests = compile_spec(tmp_path, mesh_spec(prometheus={"output": "files"}))
    assert not [m for m in manifests if m.body["apiVersion"].startswith("monitoring.coreos.com")]
    maps = {m.name: m for m in manifests if m.kind == "ConfigMap" and m.namespace == "monitoring"}
    assert {
        "slotest-meshc-prometheus-rules",
        "slotest-meshc-prometheus-rules-shop",
        "slotest-meshc-prometheus-scrape",
    } <= set(maps)
    scrape = yaml.safe_load(maps["slotest-meshc-prometheus-scrape"].body["data"]["meshc-scrape.yaml"])
    (envoy, istiod) = scrape["scrape_configs"]
    assert envoy["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": ["istio-system", "shop"]}}
    ]
    assert istiod["job_name"] == "slotest-meshc-istiod"


def test_multicluster_each_cluster_gets_the_rules_of_what_it_sees(tmp_path: Path) -> None:
    spec = yaml.safe_load((REPO / "examples" / "multicluster" / "mesh.yaml").read_text())
    spec["spec"]["observability"] = {}
    for svc in spec["spec"]["services"]:
        if svc["name"] in ("frontend", "reviews"):
            svc["slo"] = {"availability": 99.9}
    manifests = compile_spec(tmp_path, spec)
    sli = {m.cluster for m in manifests if m.name == "travel-meshc-sli"}
    assert sli == {"east", "west"}
    for cluster in ("east", "west"):
        rows = _rows([m for m in manifests if m.cluster == cluster])
        visible = {"east": {"frontend", "reviews"}, "west": {"reviews"}}[cluster]
        assert {name for name, _ in rows} == visible, cluster
