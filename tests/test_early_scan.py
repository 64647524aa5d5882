"""The previous tree's folders listed early, in a forked child, while the spec is parsed
(`outdir.EarlyScan`, issue 17): under the write lock the listing must be the tree as it is then.

A folder is trusted from its early listing only while it is the directory that was listed (same
device and inode) with the same mtime and ctime, and only when those were older than the
filesystem's clock before the listing (a later change always stamps a newer ctime); every other
folder is listed again. Another meshc writing the tree meanwhile is the case that matters: it
replaces folders (new inodes) or the whole tree.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meshc.compiler import buildcache, emit, outdir, parallel, pipeline, workers
from meshc.compiler.emit import write_tree
from tests.test_outdir_part import Writes, mesh, replaced, snapshot

linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux: fork, /proc")


def finished(early: outdir.EarlyScan) -> None:
    """Wait until the early listing is done (its child has exited, not yet reaped)."""
    assert not early.work.joined
    for _ in range(500):
        state = Path(f"/proc/{early.work.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return
        time.sleep(0.01)
    raise AssertionError("the early listing did not finish")


def listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Writes, buildcache.BuildCache]:
    writes = Writes(tmp_path, monkeypatch)
    writes(mesh(), settle=True)
    time.sleep(0.05)  # every folder older than the early listing's clock
    return writes, buildcache.open_cache(writes.spec)


def early_scan(writes: Writes, cache: buildcache.BuildCache) -> outdir.EarlyScan:
    early = outdir.EarlyScan(str(writes.out), cache.tree_folders, cache.tree_marker_ns)
    finished(early)
    return early


def scan_now(writes: Writes, cache: buildcache.BuildCache) -> outdir.Scan:
    return outdir.scan(str(writes.out), cache.tree_folders, cache.tree_marker_ns)


@linux
def test_an_untouched_tree_is_taken_from_the_early_listing(tmp_path, monkeypatch) -> None:
    writes, cache = listed(tmp_path, monkeypatch)
    early = early_scan(writes, cache)
    relisted: list[str] = []
    real = outdir.folder_entries

    def spied(path: str, racy: int) -> outdir.FolderEntries | None:
        relisted.append(path)
        return real(path, racy)

    monkeypatch.setattr(outdir, "folder_entries", spied)
    assert early.take() == scan_now(writes, cache)
    assert len(relisted) == len(cache.tree_folders)  # scan_now's own listings only
    assert early.take() is None  # taken once


@linux
def test_a_folder_that_gained_a_file_meanwhile_is_listed_again(tmp_path, monkeypatch) -> None:
    writes, cache = listed(tmp_path, monkeypatch)
    early = early_scan(writes, cache)
    (writes.out / "ns-1" / "planted.yaml").write_text("x: 1\n")
    taken = early.take()
    assert taken == scan_now(writes, cache)
    assert taken is not None and any(e.startswith(b"planted.yaml\0") for e in taken["ns-1"][0])


@linux
def test_a_folder_another_writer_replaced_meanwhile_is_listed_again(tmp_path, monkeypatch) -> None:
    writes, cache = listed(tmp_path, monkeypatch)
    early = early_scan(writes, cache)
    copy = tmp_path / "copy"
    shutil.copytree(writes.out / "ns-2", copy)  # the same names, new files: as another meshc's swap
    os.rename(writes.out / "ns-2", tmp_path / "gone")
    os.rename(copy, writes.out / "ns-2")
    assert early.take() == scan_now(writes, cache)


@linux
def test_a_tree_another_writer_replaced_whole_meanwhile_is_listed_again(tmp_path, monkeypatch) -> None:
    writes, cache = listed(tmp_path, monkeypatch)
    early = early_scan(writes, cache)
    other = buildcache.open_cache(tmp_path / "other.yaml")  # another spec, its own cache
    write_tree(replaced(mesh(), "cm-3", "other"), writes.out, cache=other)
    taken = early.take()
    assert taken == scan_now(writes, cache)


@linux
@pytest.mark.parametrize("clock_after_change", [False, True])
def test_only_folders_older_than_the_clock_are_trusted(tmp_path, monkeypatch, clock_after_change) -> None:
    """A folder changed within the clock's tick keeps its mtime and ctime: the early listing stands
    only for folders whose stamps are older than the clock (checked with a folder id that never
    changes, so that only that rule decides)."""
    writes, cache = listed(tmp_path, monkeypatch)
    stamp = 10**18
    monkeypatch.setattr(outdir, "folder_id", lambda path: (1, 1, stamp, stamp))
    monkeypatch.setattr(outdir, "timestamp", lambda folder: stamp + 1 if clock_after_change else stamp)
    early = early_scan(writes, cache)
    (writes.out / "ns-1" / "planted.yaml").write_text("x: 1\n")
    taken = early.take()
    assert taken is not None
    planted = any(e.startswith(b"planted.yaml\0") for e in taken["ns-1"][0])
    # With the clock after the folder's stamps the (fixed) id vouches for the early listing, which
    # misses the file: that is why a folder as new as the clock is never trusted.
    assert planted is not clock_after_change


@linux
def test_a_failed_early_listing_leaves_the_scan_to_the_write(tmp_path, monkeypatch) -> None:
    writes, cache = listed(tmp_path, monkeypatch)

    def broken(*args: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(outdir, "_list_early", broken)
    early = outdir.EarlyScan(str(writes.out), cache.tree_folders, cache.tree_marker_ns)
    assert early.take() is None


# --- in a compile -----------------------------------------------------------------------------------

SPEC = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: {{name: shop}}
spec:
  services:
    - name: web
      namespace: front
      ports: [{{port: 80, protocol: http}}]
      traffic: {{timeout: {timeout}}}
      calls: [{{service: api}}]
    - name: api
      namespace: back
      ports: [{{port: 80, protocol: http}}]
"""


