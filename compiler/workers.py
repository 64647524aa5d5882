"""Work in forked processes, for the big compiles that would otherwise leave all but one CPU idle.

Python runs one thread of Python at a time, so meshc splits big jobs between processes: a forked
child shares the parent's memory (copy on write: the compiled spec is not pickled or copied), runs
one function and sends back its pickled result through a pipe. Used for the semantic rules (run
beside lowering, see `meshc.compiler.parallel`) and for writing the output files (`meshc.compiler.emit`, in
contiguous shares by `map_shares`; `meshc compile -o DIR` self-checks each share in its writer).

Forking is not free on a big heap: each process then pays page faults for the memory it touches
(reference counts are writes). A separate pass splitting only the self-check (~1 s at 10,000
services) gained nothing for that reason; inside the writers, which touch the same objects anyway,
it comes almost free, and rendering and writing 80,000 files (~6 s) halves.

fork() copies only the calling thread, so it is never used in a process that runs other threads
(a Pulumi program, a test runner's worker): there the work stays in one process, with the same
result.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Generic, TypeVar

from . import libc

T = TypeVar("T")
X = TypeVar("X")

MAX_PROCESSES = 4


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    # Linux only: on macOS, forking without exec is unsafe once system frameworks have started.
    return sys.platform == "linux" and threading.active_count() == 1 and cpu_count() > 1


def processes_for(items: int, threshold: int) -> int:
    """How many processes should share `items` units of work: one below `threshold` (a fork costs
    more than it saves) or where forking is not safe, else one per CPU, at most MAX_PROCESSES, and
    never less than threshold/2 items each."""
    if items < threshold or not can_fork():
        return 1
    return max(1, min(cpu_count(), MAX_PROCESSES, items // max(1, threshold // 2)))


def map_shares(fn: Callable[[Sequence[X], int], list[T]], items: Sequence[X], processes: int) -> list[T]:
    """`fn(share, offset)` for contiguous shares of `items`, one per process (this process takes the
    first): the results concatenated in order, as `fn(items, 0)` would give. Every child is waited
    for, whatever happens here; the first failure is raised as WorkerFailed."""
    bounds = [len(items) * w // processes for w in range(processes + 1)]
    children: list[Forked[list[T]]] = []
    results: list[T] = []
    failures: list[WorkerFailed] = []
    try:
        for w in range(1, processes):
            start, stop = bounds[w], bounds[w + 1]
            children.append(Forked(partial(fn, items[start:stop], start)))
        results.extend(fn(items[bounds[0] : bounds[1]], 0))
    finally:
        for child in children:
            try:
                results.extend(child.join())
            except WorkerFailed as exc:
                failures.append(exc)
    if failures:
        raise failures[0]
    return results


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
        self._pid, self._read_end = _fork_piped(lambda write_end: _write_all(write_end, _outcome(fn)))

    def ready(self) -> bool:
        """Whether `join` would not wait: the child's report (or the end of its pipe) is there."""
        return _readable(self._read_end)

    def join(self) -> T:
        try:
            with os.fdopen(self._read_end, "rb") as pipe:
                data = pipe.read()
        except BaseException:
            # Interrupted (Ctrl-C): no one joins this child again, so it is ended and reaped here,
            # not left working, or a zombie, in a program that goes on (one calling `parallel.run`).
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            raise
        _, status = os.waitpid(self._pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if not data:
            raise WorkerFailed(f"a worker process ended with status {code} before reporting")
        try:
            ok, value, oserror = pickle.loads(data)
        except (pickle.UnpicklingError, EOFError, ValueError):
            # Killed while writing a report bigger than the pipe holds (out of memory, a signal):
            # a truncated report is no report.
            raise WorkerFailed(
                f"a worker process ended with status {code} halfway through a report"
            ) from None
        if not ok:
            raise WorkerFailed(value, oserror=oserror)
        result: T = value
        return result


class BestEffort(Generic[T]):
    """`fn()` in a forked child whose result is a bonus (work done ahead, on an idle CPU):
    `result()` joins the child once and is None when it failed (the caller then does the work
    itself) or was asked for already; `close()` reaps the child if `result` did not. Call one of
    them on every path."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._child: Forked[T] | None = Forked(fn)
        self.pid = self._child._pid

    @property
    def joined(self) -> bool:
        return self._child is None

    def ready(self) -> bool:
        """Whether `result` would not wait (the child has reported, or has been joined)."""
        return self._child is None or self._child.ready()

    def result(self) -> T | None:
        child, self._child = self._child, None
        if child is None:
            return None
        try:
            return child.join()
        except WorkerFailed:
            return None

    def close(self) -> None:
        self.result()


class Streamed:
    """`fn(send)` in a forked child that reports as it goes: each `send(payload)` is a frame that
    `frames()` yields in this process as soon as it is sent (a big result handed over in parts,
    the first worked on here while the child makes the next). Best effort, like `BestEffort`: a
    child that fails or dies ends the frames early (whoever reads them then does the work itself,
    telling a whole report by its own last frame). Call `close()` on every path: it ends the
    child if it is still working (its work is no longer wanted) and reaps it."""

    def __init__(self, fn: Callable[[Callable[[bytes], None]], None]) -> None:
        self.pid, self._read_end = _fork_piped(lambda write_end: fn(partial(_send_frame, write_end)))
        self._pipe: io.BufferedReader | None = None
        self._closed = False

    @property
    def joined(self) -> bool:
        """Whether the child has been reaped (`close`)."""
        return self._closed

    def ready(self) -> bool:
        """Whether the first frame (or the end of the frames) is there: reading it would not wait.
        Asked before the first frame is read."""
        return self._closed or _readable(self._read_end)

    def wait(self) -> None:
        """Wait until `ready`. Asked before the first frame is read."""
        if not self._closed:
            _readable(self._read_end, None)

    def frames(self) -> Iterator[bytes]:
        """The frames the child sends, in order, until it ends (call it once)."""
        if self._closed:
            return
        pipe = self._pipe = os.fdopen(self._read_end, "rb")
        while True:
            head = pipe.read(8)
            if len(head) < 8:
                return
            size = int.from_bytes(head, "little")
            payload = pipe.read(size)
            if len(payload) < size:  # killed halfway through a frame: that frame is no frame
                return
            yield payload

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        if self._pipe is not None:
            self._pipe.close()
        else:
            os.close(self._read_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _readable(fd: int, timeout_ms: int | None = 0) -> bool:
    """Whether reading `fd` would not wait (data, or the writer gone), once `timeout_ms` have
    passed at most (None: waiting until it is so). `poll`, not `select`: a process started with
    1,024 descriptors open (a parent that leaks them, a high `ulimit -n`) gets pipes numbered beyond
    what `select` takes."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout_ms))


def _send_frame(fd: int, payload: bytes) -> None:
    """In a `Streamed` child: one frame, its length (8 bytes, little-endian) then its bytes."""
    _write_all(fd, len(payload).to_bytes(8, "little"))
    _write_all(fd, payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fork_piped(in_child: Callable[[int], object]) -> tuple[int, int]:
    """Fork a child that runs `in_child(write_end)` and exits (never returning, never running the
    parent's cleanup or atexit handlers); here: (its pid, the read end of its pipe). Raises when
    there is no fork now (process or memory limits): the caller falls back."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child
        os.close(read_end)
        try:
            _become_child(parent)
            in_child(write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


_parent: int | None = None
"""In a forked child: the pid of the process that forked it."""


def _become_child(parent: int) -> None:
    """Die with the parent, so that no worker outlives a killed compile and, say, keeps writing
    into its output. The parent may have died before the prctl took effect: then exit now."""
    global _parent
    _parent = parent
    libc.kill_me_with_parent()
    if os.getppid() != parent:
        os._exit(1)


def orphaned() -> bool:
    """In a forked child: whether the parent has died (then its work is no longer wanted)."""
    return _parent is not None and os.getppid() != _parent


def _outcome(fn: Callable[[], object]) -> bytes:
    try:
        return pickle.dumps((True, fn(), None))
    except BaseException as exc:  # reported to the parent, which decides
        oserror = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
        return pickle.dumps((False, "".join(traceback.format_exception(exc)).rstrip(), oserror))
