"""Crash-safe replacement of an output directory (`meshc compile -o DIR`).

What a reader of DIR may see, whenever meshc is killed (kill -9 included): the complete previous
tree or the complete new one, never a mix and never nothing. The new tree is written into a
hidden sibling `.DIR.tmp-*` and swapped in with a single `renameat2(RENAME_EXCHANGE)`: DIR stays a
real directory (not a symlink to flip), and at every instant its name refers to one whole tree.
After the exchange the sibling holds the previous tree and is removed. Where the exchange is not
available (not Linux, or a filesystem without it), the swap falls back to two renames through
`.DIR.old-*/previous`; a crash between them leaves DIR missing until the next compile, which puts
the previous tree back before anything else.

Writers of one parent directory take turns (an exclusive `flock` on the parent, released by the
kernel when the process dies), so anything matching `.DIR.tmp-*` or `.DIR.old-*` that a writer
finds under the lock is debris of a killed compile, and is removed.

Only what changed is written (`reuse`): a file whose new bytes equal those of the same path in the
previous tree is hard-linked into the staging tree instead (same inode, not rewritten: tools that
watch DIR, rsync and `make` see it unchanged); a resource no longer compiled simply is not linked.
The previous tree is never modified (a link adds a name, it does not touch the file), so the
exchange stays the one visible step. Removing the retired tree after the exchange (one unlink per
file) is left to a background `rm` for a big tree: the compile does not wait for it, and if it
dies its leftovers are debris like any other.

Replacing one folder: with the build cache's index of the previous tree (`meshc.compiler.emit`
decides), a recompile whose every difference from that tree (files new, changed or removed) lies
under one folder D strictly below DIR (the deepest such folder whose parent exists before and
after, e.g. `ns-100` or `east/ns-100`) stages only D's new content in a `.DIR.tmp-*` sibling and
makes it DIR/D in one step (`swap_part`): `renameat2(RENAME_EXCHANGE)` of the staging directory
and DIR/D (the staging name then holds the previous D and is removed), a plain rename for a new D,
and a rename of DIR/D onto the empty staging directory for a D that goes away. Nothing outside D
is linked, written or touched, the marker included. This applies only when the result is exactly
the tree a whole write would give, so first (`scan`) every folder outside D is listed and must
list exactly as the index recorded it (`folder_entries`, compared by `digest`): the new tree's
names there and nothing else (anything someone put there, a file, a folder or a symlink, would be
dropped by a whole write), every folder in the way a real directory, and every file the same
regular file (device, inode, size and mtime; a racily clean one is also compared by content,
`holds`) holding a body whose text the cache keeps (so it passed the self-check). Anything
else, a D that would be DIR itself, or no exchange (another filesystem, not Linux): the whole tree
is written as above. When nothing differs at all, nothing is written. A crash leaves DIR the old
or the new tree as before: the staging directory is invisible until the one rename or exchange,
and is debris after it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from meshc.spec.native import extension

from . import libc, workers

STAGING = "tmp"
RETIRED = "old"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

BACKGROUND_REMOVAL_FILES = 20_000
"""From this many files on, the retired tree is removed by a background process (one unlink per
file: seconds for 80,000 files on a busy disk) instead of before the compile returns."""


def debris_prefix(target: Path, what: str) -> str:
    return f".{target.name}.{what}-"


@contextmanager
def writer_lock(parent: Path) -> Iterator[bool]:
    """Hold the parent directory's writer lock (blocking); yields whether it is held. Without it
    (a filesystem that refuses locks) nothing is cleaned up, since another writer may be live."""
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # releases the lock


def recover_and_clean(target: Path) -> None:
    """Under the writer lock: put back a previous tree a crash left retired (DIR missing), then
    remove every staging and retired directory of `target` left by killed writers."""
    parent = target.parent
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return
    staged = [n for n in names if n.startswith(debris_prefix(target, STAGING))]
    retired = [n for n in names if n.startswith(debris_prefix(target, RETIRED))]
    if not os.path.lexists(target):
        for name in retired:
            previous = parent / name / "previous"
            if _is_real_dir(previous):
                os.rename(previous, target)
                break
    for name in (*staged, *retired):
        path = parent / name
        if _is_real_dir(path):  # never follow a planted symlink
            shutil.rmtree(path, ignore_errors=True)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def make_staging(target: Path) -> Path:
    """A fresh hidden sibling of `target`, created like `mkdir` does (mode 0777 less the umask,
    unlike `tempfile.mkdtemp`'s 0700, which would make the output unreadable to other users)."""
    for _ in range(100):
        path = target.parent / f"{debris_prefix(target, STAGING)}{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free name for a staging directory")


