"""A synthetic mesh of N services for benchmarks: 2-3 versions, several calls and routes each,
spread over namespaces, with gateways and egress. Deterministic for a given N (no randomness).

Services sit in four tiers (i % 4) and call only the next tier, with retries on two tiers, so the
graph is acyclic, call chains are at most four deep, and the spec is clean (no warnings): like a
well-run mesh, not a pathological one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SERVICES_PER_NAMESPACE = 50


SLO = {"availability": 99.9, "latency": {"p99": "250ms"}}
"""With `slo=True`: every service has an availability and a latency objective."""
ZIPKIN = "zipkin.istio-system.svc.cluster.local"
"""The tracing backend the synthetic mesh declares (MC203: every provider is declared)."""


def make_spec(n: int, *, manual: bool = False, slo: bool = False, dashboards: bool = False) -> dict[str, Any]:
    """`manual`: every service in manual injection mode (meshc writes each Deployment's sidecar)."""
    services = []
    for i in range(n):
        name = f"svc-{i:05d}"
        versions = [
            {"name": f"v{k}", "image": f"registry.example.com/{name}:{k}.0.0"}
            for k in range(1, 2 + (i % 2) + 1)
        ]
        calls = []
        tier = i % 4
        for step in (1, 5, 29):  # steps of 1 mod 4: always into the next tier
            j = i + step
            if tier < 3 and j < n:
                call: dict[str, Any] = {"service": f"svc-{j:05d}"}
                if step == 1:
                    call["methods"] = ["GET", "POST"]
                    call["paths"] = ["/api/*"]
                calls.append(call)
        traffic: dict[str, Any] = {
            "routes": [
                {
                    "name": "beta-users",
                    "match": [{"headers": {"x-beta": {"exact": "true"}}}],
                    "to": versions[-1]["name"],
                },
                {"name": "admin", "match": [{"path": {"prefix": "/admin/"}}], "to": "v1", "timeout": "5s"},
            ],
        }
        if tier in (1, 3):
            traffic["retries"] = {"attempts": 1, "perTryTimeout": "2s", "retryOn": ["5xx", "reset"]}
        if len(versions) == 3:
            traffic["split"] = {"v1": 80, "v2": 15, "v3": 5}
        else:
            traffic["split"] = {"v1": 90, "v2": 10}
        if i % 10 == 0:
            traffic["outlierDetection"] = {
                "consecutive5xxErrors": 5,
                "interval": "10s",
                "baseEjectionTime": "30s",
            }
            traffic["connectionPool"] = {"maxConnections": 100, "http1MaxPendingRequests": 10}
        services.append(
            {
                "name": name,
                "namespace": f"ns-{i // SERVICES_PER_NAMESPACE:03d}",
                "ports": [{"port": 8080, "protocol": "http"}, {"port": 9090, "protocol": "grpc"}],
                "versions": versions,
                "calls": calls,
                "traffic": traffic,
                **({"slo": {**SLO, "latency": dict(SLO["latency"])}} if slo else {}),  # no YAML aliases
            }
        )
    gateways = make_gateways(n)
    egress = [
        {
            "name": "payments-api",
            "hosts": ["api.payments.example.net"],
            "callers": [f"svc-{i:05d}" for i in range(0, n, 97)],
        }
    ]
    defaults: dict[str, Any] = {
        "traffic": {"timeout": "30s"},
        **({"injection": {"mode": "manual"}} if manual else {}),
    }
    extra: dict[str, Any] = {}
    if slo:
        # source-side everywhere: tier-0 services have no declared caller (auto would warn, MC173)
        defaults["slo"] = {"reporter": "source"}
        extra["observability"] = {
            "prometheus": {"output": "operator"},
            "grafana": {"dashboards": "configmap" if dashboards else "none"},
        }
    return {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "synthetic"},
        "spec": {
            **extra,
            "defaults": defaults,
            "telemetry": {
                "providers": [{"name": "zipkin", "zipkin": {"service": ZIPKIN, "port": 9411}}],
                "tracing": {"provider": "zipkin", "sampling": 1.0},
            },
            "services": services,
            "gateways": gateways,
            "egress": egress,
        },
    }


def make_gateways(n: int) -> list[dict[str, Any]]:
    """A gateway per 500 services, each routing a path prefix to up to 100 of them."""
    count = max(1, n // 500)
    return [
        {
            "name": f"gw-{g:03d}",
            "namespace": "ingress",
            "selector": {"istio": "ingressgateway"},
            "hosts": [f"app{g}.example.com"],
            "servers": [{"port": 80, "protocol": "http"}],
            "routes": [
                {
                    "match": [{"path": {"prefix": f"/s{i:05d}/"}}],
                    "to": {"service": f"svc-{i:05d}", "port": 8080},
                }
                for i in range(g, n, count * 5)
            ][:100],
        }
        for g in range(count)
    ]


def write_spec(
    n: int, path: Path, *, manual: bool = False, slo: bool = False, dashboards: bool = False
) -> Path:
    path.write_text(
        yaml.dump(
            make_spec(n, manual=manual, slo=slo, dashboards=dashboards),
            Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
            sort_keys=False,
        )
    )
    return path
