"""Benchmark of ``meshc.compiler.selfcheck.check_resources`` on a synthetic compiled mesh.

Why: the whole compile has an 8 s budget for 10,000 services (~100k resources) on a 2-core
machine, and the self-check may use about 1.5 s of it. This builds 10 resources per service,
shaped like meshc's output, with per-service names, hosts, labels and principals. Every spec
is therefore different and no cache hits by accident. It reports resources/second for a cold
run (fresh process state: validators built and rules compiled) and a warm run (caches filled).

    .venv/bin/python bench/selfcheck_bench.py [--services 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

_IMPORT_CPU = time.process_time()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meshc.compiler.selfcheck import cel as _cel  # noqa: E402
from meshc.compiler.selfcheck import check_resources  # noqa: E402

_IMPORT_CPU = time.process_time() - _IMPORT_CPU


def service_resources(i: int) -> list[dict[str, Any]]:
    """The 10 resources meshc would emit for one service (varying per service)."""
    ns = f"team-{i % 50}"
    name = f"svc-{i}"
    host = f"{name}.{ns}.svc.cluster.local"
    caller = f"svc-{(i + 1) % 10000}"
    managed = {"app.kubernetes.io/managed-by": "meshc", "app.kubernetes.io/part-of": "bench"}
    meta = {"name": name, "namespace": ns, "labels": {**managed, "app": name}}
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": meta,
            "spec": {
                "hosts": [host],
                "http": [
                    {
                        "match": [{"headers": {"end-user": {"exact": f"user-{i}"}}}],
                        "route": [{"destination": {"host": host, "subset": "v2", "port": {"number": 8080}}}],
                        "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
                        "timeout": f"{5 + i % 10}s",
                    },
                    {
                        "route": [
                            {"destination": {"host": host, "subset": "v1"}, "weight": 90},
                            {"destination": {"host": host, "subset": "v2"}, "weight": 10},
                        ],
                        "timeout": "10s",
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": meta,
            "spec": {
                "host": host,
                "trafficPolicy": {
                    "tls": {"mode": "ISTIO_MUTUAL"},
                    "connectionPool": {"tcp": {"maxConnections": 100, "connectTimeout": "3s"}},
                    "outlierDetection": {
                        "consecutive5xxErrors": 5,
                        "interval": "10s",
                        "baseEjectionTime": "30s",
                    },
                },
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ],
            },
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [{"source": {"principals": [f"cluster.local/ns/{ns}/sa/{caller}"]}}],
                        "to": [{"operation": {"ports": ["8080"], "methods": ["GET", "POST"]}}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Sidecar",
            "metadata": meta,
            "spec": {
                "workloadSelector": {"labels": {"app": name}},
                "egress": [{"hosts": ["istio-system/*", f"{ns}/{caller}.{ns}.svc.cluster.local"]}],
            },
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "mtls": {"mode": "STRICT"},
                "portLevelMtls": {"9090": {"mode": "PERMISSIVE"}},
            },
        },
        {
            "apiVersion": "telemetry.istio.io/v1",
            "kind": "Telemetry",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "tracing": [{"providers": [{"name": "zipkin"}], "randomSamplingPercentage": 1.0 + i % 3}],
                "accessLogging": [{"providers": [{"name": "envoy"}]}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app": name},
                "ports": [
                    {"name": "http", "port": 8080, "targetPort": 8080, "appProtocol": "http"},
                    {"name": "grpc-metrics", "port": 9090, "targetPort": "metrics", "appProtocol": "grpc"},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name, "version": "v1"}},
                "template": {
                    "metadata": {
                        "labels": {"app": name, "version": "v1", "sidecar.istio.io/inject": "true"},
                        "annotations": {"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'},
                    },
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [
                            {
                                "name": "app",
                                "image": f"registry.example.com/{name}:1.{i % 7}",
                                "ports": [
                                    {"name": "http", "containerPort": 8080},
                                    {"name": "metrics", "containerPort": 9090},
                                ],
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"service.yaml": f"name: {name}\nport: 8080\n"},
        },
    ]


def make_mesh(services: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(services):
        out.extend(service_resources(i))
    return out


def _timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process); CPU time is stable on a shared machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    resources = make_mesh(args.services)
    n = len(resources)

    errors: list[Any] = []
    wall, cpu = _timed(lambda: errors.extend(check_resources(resources)))
    if errors:
        for e in errors[:20]:
            print(e)
        raise SystemExit(f"unexpected errors: {len(errors)}")
    evals = sum(_cel.evaluation_stats().values())
    print(f"{n} resources ({args.services} services); import of compiler.selfcheck: cpu {_IMPORT_CPU:.3f} s")
    print(
        f"cold (schema load + compile + empty memo): wall {wall:.3f} s, cpu {cpu:.3f} s, "
        f"{n / cpu:,.0f} res/s (cpu)"
    )
    print(f"  celpy evaluations: {evals}")

    for label, reset in (("warm schemas, empty CEL memo", True), ("warm schemas, warm CEL memo ", False)):
        best_wall = best_cpu = float("inf")
        for _ in range(args.repeat):
            if reset:
                _cel.clear_memo()
            wall, cpu = _timed(lambda: check_resources(resources))
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        print(f"{label}: wall {best_wall:.3f} s, cpu {best_cpu:.3f} s, {n / best_cpu:,.0f} res/s (cpu)")


if __name__ == "__main__":
    main()
