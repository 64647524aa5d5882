"""Every example's compiled output passes the verifier (it runs on every compile too; this names
the failing probes directly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshc.compiler.pipeline import run
from meshc.compiler.verify import verify

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/mesh.yaml"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_passes_the_verifier(example: str) -> None:
    c = run(
        REPO / "examples" / example / "mesh.yaml",
        schemas=False,
        behaviour=False,
    )
    assert c.index is not None
    report = verify(c.index, c.manifests)
    assert [f"{r.probe.key}: {r.reason}" for r in report.bugs] == []
