"""Shared test helpers. Tests may read Istio's reference material from ../shared (beside the repo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MESHC_SHARED", REPO.parent / "shared")) / "reference" / "istio"
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/mesh.yaml"))


def meshc(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (exit codes and stderr are part of the interface)."""
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )


@pytest.fixture
def write(tmp_path: Path):
    def _write(text: str | bytes, name: str = "mesh.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write


def istio_sample(relative: str) -> Path:
    path = SHARED / "samples" / relative
    if not path.exists():
        pytest.skip(f"Istio reference samples not found at {SHARED}")
    return path
