"""Every example compiles to its golden output, byte for byte, deterministically.

Regenerate the goldens after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_examples.py`
and review the diff like any other code change.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, REPO, meshc

from meshc.compiler.emit import dump_stream, write_tree
from meshc.compiler.pipeline import run

GOLDEN = REPO / "tests" / "golden"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_matches_golden(example):
    c = run(REPO / "examples" / example / "mesh.yaml")
    assert not [d for d in c.diagnostics if d.severity == "error"]
    text = dump_stream(c.manifests)
    golden = GOLDEN / f"{example}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"missing golden file {golden}; run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{example}: output differs from {golden}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_has_no_warnings(example):
    assert run(REPO / "examples" / example / "mesh.yaml").diagnostics == []


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_output_is_independent_of_spec_order(tmp_path):
    data = yaml.safe_load((REPO / "examples" / "shop" / "mesh.yaml").read_text())
    shuffled = yaml.safe_load(yaml.safe_dump(data))
    random.Random(7).shuffle(shuffled["spec"]["services"])
    random.Random(8).shuffle(shuffled["spec"]["egress"])
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(data, sort_keys=False))
    b.write_text(yaml.safe_dump(shuffled, sort_keys=True))
    assert dump_stream(run(a).manifests) == dump_stream(run(b).manifests)


def test_directory_output_is_byte_identical_across_runs(tmp_path):
    spec = REPO / "examples" / "shop" / "mesh.yaml"
    for name in ("one", "two"):
        result = meshc("compile", str(spec), "-o", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    one, two = tree_digest(tmp_path / "one"), tree_digest(tmp_path / "two")
    assert one == two
    assert "shop/virtualservice-checkout.yaml" in one
    assert "web/namespace-web.yaml" in one


def test_layout_holds_one_resource_per_file(tmp_path):
    c = run(REPO / "examples" / "bookinfo" / "mesh.yaml")
    write_tree(c.manifests, tmp_path / "out")
    files = [p for p in (tmp_path / "out").rglob("*.yaml")]
    assert len(files) == len(c.manifests)
    for path in files:
        (doc,) = list(yaml.safe_load_all(path.read_text()))
        assert path.name == f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
        assert path.parent.name == doc["metadata"].get("namespace", doc["metadata"]["name"])