def swap_in(staging: Path, target: Path, *, background: bool = False) -> None:
    """Make `staging` the tree at `target` in one step, then remove the previous tree (`background`:
    without waiting for it, see `remove`)."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    if exchange(staging, target):
        remove(staging, background=background)  # now the previous tree
        return
    retired = target.parent / f"{debris_prefix(target, RETIRED)}{secrets.token_hex(4)}"
    os.mkdir(retired, 0o700)
    os.rename(target, retired / "previous")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(retired / "previous", target)  # put the previous output back
        raise
    remove(retired, background=background)


def remove(path: Path, *, background: bool = False) -> None:
    """Remove the tree at `path` (a debris-named sibling of an output). `background`: hand it to an
    `rm -rf` that outlives this process, detached from its terminal and output, so that the caller
    does not wait for it; where that cannot start, it is removed here. A removal that dies half-way
    leaves debris, which the next writer removes."""
    import subprocess  # here: most compiles never need it

    rm = "/bin/rm"
    if background and sys.platform == "linux" and os.access(rm, os.X_OK):
        try:
            subprocess.Popen(
                [rm, "-rf", "--", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,  # never the writer lock's descriptor: the next compile must not wait
                start_new_session=True,  # a Ctrl-C in the terminal does not stop it half-way
            )
            return
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


FILE_MODE = 0o644
"""The mode a file of the tree is created with (less the umask)."""


def umask_mode() -> int:
    """FILE_MODE less the process's umask: the permission bits a file created now gets on a
    filesystem that keeps them."""
    mask = os.umask(0o077)  # read by setting it: no thread runs while a tree is written
    os.umask(mask)
    return FILE_MODE & ~mask


def created_mode(folder: Path) -> int:
    """The permission bits a file created with FILE_MODE in `folder` (a staging directory) gets
    there: what a fresh write gives, on this filesystem (one that keeps no permissions shows its
    mount's, e.g. 0777). A file of the previous tree with others (someone ran chmod on it, which
    changes no mtime) is not linked into the new tree but written anew, as a fresh write would."""
    probe = folder / ".meshc-mode"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        os.unlink(probe)


def reuse(previous: str, staged: str, data: bytes, mode: int | None = None) -> bool:
    """Hard-link `previous` (a file of the tree being replaced) to `staged` if it holds exactly
    `data`: the new tree then shares the unchanged file, inode and all. False (nothing done) when
    it does not exist, is not a regular file (a planted symlink is never followed or linked), or
    differs; the caller then writes `data`. Reading and comparing is a third of the cost of
    creating and writing a file, and a link costs less than either. `mode`: the permission bits
    it must have too (`created_mode`)."""
    return reused(previous, staged, data, mode) is not None


def reused(previous: str, staged: str, data: bytes, mode: int | None = None) -> os.stat_result | None:
    """`reuse`, returning the linked file's status (None: not linked)."""
    info = _holding(previous, data, mode=mode)
    if info is None:
        return None
    try:
        os.link(previous, staged, follow_symlinks=False)
    except OSError:  # a filesystem without hard links, a file that vanished: write it instead
        return None
    return info


def link_recorded(
    previous: str, staged: str, recorded: tuple[int, int, int, int], mode: int | None = None
) -> bool:
    """Hard-link `previous` to `staged` without reading it, if its `lstat` shows exactly the
    `recorded` (device, inode, size, mtime) of a file meshc wrote with the bytes wanted (the build
    cache's index of the previous tree, see `meshc.compiler.buildcache`). meshc never writes a
    file in place, so that inode still holds those bytes; anything else (another inode, size or
    mtime, not a regular file: a planted symlink is never followed; other permission bits than
    `mode`, when given: chmod changes no mtime) and nothing is done."""
    try:
        info = os.lstat(previous)
    except OSError:
        return False
    if (
        not stat.S_ISREG(info.st_mode)
        or (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) != recorded
        or (mode is not None and stat.S_IMODE(info.st_mode) != mode)
    ):
        return False
    try:
        os.link(previous, staged, follow_symlinks=False)
    except OSError:
        return False
    return True


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE). False when the system
    or filesystem cannot; an OSError for any other failure."""
    renameat2 = libc.renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


# --- replacing one folder of the tree ----------------------------------------------------------------


def folders(paths: Iterable[str]) -> set[str]:
    """Every folder (relative, "" excluded) that holds one of `paths` or one of its folders."""
    found: set[str] = set()
    for folder in {path.rpartition("/")[0] for path in paths}:  # most paths share a few folders
        while folder and folder not in found:
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def part_to_replace(changed: Iterable[str], old_folders: set[str], new_folders: set[str]) -> str:
    """The deepest folder that holds every `changed` path (new, changed or removed files) and whose
    parent is in both trees (a new or removed folder is replaced from its closest surviving
    ancestor: an exchange needs the parent on both sides); "" for the whole tree."""
    common: list[str] | None = None
    for path in changed:
        parts = path.split("/")[:-1]
        if not parts or any(p in ("", ".", "..") for p in parts):
            return ""  # not a path meshc writes (an index from elsewhere): never leave DIR by it
        if common is None:
            common = parts
        else:
            n = 0
            while n < len(common) and n < len(parts) and common[n] == parts[n]:
                n += 1
            del common[n:]
        if not common:
            return ""
    if not common:
        return ""
    part = "/".join(common)
    while part:
        parent = part.rpartition("/")[0]
        if not parent or (parent in old_folders and parent in new_folders):
            return part
        part = parent
    return ""


FolderEntries = tuple[list[bytes], list[str]]
"""One folder as `folder_entries` lists it: its entries, and its racily clean files' names."""

