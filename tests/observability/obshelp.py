"""Helpers of the observability tests: tools, a small mesh with SLOs, compiled rule files."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml
from conftest import require_tool

from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import run

REPO = Path(__file__).resolve().parent.parent.parent


NS = "shop"

SLO_MESH: dict[str, Any] = {
    "apiVersion": "meshc.dev/v1alpha1",
    "kind": "Mesh",
    "metadata": {"name": "slotest"},
    "spec": {
        "defaults": {"namespace": NS},
        "observability": {"prometheus": {"output": "operator", "ruleLabels": {"release": "prom"}}},
        "services": [
            {
                "name": "web",
                "ports": [{"port": 8080, "protocol": "http"}],
                "versions": [{"name": "v1", "image": "example.com/web:1"}],
                "calls": [{"service": s} for s in ("tight", "loose", "dest", "split")],
            },
            {
                "name": "tight",
                "team": "checkout",
                "ports": [{"port": 8080, "protocol": "http"}],
                "slo": {"availability": 99.9, "latency": {"p99": "250ms"}},
            },
            {
                "name": "loose",
                "team": "checkout",
                "ports": [{"port": 8080, "protocol": "http"}],
                "slo": {"availability": 99, "alert": {"labels": {"channel": "slow"}}},
            },
            {
                "name": "dest",
                "ports": [{"port": 9090, "protocol": "grpc"}],
                "slo": {"availability": 99.9, "reporter": "destination"},
            },
            {
                "name": "split",
                "ports": [{"port": 8080, "protocol": "http"}],
                "versions": [{"name": "v1"}, {"name": "v2"}],
                "traffic": {"split": {"v1": 90, "v2": 10}},
                "slo": {"availability": 99.5},
            },
        ],
        "gateways": [
            {
                "name": "public",
                "servers": [{"port": 80, "protocol": "http"}],
                "routes": [{"to": {"service": "web"}}],
            }
        ],
    },
}
"""A small mesh covering each SLO shape: a tight and a loose objective, an explicitly destination-
reported gRPC service, a declared split, a latency objective, and a caller that has no SLO."""


def mesh_spec(**observability: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SLO_MESH)
    spec["spec"]["observability"].update(observability)
    return spec


def compile_spec(tmp_path: Path, spec: dict[str, Any], name: str = "mesh.yaml") -> list[Manifest]:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return run(path).manifests


def rule_groups(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """Every rule group meshc emitted, from PrometheusRules (operator) or rule-file ConfigMaps (files)."""
    groups: list[dict[str, Any]] = []
    for m in manifests:
        if m.kind == "PrometheusRule":
            groups += m.body["spec"]["groups"]
        elif m.kind == "ConfigMap" and "meshc-prometheus-rules" in m.name:
            for text in m.body["data"].values():
                groups += yaml.safe_load(text)["groups"]
    return groups


def write_rule_file(path: Path, groups: list[dict[str, Any]], *, annotations: bool = True) -> Path:
    groups = copy.deepcopy(groups)
    if not annotations:  # promtool test compares annotations too; value-dependent text is tested live
        for group in groups:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )
