"""The few Linux system calls meshc needs that Python's `os` does not offer, through ctypes.

Each returns None (or does nothing) where the C library or the call is missing, so callers keep a
portable fallback.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
from typing import Any

_cache: list[ctypes.CDLL | None] = []


def library() -> ctypes.CDLL | None:
    if not _cache:
        lib: ctypes.CDLL | None = None
        if sys.platform == "linux":
            # glibc's name first: `find_library` runs `/sbin/ldconfig -p` in a subprocess, which
            # every forked worker (each arms `kill_me_with_parent`) would pay again.
            try:
                lib = ctypes.CDLL("libc.so.6", use_errno=True)
            except OSError:
                name = ctypes.util.find_library("c")  # another C library (musl)
                try:
                    lib = ctypes.CDLL(name, use_errno=True) if name else None
                except OSError:
                    lib = None
        _cache.append(lib)
    return _cache[0]


def renameat2() -> Any:
    """The C library's renameat2 (glibc 2.28+), typed; None where missing."""
    lib = library()
    fn = getattr(lib, "renameat2", None) if lib is not None else None
    if fn is not None:
        fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
        fn.restype = ctypes.c_int
    return fn


_PR_SET_PDEATHSIG = 1


def kill_me_with_parent() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills this process when the thread that forked
    it exits. False where unavailable."""
    lib = library()
    if lib is None:
        return False
    return bool(lib.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0)
