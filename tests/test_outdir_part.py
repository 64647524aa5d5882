"""`meshc compile -o DIR` with the build cache replaces only the folder that holds every change
(issue 17, see meshc.compiler.outdir "Replacing one folder").

What must hold, whatever the previous tree and whoever touched it: DIR ends up name for name and
byte for byte what writing the whole tree gives (anything someone added, edited or replaced outside
that folder sends the write down the whole-tree path), unchanged files keep their inodes, a kill -9
at any step leaves the old or the new tree, and the cache's index describes the new tree.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meshc.compiler import buildcache, emit, outdir
from meshc.compiler.emit import MARKER, OutputRejected, write_tree
from meshc.compiler.lower.common import Manifest

linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux: renameat2, fork")


def cm(namespace: str, name: str, tag: str = "a", cluster: str | None = None) -> Manifest:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"t": tag}}
    return Manifest("ConfigMap", namespace, name, body, cluster)


def mesh(n: int = 21, tag: str = "a") -> list[Manifest]:
    return [cm(f"ns-{i % 7}", f"cm-{i}", tag) for i in range(n)]


def replaced(items: list[Manifest], name: str, tag: str) -> list[Manifest]:
    return [cm(m.namespace or "", m.name, tag, m.cluster) if m.name == name else m for m in items]


def snapshot(root: Path) -> dict[str, object]:
    """Every name under `root` (not following symlinks): a file's bytes, a folder, a link's target."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            info = os.lstat(path)
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[key] = "folder"
            else:
                found[key] = path.read_bytes()
    return dict(sorted(found.items()))


