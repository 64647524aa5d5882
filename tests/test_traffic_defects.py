"""Issue 14, "Traffic defects in today's output": one regression test per defect.

Defects 5 and 6 are rules (MC181, MC182): their regression tests are the rule fixtures
`tests/rules/fixtures/MC181/*` and `tests/rules/fixtures/MC182/*`, run by tests/test_rules.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshc.compiler.pipeline import run

Out = dict[tuple[str | None, str, str | None, str], dict[str, Any]]


def compile_spec(tmp_path: Path, spec: dict[str, Any]) -> Out:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    c = run(path)
    assert not [d for d in c.diagnostics if d.severity == "error"], [d.format() for d in c.diagnostics]
    return {(m.cluster, m.kind, m.namespace, m.name): m.body for m in c.manifests}


def diagnostics(tmp_path: Path, spec: dict[str, Any]) -> list[tuple[str, str]]:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return [(d.code, d.severity) for d in run(path).diagnostics]


HTTP = [{"port": 8080, "protocol": "http"}]
CATALOG = "catalog.shop.svc.cluster.local"


# --- 3. egress through a gateway: each host goes to itself -------------------------------------


def test_egress_gateway_sends_each_host_to_itself(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [{"name": "pay", "namespace": "p", "ports": HTTP}],
            "egress": [
                {
                    "name": "ext",
                    "hosts": ["a.example.com", "b.example.com"],
                    "ports": [{"port": 443, "protocol": "tls"}, {"port": 80, "protocol": "http"}],
                    "callers": ["pay"],
                    "gateway": {},
                }
            ],
        },
    )
    for i, host in enumerate(["a.example.com", "b.example.com"], start=1):
        leg = out[(None, "VirtualService", "istio-system", f"t-ext-egress-{i}")]["spec"]
        assert leg["hosts"] == [host]
        destinations = {
            r["destination"]["host"] for kind in ("http", "tcp") for rule in leg[kind] for r in rule["route"]
        }
        assert destinations == {host}
        mesh = out[(None, "VirtualService", "p", f"t-ext-egress-mesh-{i}")]["spec"]
        assert mesh["hosts"] == [host]
        assert mesh["tls"][0]["match"][0]["sniHosts"] == [host]
        subsets = {
            r["destination"]["subset"]
            for kind in ("http", "tls")
            for rule in mesh[kind]
            for r in rule["route"]
        }
        assert subsets == {f"ext-{i}"}
    dr = out[(None, "DestinationRule", "istio-system", "t-ext-egress")]["spec"]
    snis = {
        s["name"]: {p["tls"]["sni"] for p in s["trafficPolicy"]["portLevelSettings"]} for s in dr["subsets"]
    }
    assert snis == {"ext-1": {"a.example.com"}, "ext-2": {"b.example.com"}}


# --- 7. gRPC retries retry on gRPC status codes ---------------------------------------------------


def test_grpc_service_retries_on_grpc_conditions(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "defaults": {
                "namespace": "shop",
                "traffic": {"retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": ["5xx", "reset"]}},
            },
            "services": [
                {"name": "web", "ports": HTTP, "calls": [{"service": "pricing"}]},
                {"name": "pricing", "ports": [{"port": 9090, "protocol": "grpc"}]},
            ],
        },
    )
    grpc = out[(None, "VirtualService", "shop", "pricing")]["spec"]["http"][0]["retries"]["retryOn"]
    assert grpc == "cancelled,deadline-exceeded,internal,resource-exhausted,unavailable,reset"
    http = out[(None, "VirtualService", "shop", "web")]["spec"]["http"][0]["retries"]["retryOn"]
    assert http == "5xx,reset"