Scan = dict[str, FolderEntries | None]
"""Folder (relative, "" for the tree itself) -> its `folder_entries` (None: it cannot be listed)."""

NEVER_RACY = 1 << 62
"""A `racy_ns` no file's mtime reaches (to list a folder only)."""

ENTRY = struct.Struct("<IQQqq")
"""The status part of a `folder_entries` entry."""


def folder_entries(path: str, racy_ns: int) -> FolderEntries | None:
    """The entries of the folder `path`, sorted by name, each as the bytes `name NUL kind` and,
    for anything but a directory, `mode dev ino size mtime_ns` (little-endian: 32 bits, then 64
    bits each), where kind is `d` for a directory (a folder is described by its own entries, so
    only its name and kind count here), `f` for a regular file and `o` for anything else, as
    `lstat` shows them (a symlink is never followed); and the names of the regular files whose
    mtime is at least `racy_ns` ("racily clean": an edit within the filesystem's timestamp tick
    of meshc's own write would not show in their status). None when `path` is not a directory
    (a symlink to one included) or cannot be listed, or an entry vanishes meanwhile.

    One `lstat` per entry: the native walk in compiler/_emitc.c where it is built, else the same
    bytes from Python."""
    native = _native_folder_entries()
    if native is not None:
        return native(path, racy_ns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        entries: list[bytes] = []
        racy: list[str] = []
        for name in sorted(os.listdir(fd), key=os.fsencode):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                entries.append(os.fsencode(name) + b"\0d")
                continue
            regular = stat.S_ISREG(info.st_mode)
            entries.append(
                os.fsencode(name)
                + (b"\0f" if regular else b"\0o")
                + ENTRY.pack(info.st_mode, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            )
            if regular and info.st_mtime_ns >= racy_ns:
                racy.append(name)
        return entries, racy
    except OSError:
        return None
    finally:
        os.close(fd)


def _native_folder_entries() -> Callable[[str, int], FolderEntries | None] | None:
    emitc = extension("meshc.compiler._emitc")
    if emitc is None:
        return None
    native: Callable[[str, int], FolderEntries | None] = emitc.folder_entries
    return native


def digest(entries: list[bytes]) -> str:
    """What the build cache records of a folder: a hash of its `folder_entries`."""
    return hashlib.blake2b(b"".join(entries), digest_size=16).hexdigest()


def scan(target: str, folders: Iterable[str], racy_ns: int = NEVER_RACY) -> Scan:
    """The `folder_entries` of each of `folders` (relative to `target`, "" for `target` itself)."""
    return {f: folder_entries(f"{target}/{f}" if f else target, racy_ns) for f in sorted(folders)}


def digests(target: str, folders: Iterable[str]) -> dict[str, str] | None:
    """The `digest` of each of `folders` of `target`; None if one cannot be listed."""
    found: dict[str, str] = {}
    for folder, listing in scan(target, folders).items():
        if listing is None:
            return None
        found[folder] = digest(listing[0])
    return found


FolderId = tuple[int, int, int, int]
"""(device, inode, mtime, ctime) of a folder, as `lstat` shows it."""

EARLY_SCAN_FILES = 4_000
"""From this many files in the previous tree on, a compile into it lists the tree's folders early,
in a forked child (`EarlyScan`): ~0.16 s of `lstat`s at 10,000 services, otherwise spent after
lowering, when both CPUs are busy."""


class EarlyScan:
    """The `scan` of the previous tree at `target`, made by a forked child while this process reads
    the spec (the CLI starts it once its read-ahead child has parsed the spec, while this process
    validates it: one CPU is idle then), and brought up to date under the write lock.

    The child first takes the filesystem's clock (`timestamp`, in a staging directory beside the
    tree), then notes each folder's `FolderId` before listing it. A folder whose mtime and ctime
    are both older than that clock cannot change without its ctime changing (every later change
    stamps at least the clock), so under the write lock (`take`) its early listing stands if its
    `FolderId` is still the one noted; every other folder is listed again there. A folder another
    meshc replaced meanwhile (a whole tree or one folder: always an exchange, never an edit in
    place) is a new directory, and one that gained or lost an entry has a new ctime: both are
    listed again. What an early listing cannot see is an edit someone makes by hand, in place, to a
    file of the tree while the compile runs, as a listing made under the lock cannot see one made
    between it and the swap: the next compile sees it (the file's status no longer matches).

    Join it once, on every path: `take` or `close`."""

    def __init__(self, target: str, folders: Iterable[str], racy_ns: int) -> None:
        self.target = target
        self.racy_ns = racy_ns
        self.work = workers.BestEffort(partial(_list_early, target, sorted(folders), racy_ns))

    def take(self) -> Scan | None:
        """The scan of the tree as it is now (call it under the write lock); None when the child
        failed or the scan was taken already (then scan anew)."""
        early = self.work.result()
        if early is None:
            return None
        scanned: Scan = {}
        for folder, (noted, listing) in early.items():
            path = f"{self.target}/{folder}" if folder else self.target
            if noted is None or listing is None or folder_id(path) != noted:
                listing = folder_entries(path, self.racy_ns)
            scanned[folder] = listing
        return scanned

    def close(self) -> None:
        """Reap the child if `take` did not."""
        self.work.close()


def folder_id(path: str) -> FolderId | None:
    """The `FolderId` of the folder at `path` (None: not a directory, a symlink never followed)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)


def _list_early(
    target: str, folders: list[str], racy_ns: int
) -> dict[str, tuple[FolderId | None, FolderEntries | None]]:
    """In `EarlyScan`'s child: each folder's `FolderId` (None where it is not older than the
    filesystem's clock before the first listing, or that clock cannot be read) and listing."""
    try:
        staging = make_staging(Path(target))
        try:
            clock: int | None = timestamp(staging)
        finally:
            os.rmdir(staging)
    except OSError:
        clock = None
    found: dict[str, tuple[FolderId | None, FolderEntries | None]] = {}
    for folder in folders:
        path = f"{target}/{folder}" if folder else target
        noted = folder_id(path)
        listing = folder_entries(path, racy_ns)
        settled = noted is not None and clock is not None and noted[2] < clock and noted[3] < clock
        found[folder] = (noted if settled else None, listing)
    return found


def holds(path: str, data: bytes, recorded: tuple[int, int, int, int]) -> bool:
    """Whether the file at `path` is the `recorded` (device, inode, size, mtime) regular file and
    holds exactly `data` (never following a symlink)."""
    info = _holding(path, data, recorded)
    return info is not None


def _holding(
    path: str, data: bytes, recorded: tuple[int, int, int, int] | None = None, mode: int | None = None
) -> os.stat_result | None:
    """The status of the regular file at `path` (never a symlink followed) if it holds exactly
    `data` (and, with `recorded`, is that (device, inode, size, mtime); with `mode`, has those
    permission bits); else None. The status is compared before the bytes are read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return None
        if recorded is not None and (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) != recorded:
            return None
        if mode is not None and stat.S_IMODE(info.st_mode) != mode:
            return None
        return info if os.read(fd, len(data) + 1) == data else None
    finally:
        os.close(fd)


def timestamp(folder: Path) -> int:
    """The filesystem's clock now (ns), as a file created in `folder` (then removed) shows it: what
    the marker file's mtime is to a whole write, for a write that replaced one folder."""
    stamp = folder / ".meshc-stamp"
    fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
        os.unlink(stamp)


def swap_part(
    staging: Path, target: Path, part: str, *, existed: bool, wanted: bool, background: bool
) -> bool:
    """Make `staging` the folder `part` of the tree at `target` in one step: an exchange when the
    folder exists before and after (the previous folder, then under the staging name, is removed),
    a rename when it is new, and when it goes away a rename of the folder onto the (empty) staging
    directory, which is then removed. False, with nothing changed, when that step is not
    available (no RENAME_EXCHANGE, another filesystem): the caller replaces the whole tree."""
    destination = target / part
    try:
        if existed and wanted:
            if not exchange(staging, destination):
                return False
        elif wanted:
            os.rename(staging, destination)
            return True
        else:
            os.rename(destination, staging)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EBUSY):  # another filesystem, a mount point: nothing done
            return False
        raise
    remove(staging, background=background)
    return True
