"""Work in forked processes, for the big compiles that would otherwise leave all but one CPU idle.

Python runs one thread of Python at a time, so meshc splits big jobs between processes: a forked
child shares the parent's memory (copy on write: the compiled spec is not pickled or copied), runs
one function and sends back its pickled result through a pipe. Used for the semantic rules (run
beside lowering, see `compiler.pipeline`) and for writing the output files (`compiler.emit`).

fork() copies only the calling thread, so it is never used in a process that runs other threads
(a Pulumi program, a test runner's worker): there the work stays in one process, with the same
result.
"""

from __future__ import annotations

import os
import pickle
import threading
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1 and cpu_count() > 1


class WorkerFailed(Exception):
    """The child raised (or died); `message` says how, `oserror` is the strerror of an OSError."""

    def __init__(self, message: str, *, oserror: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.oserror = oserror


class Forked(Generic[T]):
    """`fn()` running in a forked child from construction on; `join()` waits for its result.

    Call `join()` exactly once, on every path (also when the parent fails meanwhile): it reaps the
    child.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns, never runs the parent's cleanup or atexit handlers
            os.close(read_end)
            try:
                payload = _outcome(fn)
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_end, view) :]
            finally:
                os._exit(0)
        os.close(write_end)
        self._pid = pid
        self._read_end = read_end

    def join(self) -> T:
        with os.fdopen(self._read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        if not data:
            code = os.waitstatus_to_exitcode(status)
            raise WorkerFailed(f"a worker process ended with status {code} before reporting")
        ok, value, oserror = pickle.loads(data)
        if not ok:
            raise WorkerFailed(value, oserror=oserror)
        result: T = value
        return result


def _outcome(fn: Callable[[], object]) -> bytes:
    try:
        return pickle.dumps((True, fn(), None))
    except BaseException as exc:  # reported to the parent, which decides
        oserror = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
        return pickle.dumps((False, "".join(traceback.format_exception(exc)).rstrip(), oserror))
