"""A 1,000-service CUE spec evaluates and compiles, and its output comes through whole.

(bench/cue_bench.py prints the timings; this checks the result, with a loose time limit only.)
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from cue_helpers import REPO, _pin_wasm, needs_cue, write

from meshc.compiler.pipeline import load, run

__all__ = ["_pin_wasm"]


def _bench():
    path = REPO / "bench" / "cue_bench.py"
    spec = importlib.util.spec_from_file_location("cue_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cue_bench", module)
    spec.loader.exec_module(module)
    return module


@needs_cue
def test_thousand_services_in_cue_come_through_whole(tmp_path: Path) -> None:
    bench = _bench()
    spec = write(tmp_path / "mesh.cue", bench.typical_cue(1000))
    start = time.perf_counter()
    loaded = load(spec)
    cue_seconds = time.perf_counter() - start
    assert len(loaded.data["spec"]["services"]) == 1000
    assert loaded.data == bench.typical_spec(1000)  # every value, none cut off
    compiled = run(spec, loaded=loaded)
    total = time.perf_counter() - start
    assert not [d for d in compiled.diagnostics if d.severity == "error"]
    assert len(compiled.manifests) > 7000
    print(f"\n1,000 services in CUE: cue {cue_seconds:.2f} s, total {total:.2f} s")
    assert total < 120, "far beyond the ~7 s measured on the 2-core dev machine"
