"""Emit cost: rendering every compiled manifest of a synthetic mesh to YAML text.

    python bench/emit_bench.py --services 10000 [--rounds 5]

Compiles the mesh once (not timed), then renders all manifests `--rounds` times with each emitter,
interleaved in every round: the Python reference (`emit.dump_python`) and the native walk
(`emit.dump_native`, compiler/_emitc.c; what `emit.dump` is when it is built). Prints the CPU
seconds (min and median), the cost per manifest, the ratio native / Python (per round, then min and
median), and orjson's time for the same data as a floor (JSON, not YAML: only a yardstick). Each
round starts each emitter with the emitter's caches empty, as a fresh `meshc compile` does. The two
texts are compared once: the benchmark fails if they differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from synthetic import write_spec

from meshc.compiler import emit
from meshc.compiler.gcpause import gc_paused
from meshc.compiler.pipeline import run


def _clear_caches() -> None:
    for name in ("_scalar_cache", "_key_orders"):
        cache = getattr(emit, name, None)
        if cache is not None:
            cache.clear()


def _timed(dump: Callable[[dict[str, Any]], str], bodies: list[dict[str, Any]]) -> tuple[float, int]:
    _clear_caches()
    start = time.process_time()
    size = sum(len(dump(b)) for b in bodies)
    return time.process_time() - start, size


def _line(name: str, times: list[float], count: int) -> str:
    return (
        f"  {name:<8} cpu min={min(times):.3f}s median={statistics.median(times):.3f}s"
        f"  ({min(times) / count * 1e6:.1f} us per manifest)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    native = emit.dump_native
    with tempfile.TemporaryDirectory() as tmp, gc_paused():
        spec = write_spec(args.services, Path(tmp) / "mesh.yaml")
        c = run(spec, schemas=False, behaviour=False)
        bodies = [m.body for m in c.manifests]
        if native is not None:
            _clear_caches()
            if [native(b) for b in bodies] != [emit.dump_python(b) for b in bodies]:
                raise SystemExit("the native and the Python emitter wrote different text")
        python, c_times, floor = [], [], []
        for _ in range(args.rounds):
            seconds, size = _timed(emit.dump_python, bodies)
            python.append(seconds)
            if native is not None:
                c_times.append(_timed(native, bodies)[0])
            start = time.process_time()
            for b in bodies:
                orjson.dumps(b)
            floor.append(time.process_time() - start)
    print(
        f"services={args.services} manifests={len(bodies)} yaml_mb={size / 1048576:.1f} rounds={args.rounds}"
        f" distinct_scalars={len(emit._scalar_cache)} key_shapes={len(emit._key_orders)}"
    )
    print(_line("python", python, len(bodies)))
    if c_times:
        print(_line("native", c_times, len(bodies)))
        ratios = [n / p for n, p in zip(c_times, python, strict=True)]
        print(
            f"  native / python  min={min(c_times) / min(python):.2f} median="
            f"{statistics.median(c_times) / statistics.median(python):.2f}"
            f"  (per round: {' '.join(f'{r:.2f}' for r in ratios)})"
        )
    else:
        print("  native   not built (MESHC_PURE_PYTHON set, or no C compiler when meshc was installed)")
    print(_line("orjson", floor, len(bodies)) + "  (JSON: a floor only)")
    print(f"  python / orjson  {min(python) / min(floor):.1f}x")
    if c_times:
        print(f"  native / orjson  {min(c_times) / min(floor):.1f}x")


if __name__ == "__main__":
    main()