@pytest.fixture
def compiling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[outdir.EarlyScan]:
    """Compiles that list the tree early however small it is; the early scans they started."""
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(outdir, "EARLY_SCAN_FILES", 1)
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    started: list[outdir.EarlyScan] = []
    real = outdir.EarlyScan

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            started.append(self)

    monkeypatch.setattr(outdir, "EarlyScan", Spy)
    return started


def compile_to(spec: Path, out: Path) -> None:
    parallel.run(spec, cache=buildcache.open_cache(spec), output=out, schemas=False)


@linux
def test_a_compile_takes_the_early_listing_and_writes_what_a_fresh_write_gives(tmp_path, compiling) -> None:
    spec, out = tmp_path / "mesh.yaml", tmp_path / "out"
    spec.write_text(SPEC.format(timeout="5s"))
    compile_to(spec, out)
    assert compiling == []  # no tree yet: nothing to list
    time.sleep(0.05)
    spec.write_text(SPEC.format(timeout="6s"))
    compile_to(spec, out)
    assert len(compiling) == 1 and compiling[0].work.joined  # taken (or closed) and reaped
    expected = tmp_path / "expected"
    pipeline.run(spec, output=expected, schemas=False)
    assert snapshot(out) == snapshot(expected)


@linux
def test_another_writer_between_the_early_listing_and_the_write_is_seen(
    tmp_path, compiling, monkeypatch
) -> None:
    """The race the folder ids guard: another meshc (another spec, its own cache) replaces the
    tree after this compile listed it early; this compile must still write its whole tree."""
    spec, out, other = tmp_path / "mesh.yaml", tmp_path / "out", tmp_path / "other.yaml"
    spec.write_text(SPEC.format(timeout="5s"))
    other.write_text(SPEC.format(timeout="9s").replace(": api", ": db"))  # another spec
    for _ in range(2):  # the second time: no file is racily clean any more (compared by content)
        time.sleep(0.05)
        compile_to(spec, out)
    time.sleep(0.05)
    spec.write_text(SPEC.format(timeout="6s"))
    real_parse = pipeline.Steps.parse

    def parse_then_other_writer(self: pipeline.Steps, *args: object, **kwargs: object) -> pipeline.Parsed:
        finished(compiling[-1])
        with monkeypatch.context() as m:
            m.setattr(outdir, "EARLY_SCAN_FILES", 10**9)
            m.setattr(pipeline.Steps, "parse", real_parse)
            parallel.run(other, cache=buildcache.open_cache(other), output=out, schemas=False)
        return real_parse(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline.Steps, "parse", parse_then_other_writer)
    compile_to(spec, out)
    monkeypatch.undo()
    assert compiling[-1].work.joined
    expected = tmp_path / "expected"
    pipeline.run(spec, output=expected, schemas=False)
    assert snapshot(out) == snapshot(expected)


