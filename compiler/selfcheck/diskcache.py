"""A small on-disk cache for start-up work that does not change between runs.

Why: each ``meshc`` run is a new process, and the self-check has ~1.5 s for 100k resources,
start-up included. Two start-up costs are pure functions of files that never change for a
given install:

- building celpy's CEL parser (lark LALR tables): ~0.3 s;
- parsing the vendored 870 KB ``crd-all.gen.yaml`` with PyYAML: ~0.2 s.

They are cached in ``$MESHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/meshc``, else ``~/.cache/meshc``.
The directory is private (mode 0700). Entries are keyed by a content hash, so a stale entry is
never used, and they are written atomically (temporary file, then rename). If the directory
cannot be used, or ``MESHC_CACHE_DIR`` is set to the empty string, nothing is cached and
everything still works, only slower. Every new install or upgrade of meshc (or of its vendored
files) has new keys: when a set of entries is written, all but the KEEP_SETS most recently
written sets of its family are removed (``prune``), so old sets do not pile up, while a few
installs that share the directory keep theirs.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

KEEP_SETS = 4
"""Sets of one family kept (by the time they were written): the running install's and, say, a
second virtualenv's or the previous version's."""


def cache_dir() -> Path | None:
    """The cache directory (created if needed), or None if caching is off or impossible."""
    configured = os.environ.get("MESHC_CACHE_DIR")
    if configured is not None:
        if not configured:
            return None
        base = Path(configured)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "meshc"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


def read(name: str) -> bytes | None:
    d = cache_dir()
    if d is None:
        return None
    try:
        return (d / name).read_bytes()
    except OSError:
        return None


def write(name: str, data: bytes) -> None:
    """Atomically store ``data``; failures are ignored (the cache is only an optimisation)."""
    d = cache_dir()
    if d is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def prune(family: re.Pattern[str], keep: str) -> None:
    """Remove every entry of `family` (a pattern whose first group is an entry's key) that belongs
    to none of the KEEP_SETS most recently written keys; `keep`, the key just written, always
    stays. Failures are ignored (another process may prune at the same time)."""
    d = cache_dir()
    if d is None:
        return
    sets: dict[str, list[tuple[int, str]]] = {}
    try:
        for name in os.listdir(d):
            found = family.match(name)
            if found is not None:
                with contextlib.suppress(FileNotFoundError):
                    sets.setdefault(found.group(1), []).append((os.lstat(d / name).st_mtime_ns, name))
    except OSError:
        return
    newest = sorted(sets, key=lambda key: (key != keep, -max(t for t, _ in sets[key]), key))
    for key in newest[KEEP_SETS:]:
        for _, name in sets[key]:
            with contextlib.suppress(OSError):
                os.unlink(d / name)
