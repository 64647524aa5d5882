"""`meshc` exit codes, defined once: they are part of the command-line interface, shared by every
command (`validate`, `compile`, `diff`, `plan`, `deploy`, `verify`, `inject`, ...).

0  the spec is valid (warnings allowed) / the command succeeded
1  the spec has errors (or warnings under --strict), or the command's check failed
2  usage or environment problem (bad arguments, missing file, unwritable output, missing tool)
3  internal error: meshc produced output that failed its own self-check, or crashed (a meshc bug)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class CompilerBug(Exception):
    """The compiled output failed its self-check: a bug in meshc, never the user's fault (EXIT_BUG).
    Defined here, beside its exit code, so that the command line catches it without importing the
    compiler (`meshc.compiler.pipeline` raises it)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


__all__ = ["EXIT_BUG", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "CompilerBug"]