@linux
def test_a_rejected_spec_reaps_the_early_listing(tmp_path, compiling) -> None:
    spec, out = tmp_path / "mesh.yaml", tmp_path / "out"
    spec.write_text(SPEC.format(timeout="5s"))
    compile_to(spec, out)
    before = snapshot(out)
    spec.write_text(SPEC.format(timeout="5s").replace("service: api", "service: nowhere"))
    with pytest.raises(pipeline.SpecError):
        compile_to(spec, out)
    (early,) = compiling
    assert early.work.joined
    assert snapshot(out) == before
    assert emit.MARKER in os.listdir(out)


def _compile_then_recompile(tmp_path: Path) -> tuple[Path, Path]:
    """`meshc compile SPEC -o OUT` twice, the second time after a one-line change to SPEC (a
    recompile into the tree the first wrote); (SPEC, OUT)."""
    from meshc.compiler import cli

    spec, out = tmp_path / "mesh.yaml", tmp_path / "out"
    spec.write_text(SPEC.format(timeout="5s"))
    assert cli.main(["compile", str(spec), "-o", str(out)]) == 0
    time.sleep(0.05)
    spec.write_text(SPEC.format(timeout="6s"))
    assert cli.main(["compile", str(spec), "-o", str(out)]) == 0
    return spec, out


@linux
def test_the_cli_starts_one_early_scan_before_the_spec_is_loaded_and_reaps_it(
    tmp_path, compiling, monkeypatch
) -> None:
    from meshc.compiler import cli, readahead

    monkeypatch.setattr(readahead, "AHEAD_BYTES", 1)
    order: list[str] = []
    real_load = readahead.ReadAhead.load

    def load(self: readahead.ReadAhead) -> object:
        order.append(f"load after {len(compiling)} early scan(s)")
        return real_load(self)

    monkeypatch.setattr(readahead.ReadAhead, "load", load)
    spec, out = _compile_then_recompile(tmp_path)
    # the first compile read ahead too, with no tree to list yet; the second listed it first
    assert order == ["load after 0 early scan(s)", "load after 1 early scan(s)"]
    assert len(compiling) == 1 and compiling[0].work.joined
    spec.write_text(SPEC.format(timeout="6s").replace("service: api", "service: nowhere"))
    assert cli.main(["compile", str(spec), "-o", str(out)]) == 1
    assert len(compiling) == 2 and compiling[1].work.joined  # a rejected spec: reaped too
    expected = tmp_path / "expected"
    spec.write_text(SPEC.format(timeout="6s"))
    assert cli.main(["compile", str(spec), "-o", str(expected), "--no-cache"]) == 0
    assert snapshot(out) == snapshot(expected)