def inodes(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (os.lstat(p).st_ino, os.lstat(p).st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def debris(parent: Path) -> list[str]:
    return sorted(n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n)


def fresh(tmp_path: Path, items: list[Manifest]) -> dict[str, object]:
    """What writing the whole tree gives (no cache, a new directory)."""
    where = tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}"
    write_tree(items, where)
    return snapshot(where)


class Writes:
    """Cached writes into one DIR, as `meshc compile -o DIR` does them (the pack saved after), with
    a record of how each replaced the tree: ("part", folder), ("whole",) or ("nothing",)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.out = tmp_path / "out"
        self.spec = tmp_path / "mesh.yaml"
        self.swaps: list[tuple[str, ...]] = []
        monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
        real_part, real_whole = outdir.swap_part, outdir.swap_in

        def swap_part(staging: Path, target: Path, part: str, **kwargs: bool) -> bool:
            self.swaps.append(("part", part))
            return real_part(staging, target, part, **kwargs)

        def swap_in(staging: Path, target: Path, **kwargs: bool) -> None:
            self.swaps.append(("whole",))
            real_whole(staging, target, **kwargs)

        monkeypatch.setattr(outdir, "swap_part", swap_part)
        monkeypatch.setattr(outdir, "swap_in", swap_in)

    def __call__(self, items: list[Manifest], settle: bool = False) -> tuple[str, ...]:
        """Write `items`; `settle`: twice, so that no file is racily clean any more."""
        for k in range(2 if settle else 1):
            if k:
                time.sleep(0.05)  # past the timestamp tick of the first write's files
            before = len(self.swaps)
            cache = buildcache.open_cache(self.spec)
            write_tree(items, self.out, cache=cache)
            cache.save_tree()
        return self.swaps[before] if len(self.swaps) > before else ("nothing",)


@pytest.fixture
def writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writes:
    return Writes(tmp_path, monkeypatch)


# --- the folder replaced, and only it ---------------------------------------------------------------


@linux
@pytest.mark.parametrize("processes", [1, 2])
def test_one_changed_file_replaces_its_folder_only(tmp_path, writes, monkeypatch, processes):
    if processes > 1:  # the bodies addressed in a forked process while the tree is scanned
        monkeypatch.setattr(emit, "PARALLEL_FILES", 2)
        monkeypatch.setattr("meshc.compiler.workers.cpu_count", lambda: 2)
    before = mesh()
    writes(before, settle=True)
    old = inodes(writes.out)
    after = replaced(before, "cm-9", "b")  # ns-2
    assert writes(after) == ("part", "ns-2")
    new = inodes(writes.out)
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert new["ns-2/configmap-cm-9.yaml"] != old["ns-2/configmap-cm-9.yaml"]
    assert new["ns-2"] != old["ns-2"]  # the folder itself is the new one
    kept = [p for p in old if p not in ("ns-2", "ns-2/configmap-cm-9.yaml")]
    assert {p: new[p] for p in kept} == {p: old[p] for p in kept}  # marker, folders, files: untouched
    assert all(os.lstat(writes.out / p).st_nlink == 1 for p in kept if p.endswith(".yaml"))
    assert debris(tmp_path) == []
    # The index describes the new tree: the next write with no change touches nothing at all.
    assert writes(after) == ("nothing",)
    assert inodes(writes.out) == new


@linux
def test_nothing_changed_leaves_the_directory_alone(tmp_path, writes, monkeypatch):
    items = mesh()
    writes(items, settle=True)
    old = inodes(writes.out)
    root = os.lstat(writes.out).st_ino
    with monkeypatch.context() as m:
        m.setattr(outdir, "make_staging", lambda target: pytest.fail("staged although nothing changed"))
        assert writes(items) == ("nothing",)
    assert inodes(writes.out) == old and os.lstat(writes.out).st_ino == root
    assert snapshot(writes.out) == fresh(tmp_path, items)


@linux
@pytest.mark.parametrize(
    ("edit", "part"),
    [
        (lambda items: [*items, cm("ns-9", "cm-new")], "ns-9"),  # a new folder: renamed into place
        (lambda items: [m for m in items if m.namespace != "ns-3"], "ns-3"),  # a folder gone
        (lambda items: [m for m in items if m.name != "cm-4"], "ns-4"),  # a file gone
        (lambda items: [*items, cm("ns-4", "cm-new")], "ns-4"),  # a file added
    ],
    ids=["new folder", "removed folder", "removed file", "added file"],
)
def test_new_and_removed_folders_and_files(tmp_path, writes, edit, part):
    before = mesh()
    writes(before, settle=True)
    after = edit(before)
    assert writes(after) == ("part", part)
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert debris(tmp_path) == []
    assert writes(before) == ("part", part)  # and back
    assert snapshot(writes.out) == fresh(tmp_path, before)


def clustered(tag: str = "a", clusters: tuple[str, ...] = ("east", "west")) -> list[Manifest]:
    return [cm(f"ns-{i % 3}", f"cm-{i}-{c}", tag, cluster=c) for c in clusters for i in range(9)]


@linux
@pytest.mark.parametrize(
    ("edit", "part"),
    [
        (lambda items: replaced(items, "cm-4-east", "b"), "east/ns-1"),
        (lambda items: [*items, *clustered(clusters=("north",))], "north"),  # a new cluster
        (lambda items: [m for m in items if m.cluster != "west"], "west"),  # a cluster gone
        (lambda items: [m for m in items if (m.cluster, m.namespace) != ("east", "ns-1")], "east/ns-1"),
        (lambda items: replaced(replaced(items, "cm-4-east", "b"), "cm-5-east", "b"), "east"),
    ],
    ids=["one file", "new cluster", "removed cluster", "removed namespace", "two namespaces"],
)
def test_nested_folders(tmp_path, writes, edit, part):
    before = clustered()
    writes(before, settle=True)
    after = edit(before)
    assert writes(after) == ("part", part)
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert debris(tmp_path) == []
    # The index describes the new tree, its changed folder's parent included: back is a part too.
    assert writes(before) == ("part", part)
    assert snapshot(writes.out) == fresh(tmp_path, before)
    assert writes(replaced(before, "cm-0-west", "c")) == ("part", "west/ns-0")


@linux
def test_changes_in_two_top_folders_replace_the_whole_tree(tmp_path, writes):
    before = mesh()
    writes(before, settle=True)
    after = replaced(replaced(before, "cm-1", "b"), "cm-2", "b")  # ns-1 and ns-2
    assert writes(after) == ("whole",)
    assert snapshot(writes.out) == fresh(tmp_path, after)


def test_the_folder_to_replace():
    new = outdir.folders(["a/x/1.yaml", "a/y/2.yaml", "b/3.yaml"])
    assert new == {"a", "a/x", "a/y", "b"}
    assert outdir.part_to_replace(["a/x/1.yaml"], new, new) == "a/x"
    assert outdir.part_to_replace(["a/x/1.yaml", "a/y/9.yaml"], new, new) == "a"
    assert outdir.part_to_replace(["a/x/1.yaml", "b/3.yaml"], new, new) == ""
    assert outdir.part_to_replace(["top.yaml"], new, new) == ""
    # A folder whose parent is new (or goes away) is replaced from the closest surviving ancestor.
    assert outdir.part_to_replace(["c/d/4.yaml"], new, new | {"c", "c/d"}) == "c"
    assert outdir.part_to_replace(["a/z/q/5.yaml"], new, new | {"a/z", "a/z/q"}) == "a/z"
    # Paths meshc does not write (from a forged or foreign index) never lead out of DIR.
    for odd in ["/etc/passwd", "a/../../x.yaml", "./a/x.yaml", "a//x.yaml", "x.yaml"]:
        assert outdir.part_to_replace([odd], new | {"/etc", "a/..", "."}, new) == "", odd


# --- anything else outside the folder: the whole tree is written --------------------------------------


def plant_file(out: Path) -> None:
    (out / "ns-5/extra.yaml").write_text("kind: Secret\n")


def plant_symlink(out: Path) -> None:
    (out / "ns-5/configmap-cm-99.yaml").symlink_to(out / "ns-5/configmap-cm-5.yaml")


def plant_folder(out: Path) -> None:
    (out / "ns-5/empty").mkdir()


def plant_top_folder(out: Path) -> None:
    (out / "ns-8").mkdir()


def plant_top_file(out: Path) -> None:
    (out / "README").write_text("hi\n")


def edit_in_place(out: Path) -> None:
    victim = out / "ns-5/configmap-cm-5.yaml"
    with open(victim, "r+b") as f:  # same inode, same size, a new mtime
        data = f.read()
        f.seek(0)
        f.write(data.replace(b"t: a", b"t: X"))


def replace_file(out: Path) -> None:
    victim = out / "ns-5/configmap-cm-5.yaml"
    data = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(data)  # the same bytes, another inode: written anew by the whole write


def remove_file(out: Path) -> None:
    (out / "ns-5/configmap-cm-5.yaml").unlink()


def symlink_folder(out: Path) -> None:
    """ns-5 swapped for a symlink to an identical copy: the whole write makes it a folder again."""
    copy = out.parent / "elsewhere"
    copy.mkdir()
    for p in (out / "ns-5").iterdir():
        os.link(p, copy / p.name)  # the very inodes the index records
    for p in (out / "ns-5").iterdir():
        p.unlink()
    (out / "ns-5").rmdir()
    (out / "ns-5").symlink_to(copy)


def symlink_file(out: Path) -> None:
    """A file swapped for a symlink to its own inode, elsewhere."""
    keep = out.parent / "kept.yaml"
    os.link(out / "ns-5/configmap-cm-5.yaml", keep)
    (out / "ns-5/configmap-cm-5.yaml").unlink()
    (out / "ns-5/configmap-cm-5.yaml").symlink_to(keep)


def edit_marker(out: Path) -> None:
    text = (out / MARKER).read_text()
    (out / MARKER).write_text(text.replace("meshc", "MESHC"))  # the same size


def folder_for_file(out: Path) -> None:
    (out / "ns-5/configmap-cm-5.yaml").unlink()
    (out / "ns-5/configmap-cm-5.yaml").mkdir()


def file_for_new_folder(out: Path) -> None:
    (out / "ns-9").write_text("in the way\n")


PLANTS = [
    plant_file,
    plant_symlink,
    plant_folder,
    plant_top_folder,
    plant_top_file,
    edit_in_place,
    replace_file,
    remove_file,
    symlink_folder,
    symlink_file,
    edit_marker,
    folder_for_file,
]


@linux
@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: p.__name__)
def test_anything_else_outside_the_folder_is_not_kept(tmp_path, writes, plant):
    before = mesh()
    writes(before, settle=True)
    plant(writes.out)
    after = replaced(before, "cm-9", "b")  # ns-2
    assert writes(after) == ("whole",)
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert writes(after) == ("nothing",)  # and the index describes that tree


@linux
def test_something_in_the_way_of_a_new_folder_is_not_kept(tmp_path, writes):
    before = mesh()
    writes(before, settle=True)
    file_for_new_folder(writes.out)
    after = [*before, cm("ns-9", "cm-new")]
    assert writes(after) == ("whole",)
    assert snapshot(writes.out) == fresh(tmp_path, after)


@linux
def test_anything_inside_the_folder_goes_with_it(tmp_path, writes):
    before = mesh()
    writes(before, settle=True)
    plant_file(writes.out)
    edit_in_place(writes.out)
    after = replaced(before, "cm-12", "b")  # ns-5 itself
    assert writes(after) == ("part", "ns-5")
    assert snapshot(writes.out) == fresh(tmp_path, after)


@linux
def test_with_nothing_changed_anything_planted_is_still_removed(tmp_path, writes):
    items = mesh()
    writes(items, settle=True)
    plant_file(writes.out)
    assert writes(items) == ("whole",)
    assert snapshot(writes.out) == fresh(tmp_path, items)


@linux
def test_a_racily_clean_file_outside_is_compared_by_content(tmp_path, writes, monkeypatch):
    """An edit in place that keeps size and mtime (as one within meshc's own timestamp tick would)
    is seen only by reading the file: files as new as the marker are read, so it is seen."""
    before = mesh()
    writes(before, settle=True)
    victim = writes.out / "ns-5/configmap-cm-5.yaml"
    recorded = os.lstat(victim)
    edit_in_place(writes.out)
    os.utime(victim, ns=(recorded.st_atime_ns, recorded.st_mtime_ns))
    real_open = buildcache.open_cache

    def racy(*args: object, **kwargs: object) -> buildcache.BuildCache:
        cache = real_open(*args, **kwargs)  # type: ignore[arg-type]
        cache.tree_marker_ns = recorded.st_mtime_ns  # the victim is as new as the marker
        return cache

    monkeypatch.setattr(buildcache, "open_cache", racy)
    after = replaced(before, "cm-9", "b")
    assert writes(after) == ("whole",)
    assert snapshot(writes.out) == fresh(tmp_path, after)


@linux
def test_a_body_the_cache_does_not_know_is_checked_before_anything_is_written(tmp_path, writes):
    before = mesh()
    writes(before, settle=True)
    old = snapshot(writes.out)
    checked: list[str] = []

    def check(share: object) -> list[str]:
        checked.extend(m.name for m in share)  # type: ignore[attr-defined]
        return ["no"]

    cache = buildcache.open_cache(writes.spec)
    with pytest.raises(OutputRejected):
        write_tree(replaced(before, "cm-9", "b"), writes.out, check=check, cache=cache)
    assert checked == ["cm-9"]  # only the unknown body
    assert snapshot(writes.out) == old
    assert debris(tmp_path) == []


@linux
def test_without_the_exchange_the_whole_tree_is_written(tmp_path, writes, monkeypatch):
    before = mesh()
    writes(before, settle=True)
    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)
    after = replaced(before, "cm-9", "b")
    assert writes(after)[0] == "part"  # tried, refused by the filesystem, nothing changed...
    assert writes.swaps[-1] == ("whole",)  # ...then the whole tree
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert debris(tmp_path) == []


# --- killed at any step ------------------------------------------------------------------------------


def kill_self(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def in_killed_child(fn: Callable[[], object]) -> bool:
    """Run `fn` in a forked child; whether it was killed (else it ran to its end)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@linux
@pytest.mark.parametrize(
    "edit",
    [
        lambda items: replaced(replaced(items, "cm-9", "b"), "cm-16", "b"),  # ns-2 exchanged
        lambda items: [*items, cm("ns-9", "cm-new"), cm("ns-9", "cm-new2")],  # ns-9 renamed into place
        lambda items: [m for m in items if m.namespace != "ns-3"],  # ns-3 renamed away
    ],
    ids=["changed folder", "new folder", "removed folder"],
)
def test_a_folder_write_killed_at_any_step_leaves_one_whole_tree(tmp_path, writes, monkeypatch, edit):
    """kill -9 at the step-th file operation of a one-folder write (each link, comparison, write,
    the timestamp, the exchange or rename, the removal of the old folder), for every step: DIR is
    the old or the new tree, never a mix, and is never replaced as a whole; the next write cleans
    up, and the cache (whose index may then describe the old tree) still gives the right tree."""
    before = mesh(21, "old")
    after = edit(before)
    old, new = fresh(tmp_path, before), fresh(tmp_path, after)
    seen_new = seen_old = 0
    for step in range(40):
        writes(before, settle=True)
        assert snapshot(writes.out) == old
        root = os.lstat(writes.out).st_ino
        calls = iter(range(10_000))

        def counted(
            real: Callable[..., object], calls: Iterator[int] = calls, step: int = step
        ) -> Callable[..., object]:
            def call(*args: object, **kwargs: object) -> object:
                if next(calls) == step:
                    kill_self()
                return real(*args, **kwargs)

            return call

        with monkeypatch.context() as m:
            for owner, name in [
                (outdir, "link_recorded"),
                (outdir, "reused"),
                (outdir, "timestamp"),
                (outdir, "exchange"),
                (outdir, "remove"),
                (outdir.os, "rename"),
                (outdir.shutil, "rmtree"),
                (emit, "_write_file"),
                (buildcache, "_replace"),  # the tree swapped in, its index not saved yet
            ]:
                m.setattr(owner, name, counted(getattr(owner, name)))
            killed = in_killed_child(lambda: writes(after))
        if not killed:
            break  # every step has had its kill
        seen = snapshot(writes.out)
        assert seen in (old, new), f"killed at step {step}: neither the old nor the new tree"
        assert os.lstat(writes.out).st_ino == root  # one folder replaced, never the whole tree
        seen_new += seen == new
        seen_old += seen == old
        if seen == old:
            assert debris(tmp_path), "the kill left nothing behind (else this test proves nothing)"
        writes(after)  # with the pack as the kill left it
        assert snapshot(writes.out) == new
        assert debris(tmp_path) == []
    else:
        pytest.fail("more steps than expected")
    assert seen_old and seen_new, (seen_old, seen_new)


# --- writers taking turns ----------------------------------------------------------------------------


@linux
def test_concurrent_writers_with_their_own_indexes_leave_whole_trees(tmp_path, monkeypatch):
    """Two writers (processes, each with its own pack, so each index goes stale as the other
    writes) take turns on one DIR, each changing another folder: after each write DIR is one of
    the whole trees they wrote, and a last write through either stale index is exact."""
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    base = mesh()
    versions = {
        "a": [replaced(base, "cm-9", f"a{k}") for k in range(6)],  # ns-2
        "b": [replaced(base, "cm-10", f"b{k}") for k in range(6)],  # ns-3
    }
    write_tree(base, out)
    expected = {fresh_key(tmp_path, items) for group in versions.values() for items in group}
    seen = tmp_path / "seen"
    seen.mkdir()

    def writer(who: str) -> None:
        for k, items in enumerate(versions[who]):
            cache = buildcache.open_cache(tmp_path / f"{who}.yaml")
            write_tree(items, out, cache=cache)
            cache.save_tree()
            with outdir.writer_lock(tmp_path):  # the other writer waits meanwhile
                (seen / f"{who}{k}").write_text(repr(sorted(snapshot(out).items())))

    pids = []
    for who in versions:
        pid = os.fork()
        if pid == 0:
            try:
                writer(who)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert len(os.listdir(seen)) == 12
    assert all(
        p.read_text() in expected | {repr(sorted(fresh(tmp_path, base).items()))} for p in seen.iterdir()
    )
    for who in versions:
        last = replaced(base, "cm-11", who)  # ns-4
        cache = buildcache.open_cache(tmp_path / f"{who}.yaml")
        write_tree(last, out, cache=cache)
        cache.save_tree()
        assert snapshot(out) == fresh(tmp_path, last)
    assert debris(tmp_path) == []


def fresh_key(tmp_path: Path, items: list[Manifest]) -> str:
    return repr(sorted(fresh(tmp_path, items).items()))


# --- a folder's entries, as the index records them ---------------------------------------------------


def test_folder_entries_natively_and_in_python_alike(tmp_path, monkeypatch):
    """compiler/_emitc.c lists a folder exactly as the Python fallback does: sorted by name,
    directories by name and kind, files and anything else by their status, racily clean files
    named; None for what is not a real, listable folder."""
    native = outdir._native_folder_entries()
    assert native is not None, "meshc.compiler._emitc is not built: `pip install -e .` must build it"
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "b.yaml").write_text("b")
    (folder / "a.yaml").write_text("aa")
    (folder / "sub").mkdir()
    (folder / "Z-link").symlink_to("a.yaml")
    (folder / "é-nonascii").write_text("x")
    os.mkfifo(folder / "pipe")
    old = time.time_ns() - 10**10
    os.utime(folder / "b.yaml", ns=(old, old))
    racy_ns = os.stat(folder / "a.yaml").st_mtime_ns
    ours = native(str(folder), racy_ns)
    monkeypatch.setattr(outdir, "_native_folder_entries", lambda: None)
    assert outdir.folder_entries(str(folder), racy_ns) == ours
    assert ours is not None
    entries, racy = ours
    assert [e.split(b"\0")[0] for e in entries] == sorted(os.fsencode(n) for n in os.listdir(folder))
    assert {e.split(b"\0")[0]: e.split(b"\0", 1)[1][:1] for e in entries} == {
        b"Z-link": b"o",
        b"a.yaml": b"f",
        b"b.yaml": b"f",
        b"pipe": b"o",
        b"sub": b"d",
        "é-nonascii".encode(): b"f",
    }
    assert "a.yaml" in racy and "b.yaml" not in racy
    for path in (tmp_path / "missing", folder / "a.yaml", folder / "Z-link"):
        assert native(str(path), 0) is None and outdir.folder_entries(str(path), 0) is None
    (tmp_path / "dirlink").symlink_to(folder)
    assert native(str(tmp_path / "dirlink"), 0) is None
    # Any change to a file's status changes the folder's digest; a folder's own status does not.
    before = outdir.digest(entries)
    os.utime(folder / "sub", ns=(old, old))
    assert outdir.digest(native(str(folder), racy_ns)[0]) == before
    os.utime(folder / "a.yaml", ns=(old, old))
    assert outdir.digest(native(str(folder), racy_ns)[0]) != before


@linux
def test_a_file_the_index_cannot_address_is_never_vouched_for(tmp_path, writes, monkeypatch):
    """A body without a content address (here an integer beyond 64 bits) is written but not in
    the index: a folder that holds its file is not vouched for, so when that object goes away
    (and another folder changes) the file does not survive in a folder left untouched."""
    huge = Manifest(
        "ConfigMap", "ns-1", "cm-huge", {"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": 2**70}}
    )
    assert buildcache.address(huge.body) is None
    before = [*mesh(), huge]
    writes(before, settle=True)
    after = replaced(mesh(), "cm-9", "b")  # cm-huge (ns-1) gone, cm-9 (ns-2) changed
    writes(after)
    assert snapshot(writes.out) == fresh(tmp_path, after)
    assert not (writes.out / "ns-1" / "configmap-cm-huge.yaml").exists()
    # Back through a one-folder write (the file without an address in the folder replaced), then
    # away again: the index of that write vouches for nothing either.
    with monkeypatch.context() as m:  # no file racily clean after this write: none compared again
        m.setattr(outdir, "timestamp", lambda folder: 2**62)
        assert writes([*after, huge]) == ("part", "ns-1")
    assert snapshot(writes.out) == fresh(tmp_path, [*after, huge])
    writes(replaced(after, "cm-9", "c"))
    assert snapshot(writes.out) == fresh(tmp_path, replaced(after, "cm-9", "c"))


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(os.lstat(p).st_mode) for p in sorted(root.rglob("*.yaml"))}


