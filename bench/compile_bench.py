"""Benchmark: load -> validate -> compile -> self-check -> write for a synthetic mesh of N services.

    python bench/compile_bench.py --services 10000 [--no-verify]
    python bench/compile_bench.py --services 10000 --manual-injection   # sidecars written by meshc

prints `services=N seconds=S peak_rss_mb=M resources=R` and a per-stage breakdown. Not a timed test:
run it and read the figures (targets: N=10,000 under 8 s and 1 GiB; compile >= 5,000 services/s).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic import write_spec

from meshc.compiler.gcpause import gc_paused
from meshc.compiler.parallel import run
from meshc.compiler.pipeline import Compilation, emit

_SAMPLER = """
import os, select, sys
root, peak = int(sys.argv[1]), 0
def tree(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return [pid]
    return [pid] + [p for k in kids for p in tree(k)]
def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0
while not select.select([sys.stdin], [], [], 0.1)[0]:
    peak = max(peak, sum(pss(p) for p in tree(root)))
print(peak // 1024)
"""


def _memory_sampler() -> subprocess.Popen[str] | None:
    """A separate process (a thread would keep meshc from forking) that samples, 10 times a second,
    the proportional set size of this process and its writers: shared pages counted once."""
    if not Path("/proc/self/smaps_rollup").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _SAMPLER, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the forked rules and writers): on a
    busy machine a steadier figure than the wall clock for comparing two runs."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument(
        "--manual-injection",
        action="store_true",
        help="every service in manual injection mode: meshc writes the sidecar into each Deployment",
    )
    parser.add_argument(
        "--slo",
        action="store_true",
        help="give every service an availability and a latency SLO (observability: operator output)",
    )
    parser.add_argument(
        "--dashboards", action="store_true", help="with --slo: a Grafana dashboard per service too"
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="leave out the behaviour verifier (every `meshc compile` runs it): to measure its cost",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(
            args.services,
            Path(tmp) / "mesh.yaml",
            manual=args.manual_injection,
            slo=args.slo,
            dashboards=args.dashboards,
        )
        size_mb = spec.stat().st_size / 1048576
        sampler = _memory_sampler()
        cpu_start = _cpu_seconds()
        start = time.perf_counter()
        with gc_paused():  # as `meshc compile -o DIR` does
            c = run(spec, schemas=False, behaviour=not args.no_verify)  # the writers self-check
            written = time.perf_counter()
            emit(c.verified, Path(tmp) / "out")
        end = time.perf_counter()
        cpu = _cpu_seconds() - cpu_start
        tree_pss = sampler.communicate("stop\n")[0].strip() if sampler is not None else "n/a"
    seconds = end - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The rules and writer processes (forked for a big mesh) share this process's pages until they
    # write to them: their peak RSS counts those shared pages again; the sampled PSS of the whole
    # process tree counts them once.
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"services={args.services} manual_injection={args.manual_injection} "
        f"seconds={seconds:.2f} cpu_seconds={cpu:.2f} peak_rss_mb={peak:.0f} "
        f"resources={len(c.manifests)} spec_mb={size_mb:.1f} "
        f"tree_peak_pss_mb={tree_pss} child_peak_rss_mb={children:.0f}"
    )
    for stage, t in {**c.timings, "self_check+write": end - written}.items():
        print(f"  {stage:<16} {t:7.3f}s")
    lower = c.timings.get("lower_resources", 0.0)
    if lower:
        print(f"  compile rate     {args.services / lower:,.0f} services/s (lower_resources)")
    if args.slo:
        _slo_figures(c)


def _slo_figures(c: Compilation) -> None:
    """Rule counts (mesh-wide rules must not grow with the mesh; one row per SLO) and the time of
    the observability lowering steps alone."""
    from meshc.compiler.lower.dashboards import grafana_dashboards
    from meshc.compiler.lower.observability import BUDGET, prometheus_resources

    with gc_paused():  # as in the pipeline
        start = time.perf_counter()
        produced = [m for scope in c.index.scopes for m in prometheus_resources(c.index, scope)]
        produced += [m for scope in c.index.scopes for m in grafana_dashboards(c.index, scope)]
        seconds = time.perf_counter() - start
    rules = [
        r
        for m in produced
        if m.kind == "PrometheusRule"
        for g in m.body["spec"]["groups"]
        for r in g["rules"]
    ]
    mesh_wide = [
        r for m in produced if m.name == "meshc-sli" for g in m.body["spec"]["groups"] for r in g["rules"]
    ]
    rows = sum(1 for r in rules if r.get("record") == BUDGET)
    print(
        f"  slo: mesh-wide rules={len(mesh_wide)} objective rows={rows} all rules={len(rules)}"
        f" rule objects={sum(1 for m in produced if m.kind == 'PrometheusRule')}"
        f" observability lowering={seconds:.3f}s"
    )


if __name__ == "__main__":
    main()
