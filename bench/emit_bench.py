"""Emit cost: rendering every compiled manifest of a synthetic mesh to YAML text.

    python bench/emit_bench.py --services 10000 [--rounds 5]

Compiles the mesh once (not timed), then renders all manifests `--rounds` times with
`meshc.compiler.emit.dump` and prints the CPU seconds (min and median), the cost per manifest, and
orjson's time for the same data as a floor (JSON, not YAML: only a yardstick). Each round starts
with the emitter's caches empty, as a fresh `meshc compile` does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from synthetic import write_spec

from meshc.compiler import emit
from meshc.compiler.gcpause import gc_paused
from meshc.compiler.pipeline import UNCHECKED_STAGES, run, verify_output


def _clear_caches() -> None:
    for name in ("_scalar_cache", "_key_orders"):
        cache = getattr(emit, name, None)
        if cache is not None:
            cache.clear()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, gc_paused():
        spec = write_spec(args.services, Path(tmp) / "mesh.yaml")
        c = run(spec, stages=tuple(s for s in UNCHECKED_STAGES if s is not verify_output))
        bodies = [m.body for m in c.manifests]
        emitted, floor = [], []
        for _ in range(args.rounds):
            _clear_caches()
            start = time.process_time()
            size = sum(len(emit.dump(b)) for b in bodies)
            emitted.append(time.process_time() - start)
            start = time.process_time()
            for b in bodies:
                orjson.dumps(b)
            floor.append(time.process_time() - start)
    print(
        f"services={args.services} manifests={len(bodies)} yaml_mb={size / 1048576:.1f} rounds={args.rounds}"
    )
    print(
        f"  emit    cpu min={min(emitted):.3f}s median={statistics.median(emitted):.3f}s"
        f"  ({min(emitted) / len(bodies) * 1e6:.1f} us per manifest)"
    )
    print(f"  orjson  cpu min={min(floor):.3f}s median={statistics.median(floor):.3f}s  (JSON: a floor only)")
    print(f"  emit / orjson  {min(emitted) / min(floor):.1f}x")


if __name__ == "__main__":
    main()
