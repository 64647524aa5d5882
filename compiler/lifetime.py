"""The end of a `meshc compile` or `meshc validate` process: the compiled mesh is not freed object
by object on the way out.

At 10,000 services a compile holds ~500 MB in millions of small objects (the spec's data, its
models and index, ~84,000 manifests, the build cache's rows and texts). Reference counting freed
them one by one as the command's frames unwound, after the last byte was written; the kernel takes
the whole heap back at once when the process ends. Measured interleaved at 10,000 services, ending
without the frees saves 0.15-0.25 s of a 4.4 s compile to a stream and 0.05-0.1 s of a 1.7 s
one-service recompile.

So `entry` (the `meshc` command) arms `keep`; the commands hand it what they would drop at their
end (`cli._run`'s compilation, the opened build cache), and `end` finishes the process with
`os._exit` once stdout and stderr are flushed, as mypy ends its command. Only a command that kept
something ends this way, and only after it returned: every file it writes is closed (and renamed
into place) before that, its forked children are reaped, and meshc registers no `atexit` work.
Every other command (deploy, with its Pulumi threads, included) ends as usual. `main`, which tests
and programs call many times in one process, never arms it, so nothing is kept there.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .exits import EXIT_USAGE

_kept: list[object] | None = None


def arm() -> None:
    """From now on `keep` holds what it is given until the process ends (the `meshc` command)."""
    global _kept
    _kept = []


def keep(*objects: object) -> None:
    """Hold `objects` until the process ends, when armed; otherwise nothing (they are freed as
    usual)."""
    if _kept is not None:
        _kept.extend(objects)


def end(code: int) -> int:
    """End the process now with `code` if a command kept anything (stdout and stderr flushed
    first); otherwise return `code`, for the usual exit."""
    if not _kept:
        return code
    # Both streams exist: `entry` opens a closed one on /dev/null before it arms this.
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`meshc compile -o - | head`): as `main` treats it
        pass
    except OSError:
        code = code or EXIT_USAGE  # stdout could not take the whole output: not a success
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
