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

__all__ = ["EXIT_BUG", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE"]
