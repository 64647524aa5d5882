"""Benchmark: load -> validate -> compile -> self-check -> write for a synthetic mesh of N services.

    python bench/compile_bench.py --services 10000

prints `services=N seconds=S peak_rss_mb=M resources=R` and a per-stage breakdown. Not a timed test:
run it and read the figures (targets: N=10,000 under 8 s and 1 GiB; compile >= 5,000 services/s).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic import write_spec

from compiler.gcpause import gc_paused
from compiler.pipeline import UNCHECKED_STAGES, run, write_checked


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(args.services, Path(tmp) / "mesh.yaml")
        size_mb = spec.stat().st_size / 1048576
        start = time.perf_counter()
        with gc_paused():  # as `meshc compile -o DIR` does
            c = run(spec, stages=UNCHECKED_STAGES)
            write_checked(c, Path(tmp) / "out")
        end = time.perf_counter()
    seconds = end - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The writer processes (a fork per CPU for big outputs) share the parent's pages until they
    # touch them; their own peak is reported apart, and their sum with the parent's is an upper bound.
    writers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"services={args.services} seconds={seconds:.2f} peak_rss_mb={peak:.0f} "
        f"resources={len(c.manifests)} spec_mb={size_mb:.1f} writer_peak_rss_mb={writers:.0f}"
    )
    for stage, t in c.timings.items():
        print(f"  {stage:<16} {t:7.3f}s")
    lower = c.timings.get("lower_resources", 0.0)
    if lower:
        print(f"  compile rate     {args.services / lower:,.0f} services/s (lower_resources)")


if __name__ == "__main__":
    main()
