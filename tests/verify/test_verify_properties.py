"""Property: on random valid meshes the verifier agrees with the spec's intent (every declared
edge through, on the declared versions; every undeclared pair denied).

Restricted to the shapes issue 12's defects do not touch (each exclusion names the defect that
blocks it; lift it when that fix lands): no egress (3), no JWT gateways (1, 2, 7), no portMtls
DISABLE (4), defaultDeny on (5), no methods or paths on calls to services with a TCP port (9),
workloads owned and injected (8), the default gateway selector (10). The `foreign` probes are left
out: every spec writes the mesh-wide PeerAuthentication today (6)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshc.compiler.pipeline import run
from meshc.compiler.verify import verify

BLOCKED_BY_DEFECT = {"foreign": 6}


@st.composite
def meshes(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 6))
    names = [f"s{i}" for i in range(n)]
    with_tcp = {name for name in names if draw(st.integers(0, 2)) == 0}
    services = []
    for name in names:
        versions = draw(st.integers(1, 2))
        svc: dict[str, Any] = {
            "name": name,
            "namespace": draw(st.sampled_from(["ns-a", "ns-b"])),
            "ports": [{"port": 8080, "protocol": "http"}]
            + ([{"port": 9000, "protocol": "tcp"}] if name in with_tcp else []),
            "versions": [
                {"name": f"v{k + 1}", "image": f"example.com/{name}:{k + 1}"} for k in range(versions)
            ],
        }
        if draw(st.integers(0, 3)) == 0:
            svc["account"] = "shared"  # two services with one identity: Istio cannot tell them apart
        if versions == 2:
            first = draw(st.integers(0, 100))
            svc["traffic"] = {"split": {"v1": first, "v2": 100 - first}}
        calls = []
        for callee in draw(st.lists(st.sampled_from(names), unique=True, max_size=3)):
            if callee == name:
                continue
            call: dict[str, Any] = {"service": callee}
            if callee in with_tcp:  # defect 9: methods or paths make its TCP port unreachable
                if draw(st.booleans()):
                    call["ports"] = [draw(st.sampled_from([8080, 9000]))]
                calls.append(call)
                continue
            methods = draw(st.lists(st.sampled_from(["GET", "POST", "PUT"]), unique=True, max_size=2))
            if methods:
                call["methods"] = methods
            if draw(st.booleans()):
                call["paths"] = ["/api/*"]
            calls.append(call)
        if calls:
            svc["calls"] = calls
        services.append(svc)
    spec: dict[str, Any] = {"defaults": {"namespace": "ns-a"}, "services": services}
    if draw(st.booleans()):
        target = draw(st.sampled_from(names))
        spec["gateways"] = [
            {
                "name": "edge",
                "hosts": ["app.example.com"],
                "servers": [{"port": 80, "protocol": "http"}],
                "routes": [{"match": [{"path": {"prefix": "/"}}], "to": {"service": target, "port": 8080}}],
            }
        ]
    return {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "prop"}, "spec": spec}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshes())
def test_verifier_agrees_with_the_spec(mesh: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mesh.yaml"
        path.write_text(yaml.safe_dump(mesh))
        c = run(
            path,
            schemas=False,
            behaviour=False,
        )
    assert c.index is not None
    report = verify(c.index, c.manifests)
    failures = [
        f"{r.probe.key}: {r.reason}" for r in report.failures if r.probe.kind not in BLOCKED_BY_DEFECT
    ]
    assert failures == []
    kinds = report.counts
    assert kinds.get("non-edge", 0) > 0 or all(
        len(s.get("calls", [])) == len(mesh["spec"]["services"]) - 1 for s in mesh["spec"]["services"]
    )
