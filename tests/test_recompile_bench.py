"""bench/recompile_bench.py's edits give specs meshc accepts, each the kind of change it names."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bench.recompile_bench import EDITS
from bench.synthetic import make_spec
from meshc.compiler import pipeline

BASE = make_spec(240)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_each_edit_compiles_cleanly(tmp_path: Path, name: str) -> None:
    spec = copy.deepcopy(BASE)
    EDITS[name](spec)
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    compiled = pipeline.run(path)
    assert not compiled.diagnostics  # the synthetic mesh is clean, and stays so
    before = {(s["namespace"], s["name"]): s for s in BASE["spec"]["services"]}
    after = {(s["namespace"], s["name"]): s for s in spec["spec"]["services"]}
    changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    targets = {r["to"]["service"] for g in spec["spec"]["gateways"] for r in g["routes"]}
    if name == "service":
        assert len(after) == len(before) + 1 and not changed
    else:
        assert after.keys() == before.keys() and len(changed) == 1
    if name.startswith("call"):
        (key,) = changed
        (call,) = [c for c in after[key]["calls"] if c not in before[key]["calls"]]
        assert call["service"].split("/")[0] != key[0]  # into another namespace
    if name == "timeout-near-routed":
        (key,) = changed
        assert key[1] not in targets and targets & {c["service"] for c in after[key]["calls"]}
    if name == "call-routed":
        callee = call["service"].split("/")[1]
        assert callee in targets and key[1] not in targets