@linux
def test_the_cli_lists_the_tree_once_the_read_ahead_child_has_parsed_the_spec(
    tmp_path, compiling, monkeypatch
) -> None:
    """Started beside the parse, the listing slowed it (two CPUs, three processes); it starts
    once the parse is done, while this process validates the services."""
    from meshc.compiler import cli, readahead

    monkeypatch.setattr(readahead, "AHEAD_BYTES", 1)
    real_parsed, real_start, real_scan_early = readahead._parsed, readahead.start, parallel.scan_early

    def slow_parse(text: str, send: Callable[[bytes], None]) -> None:  # in the child
        time.sleep(0.5)
        real_parsed(text, send)

    aheads: list[readahead.ReadAhead | None] = []
    parsed_at_scan: list[bool] = []

    def start(spec: str) -> readahead.ReadAhead | None:
        aheads.append(real_start(spec))
        return aheads[-1]

    def scan_early(cache: object, output: object) -> object:
        ahead = aheads[-1]
        parsed_at_scan.append(ahead is not None and ahead.ready())
        return real_scan_early(cache, output)  # type: ignore[arg-type]

    monkeypatch.setattr(readahead, "_parsed", slow_parse)
    monkeypatch.setattr(readahead, "start", start)
    monkeypatch.setattr(parallel, "scan_early", scan_early)
    spec, out = _compile_then_recompile(tmp_path)
    # each compile's CLI asked for the listing (the first one's `parallel.run` too: no tree yet)
    assert len(aheads) == 2 and None not in aheads and parsed_at_scan == [True, True, True]
    assert len(compiling) == 1 and compiling[0].work.joined  # the second compile listed the tree
    expected = tmp_path / "expected"
    assert cli.main(["compile", str(spec), "-o", str(expected), "--no-cache"]) == 0
    assert snapshot(out) == snapshot(expected)


@linux
def test_two_compiles_of_one_spec_interleaved_into_nested_folders_write_what_each_spec_says(
    tmp_path, compiling, monkeypatch
) -> None:
    """Two meshc runs on the same spec and cache (an editor saving twice quickly), into a tree
    of cluster/namespace folders: the second one replaces one nested folder after the first listed
    the tree early. The first must still write exactly its own spec's output, and the cache both
    leave behind must describe the tree as it is (the compiles after it are right too)."""
    source = (Path(__file__).resolve().parent.parent / "examples" / "multicluster" / "mesh.yaml").read_text()
    first = source.replace("frontend:2.1.0", "frontend:2.1.1")  # east/travel
    second = source.replace("ratings-db:15.4", "ratings-db:15.5")  # west/travel
    assert first != source and second != source
    spec, out = tmp_path / "mesh.yaml", tmp_path / "out"
    spec.write_text(source)
    for _ in range(2):  # the second time: no file is racily clean any more
        time.sleep(0.05)
        compile_to(spec, out)
    time.sleep(0.05)
    real_parse = pipeline.Steps.parse

    def parse_after_the_other_run(self: pipeline.Steps, *args: object, **kwargs: object) -> pipeline.Parsed:
        finished(compiling[-1])
        with monkeypatch.context() as m:
            m.setattr(pipeline.Steps, "parse", real_parse)
            spec.write_text(second)
            compile_to(spec, out)  # its own early scan, its own part write
            spec.write_text(first)
        return real_parse(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline.Steps, "parse", parse_after_the_other_run)
    compile_to(spec, out)
    monkeypatch.setattr(pipeline.Steps, "parse", real_parse)
    assert all(early.work.joined for early in compiling)

    def expected(text: str, name: str) -> dict[str, bytes]:
        fresh = tmp_path / name
        (tmp_path / f"{name}.yaml").write_text(text)
        pipeline.run(tmp_path / f"{name}.yaml", output=fresh, schemas=False)
        return snapshot(fresh)

    assert snapshot(out) == expected(first, "first")
    for text, name in ((second, "second"), (source, "source"), (first, "again")):
        time.sleep(0.05)
        spec.write_text(text)
        compile_to(spec, out)
        assert snapshot(out) == expected(text, name), name