@linux
@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
@pytest.mark.parametrize("mode", [0o600, 0o666, 0o755], ids=oct)
def test_a_file_whose_permissions_were_changed_is_written_anew(tmp_path, writes, cached, mode):
    """chmod on a file of DIR (the operator debugging, a tool) sends the write down the
    whole-tree path (the folder digests include the mode), and the whole write must not link
    that inode as it is either: the tree must be the fresh write's, permissions included (a 0600
    file stays unreadable to the GitOps agent's user, a 0666 one writable by anyone)."""
    before = mesh()
    writes(before, settle=True)
    victim = writes.out / "ns-5/configmap-cm-5.yaml"
    victim.chmod(mode)
    after = replaced(before, "cm-9", "b")  # ns-2: ns-5 is outside the folder that changed
    if cached:
        writes(after)
    else:
        write_tree(after, writes.out)
    expected = tmp_path / "expected"
    write_tree(after, expected)
    assert snapshot(writes.out) == snapshot(expected)
    assert modes(writes.out) == modes(expected)


@linux
@pytest.mark.parametrize("change", [True, False], ids=["one-folder-changed", "nothing-changed"])
def test_a_write_under_another_umask_gives_the_fresh_writes_permissions(tmp_path, writes, change):
    """The previous tree was written under umask 022; this write runs under 077, where a fresh
    write makes every file 0600. Replacing one folder (or nothing) would keep the other files at
    0644: the whole tree is written instead."""
    before = mesh()
    old = os.umask(0o022)
    try:
        writes(before, settle=True)
        os.umask(0o077)
        after = replaced(before, "cm-9", "b") if change else before
        writes(after)
        expected = tmp_path / "expected"
        write_tree(after, expected)
    finally:
        os.umask(old)
    assert snapshot(writes.out) == snapshot(expected)
    assert modes(writes.out) == modes(expected)
    assert set(modes(expected).values()) == {0o600}
