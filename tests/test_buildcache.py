"""The build cache (meshc.compiler.buildcache): output with a warm cache is byte for byte the output
without one (files, stdout, diagnostics) over series of random edits, a damaged or foreign cache is
ignored with MC220 and replaced, and `-o DIR` links files the cache's index vouches for without
reading them (and reads every other one)."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import signal
import stat
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.synthetic import make_spec
from meshc.compiler import buildcache, cli, emit, outdir
from meshc.compiler.exits import EXIT_USAGE

TIMING = re.compile(r"^  \w[\w+]* +[0-9.]+s$")


def compile_(spec: Path, output: str, cache: Path | None, *extra: str) -> tuple[int, str, str]:
    """`meshc compile` in this process: (exit code, stdout, stderr) with the build cache in `cache`
    (None: off)."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.environ.get("MESHC_CACHE_DIR")
    os.environ["MESHC_CACHE_DIR"] = "" if cache is None else str(cache)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["compile", str(spec), "-o", output, *extra])
    finally:
        if previous is None:
            del os.environ["MESHC_CACHE_DIR"]
        else:
            os.environ["MESHC_CACHE_DIR"] = previous
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write(spec: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --- random edits ---------------------------------------------------------------------------------


def _spread(spec: dict[str, Any]) -> dict[str, Any]:
    """Services in three namespaces of four, so that an edit of one service touches one namespace
    (its folder alone is replaced, see meshc.compiler.outdir) and others touch several."""
    for i, svc in enumerate(spec["spec"]["services"]):
        svc["namespace"] = f"ns-{i // 4:03d}"
    return spec


BASE = _spread(make_spec(12))


def _services(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["spec"]["services"]


def edit_timeout(spec: dict[str, Any], i: int, n: int) -> None:
    svc = _services(spec)[i % len(_services(spec))]
    svc["traffic"]["routes"][1]["timeout"] = f"{n % 9 + 1}s"


def edit_add_call(spec: dict[str, Any], i: int, n: int) -> None:
    services = _services(spec)
    caller, callee = services[i % len(services)], services[n % len(services)]
    if caller is not callee and all(c["service"] != callee["name"] for c in caller["calls"]):
        caller["calls"].append({"service": callee["name"]})


def edit_remove_call(spec: dict[str, Any], i: int, n: int) -> None:
    svc = _services(spec)[i % len(_services(spec))]
    if svc["calls"]:
        del svc["calls"][n % len(svc["calls"])]


def edit_rename(spec: dict[str, Any], i: int, n: int) -> None:
    """A service renamed everywhere it is named (calls, gateway routes, egress callers)."""
    svc = _services(spec)[i % len(_services(spec))]
    old, new = svc["name"], f"{svc['name']}-r{n % 3}"
    text = yaml.safe_dump(spec, sort_keys=False)
    renamed = yaml.safe_load(re.sub(rf"\b{re.escape(old)}\b(?!-)", new, text))
    spec.clear()
    spec.update(renamed)


def edit_defaults(spec: dict[str, Any], i: int, n: int) -> None:
    spec["spec"]["defaults"]["traffic"]["timeout"] = f"{20 + n % 20}s"


def edit_gateway(spec: dict[str, Any], i: int, n: int) -> None:
    services = _services(spec)
    routes = spec["spec"]["gateways"][0]["routes"]
    target = services[n % len(services)]["name"]
    if n % 2 and routes:
        routes[i % len(routes)]["to"]["service"] = target
    else:
        routes.append(
            {"match": [{"path": {"prefix": f"/x{i}-{n}/"}}], "to": {"service": target, "port": 8080}}
        )


def edit_image(spec: dict[str, Any], i: int, n: int) -> None:
    svc = _services(spec)[i % len(_services(spec))]
    svc["versions"][0]["image"] = f"registry.example.com/changed:{n}"


def edit_split(spec: dict[str, Any], i: int, n: int) -> None:
    """Sometimes invalid (a split not summing to 100): the diagnostics must agree too."""
    svc = _services(spec)[i % len(_services(spec))]
    split = svc["traffic"]["split"]
    first = sorted(split)[0]
    split[first] = split[first] + (n % 3) * 5


EDITS = [
    edit_timeout,
    edit_add_call,
    edit_remove_call,
    edit_rename,
    edit_defaults,
    edit_gateway,
    edit_image,
    edit_split,
]

LOCAL = [edit_image, edit_timeout] * 2
"""Drawn more often: edits of one service's own objects, in its namespace alone, so that series
of them often change one folder of the output (replaced alone) or nothing at all."""

edits = st.lists(
    st.tuples(st.sampled_from(EDITS + LOCAL), st.integers(0, 50), st.integers(0, 50)),
    min_size=1,
    max_size=3,
)


def outcome(code: int, out: str, err: str, where: Path | None = None) -> tuple[int, str, str]:
    """Without the timing lines (`--timings`), and the output directory's name as DIR."""
    if where is not None:
        err = err.replace(str(where), "DIR")
    return code, out, "\n".join(line for line in err.splitlines() if not TIMING.match(line))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(series=st.lists(edits, min_size=1, max_size=3))
@pytest.mark.parametrize("delta_share", [buildcache.DELTA_SHARE, 0, 10**9], ids=["as-is", "deltas", "whole"])
def test_cached_and_uncached_compiles_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delta_share: int, series: list[Any]
) -> None:
    """Each edit of a series is compiled with the cache the earlier ones left (to a stream and into
    one DIR) and without any cache; files, stdout and diagnostics agree. With the pack's index
    saved as it is saved, as a delta on every save but the first (`deltas`: one delta on top of
    another, each cumulative) and whole on every save (`whole`)."""
    monkeypatch.setattr(buildcache, "DELTA_SHARE", delta_share)
    work = Path(os.path.realpath(tmp_path)) / f"w{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    cache, spec, live = work / "cache", copy.deepcopy(BASE), work / "out"
    write(spec, work / "mesh.yaml")
    assert compile_(work / "mesh.yaml", str(live), cache)[0] == 0
    for group in series:
        for edit, i, n in group:
            edit(spec, i, n)
        path = write(spec, work / "mesh.yaml")
        fresh = work / f"fresh-{len(list(work.iterdir()))}"
        expected_stream = outcome(*compile_(path, "-", None))
        expected_dir = outcome(*compile_(path, str(fresh), None), fresh)
        assert outcome(*compile_(path, "-", cache, "--timings")) == expected_stream
        assert outcome(*compile_(path, str(live), cache, "--timings"), live) == expected_dir
        if expected_dir[0] == 0:
            assert tree(live) == tree(fresh)


def exchanged_folders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders `-o DIR` exchanges alone from now on (`outdir.swap_part`), as they are."""
    parts: list[str] = []
    real = outdir.swap_part
    monkeypatch.setattr(
        outdir, "swap_part", lambda s, t, part, **kw: parts.append(part) or real(s, t, part, **kw)
    )
    return parts


def test_a_one_service_edit_replaces_its_namespace_folder_only(tmp_path, monkeypatch):
    """The random edits above go down both paths; this one is known to take the one-folder path."""
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    parts = exchanged_folders(monkeypatch)
    for edit, i, n in [(edit_image, 5, 1), (edit_timeout, 9, 3), (edit_image, 5, 2), (edit_timeout, 1, 1)]:
        edit(spec, i, n)
        write(spec, path)
        fresh = tmp_path / f"fresh-{len(parts)}-{i}-{n}"
        expected = outcome(*compile_(path, str(fresh), None), fresh)
        assert outcome(*compile_(path, str(out), cache), out) == expected
        assert tree(out) == tree(fresh)
    assert parts == ["ns-001", "ns-002", "ns-001", "ns-000"]


def test_a_whole_tree_write_records_its_folders_without_listing_them(tmp_path, monkeypatch):
    """An edit across two namespaces writes the whole tree (one folder is exchanged at a time, never
    two). Its folders' digests are worked out from what the writers recorded of each file, not by
    listing every folder of the staged tree again (0.19 s at 10,000 services), and they vouch for
    the tree: the next one-namespace edit exchanges that folder alone."""
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    parts = exchanged_folders(monkeypatch)
    listed: list[str] = []
    real_digests = outdir.digests
    monkeypatch.setattr(outdir, "digests", lambda t, f: listed.append(t) or real_digests(t, f))
    worked_out: list[dict[str, str] | None] = []
    real_staged = emit._staged_digests

    def staged(staging: str, paths: Any, records: Any, marker: Any) -> dict[str, str] | None:
        found = real_staged(staging, paths, records, marker)
        assert found is not None and found == real_digests(staging, found)  # what listing gives
        worked_out.append(found)
        return found

    monkeypatch.setattr(emit, "_staged_digests", staged)
    edit_timeout(spec, 1, 3)  # ns-000
    edit_timeout(spec, 9, 5)  # ns-002
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    assert parts == [] and len(worked_out) == 1 and listed == []
    edit_timeout(spec, 5, 5)
    fresh = tmp_path / "fresh"
    expected = outcome(*compile_(write(spec, path), str(fresh), None), fresh)
    assert outcome(*compile_(path, str(out), cache), out) == expected
    assert tree(out) == tree(fresh)
    assert parts == ["ns-001"]


# --- the directory index ---------------------------------------------------------------------------


def test_unchanged_files_are_linked_without_reading_and_changed_ones_are_read(tmp_path, monkeypatch):
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    # Files written in the marker's timestamp tick are racily clean: the next compile reads them,
    # links them and records them older than its own marker.
    assert compile_(path, str(out), cache)[0] == 0
    before = {p: os.stat(out / p).st_ino for p in tree(out)}
    read: list[str] = []
    real = outdir.reused
    monkeypatch.setattr(
        outdir,
        "reused",
        lambda prev, staged, data, *mode: read.append(prev) or real(prev, staged, data, *mode),
    )
    edit_image(spec, 3, 7)
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    changed = {p for p, ino in before.items() if p in tree(out) and os.stat(out / p).st_ino != ino}
    # Only the changed file's folder was replaced: the marker and every other file stay as they were.
    assert changed == {"ns-000/deployment-svc-00003-v1.yaml"}
    # Read: only the files whose body changed.
    assert [Path(p).relative_to(out).as_posix() for p in read] == ["ns-000/deployment-svc-00003-v1.yaml"]


def test_a_file_edited_in_place_is_not_trusted(tmp_path, monkeypatch):
    """An edit that keeps the size and even the mtime changes nothing for the index (meshc wrote
    another inode?) only if all of (device, inode, size, mtime) still match: an edit in place that
    restores the mtime is the one case the index cannot see, as for Git; a changed mtime is seen."""
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    victim = out / "ns-000/service-svc-00001.yaml"
    original = victim.read_bytes()
    victim.write_bytes(original.replace(b"svc-00001", b"svc-0000X"))  # same size, new mtime
    assert compile_(path, str(out), cache)[0] == 0
    assert victim.read_bytes() == original


def test_racily_clean_entries_are_compared_by_content(tmp_path, monkeypatch):
    """Files as new as the marker are not vouched for by the index (their next edit may fall in the
    same timestamp tick): with every file that new, every one is read."""
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    marker_ns = (out / ".meshc-output").stat().st_mtime_ns
    for p in out.rglob("*.yaml"):
        os.utime(p, ns=(marker_ns, marker_ns), follow_symlinks=False)
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    pack = buildcache.open_cache(path)  # the index still records the old mtimes: no match anyway
    assert pack.tree
    read: list[str] = []
    real = outdir.reused
    monkeypatch.setattr(
        outdir,
        "reused",
        lambda prev, staged, data, *mode: read.append(prev) or real(prev, staged, data, *mode),
    )
    assert compile_(path, str(out), cache)[0] == 0
    assert len(read) == len(list(out.rglob("*.yaml")))
    read.clear()
    # The index of that compile holds them with mtime == the old marker, older than the new marker.
    assert compile_(path, str(out), cache)[0] == 0
    assert read == []


# --- a cache not to trust -------------------------------------------------------------------------


def _pack(cache: Path) -> Path:
    (found,) = cache.glob("build-*.pack")
    return found


def damage_truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def damage_flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-100] ^= 0x01
    p.write_bytes(bytes(data))


def damage_header(p: Path) -> None:
    p.write_bytes(b"something else entirely\n" + p.read_bytes())


def damage_version(p: Path) -> None:
    p.write_bytes(p.read_bytes().replace(b'"format":%d' % buildcache.FORMAT, b'"format":99', 1))


def damage_fingerprint(p: Path) -> None:
    data = p.read_bytes()
    start = data.index(b'"fingerprint":"') + len(b'"fingerprint":"')
    p.write_bytes(data[:start] + b"0" * 64 + data[start + 64 :])


def damage_directory(p: Path) -> None:
    p.unlink()
    p.mkdir()
    (p / "x").write_text("x")


def damage_unreadable(p: Path) -> None:
    p.chmod(0)


def damage_empty(p: Path) -> None:
    p.write_bytes(b"")


def _texts_file(p: Path) -> Path:
    (found,) = p.parent.glob(f"{p.name}.*.texts")
    return found


def damage_forged_text(p: Path) -> None:
    """A text changed and the pack's record of its texts file not: the file's CRC catches it."""
    texts = _texts_file(p)
    data = texts.read_bytes()
    forged = data.replace(b"kind: Service\n", b"kind: Servicf\n", 1)
    assert forged != data
    texts.write_bytes(forged)


def damage_texts_truncated(p: Path) -> None:
    texts = _texts_file(p)
    texts.write_bytes(texts.read_bytes()[:-10])


def damage_texts_missing(p: Path) -> None:
    _texts_file(p).unlink()


def damage_texts_symlink(p: Path) -> None:
    """A planted symbolic link where the texts file was is not followed."""
    texts = _texts_file(p)
    elsewhere = p.parent / "elsewhere"
    texts.rename(elsewhere)
    texts.symlink_to(elsewhere)


def _rewrite_index(p: Path, change: Any) -> None:
    """Apply `change` to the pack's index and write it back well-formed (checksum and all)."""
    magic, header, _, length, rest = p.read_bytes().split(b"\n", 4)
    index = orjson.loads(rest[: int(length)])
    change(index)
    body = orjson.dumps(index)
    payload = b"%d\n" % len(body) + body + rest[int(length) :]
    p.write_bytes(b"\n".join([magic, header, b"%08x" % zlib.crc32(payload)]) + b"\n" + payload)


def damage_span(p: Path) -> None:
    """A well-formed pack (checksum and all) whose index points past its texts."""
    _rewrite_index(p, lambda index: index["texts"]["ends"].__setitem__(0, 10**12))


def damage_span_negative(p: Path) -> None:
    """A well-formed pack whose index puts a text before the start of its texts file."""
    _rewrite_index(p, lambda index: index["texts"]["starts"].__setitem__(-1, -5))


def damage_null_address(p: Path) -> None:
    """A well-formed pack with a text whose address is null (no body has one: never trusted)."""
    _rewrite_index(p, lambda index: index["texts"]["addresses"].__setitem__(0, None))


def damage_segment_number(p: Path) -> None:
    """A well-formed pack whose index puts a text in a texts file it does not list."""
    _rewrite_index(
        p, lambda index: index["texts"]["segment"].__setitem__(-1, len(index["segments"]["names"]))
    )


def damage_segment_negative(p: Path) -> None:
    _rewrite_index(p, lambda index: index["texts"]["segment"].__setitem__(0, -1))


def damage_finding_row(p: Path) -> None:
    """A well-formed pack whose kept rule findings are not rows of the expected shape."""
    _rewrite_index(p, lambda index: index["units"]["findings"].__setitem__("ns-000", [["MC109", 1]]))


def damage_gateway_keys(p: Path) -> None:
    """A well-formed pack whose gateways' keys do not line up with their names."""
    _rewrite_index(p, lambda index: index["units"].__setitem__("gateways", [["gw"], [], []]))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_gateway_keys, "malformed content"),
        (damage_truncate, "checksum mismatch"),
        (damage_flip, "checksum mismatch"),
        (damage_forged_text, "checksum mismatch"),
        (damage_texts_truncated, "checksum mismatch"),
        (damage_texts_missing, "cannot read it"),
        (damage_texts_symlink, "cannot read it"),
        (damage_span, "malformed content"),
        (damage_finding_row, "malformed content"),
        (damage_segment_number, "malformed content"),
        (damage_span_negative, "malformed content"),
        (damage_null_address, "malformed content"),
        (damage_segment_negative, "malformed content"),
        (damage_header, "not a meshc build cache"),
        (damage_version, "written in another format"),
        (damage_fingerprint, "written by another meshc"),
        (damage_directory, "it is not a regular file"),
        (damage_unreadable, "cannot read it"),
        (damage_empty, "not a meshc build cache"),
    ],
)
def test_a_damaged_or_foreign_cache_is_ignored_with_mc220(tmp_path, damage, reason):
    if damage is damage_unreadable and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    expected = compile_(path, "-", None)
    assert compile_(path, str(out), cache)[0] == 0
    damage(_pack(cache))
    code, stdout, stderr = compile_(path, "-", cache)
    assert (code, stdout) == expected[:2]
    assert f"warning MC220: cache ignored: {_pack(cache)}: " in stderr, stderr
    assert reason in stderr[stderr.index("warning MC220") :].splitlines()[0], stderr
    assert (
        stderr.replace(stderr[stderr.index("meshc: warning MC220") : stderr.index("was used\n") + 9], "")
        == expected[2]
    )
    # Replaced by that compile (a non-empty directory stays in place, and keeps being reported).
    code, _, stderr = compile_(path, "-", cache)
    assert code == 0
    assert ("MC220" in stderr) == (damage is damage_directory)


# --- the index saved as a delta -------------------------------------------------------------------


def _parts(pack: Path) -> tuple[bytes, bytes | None]:
    """(the index with its length line, the delta with its length line or None) of a pack."""
    _, _, _, length, rest = pack.read_bytes().split(b"\n", 4)
    base, tail = length + b"\n" + rest[: int(length)], rest[int(length) :]
    return base, tail or None


def _assert_the_pack_describes(pack: Any, out: Path) -> None:
    """The opened pack's tree is DIR's files, each with the text the pack holds for it."""
    assert not pack.warnings and pack.tree_texts_kept
    files = tree(out)
    assert files.keys() - {".meshc-output"} == pack.tree.keys()
    for name, entry in pack.tree.items():
        assert pack.text(entry[4]) == files[name], name
        info = (out / name).lstat()
        assert entry[:4] == (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns), name


def test_a_small_change_saves_a_delta_after_the_index_as_it_was(tmp_path, monkeypatch):
    """A one-service edit of a mesh of 30 namespaces changes a small share of the index: the pack
    keeps the last whole index's bytes as they were and adds what differs (`_save_delta`); the next
    edit's delta holds the first edit's changes too; an edit of every object writes it whole
    again. Each time the opened pack describes DIR exactly, and a compile with it gives the output
    of one without."""
    spec = _spread(make_spec(120))
    for svc in _services(spec)[2::4]:  # a warning in every namespace (MC109, a local rule)
        svc["traffic"]["retries"] = {"attempts": 3, "perTryTimeout": "10s"}
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    assert compile_(path, str(out), cache)[0] == 0
    base, delta = _parts(_pack(cache))
    assert delta is None
    services = []
    for i in (5, 6):  # two services
        edit_timeout(spec, i, 3)
        services.append(_services(spec)[i]["name"])
        assert compile_(write(spec, path), str(out), cache)[0] == 0
        now, delta = _parts(_pack(cache))
        assert now == base and delta is not None
        content = orjson.loads(delta.split(b"\n", 1)[1])
        assert all(any(s.endswith(name) for s in content["units"]["services"][0]) for name in services)
        # The warnings of the other namespaces are as the whole index holds them.
        assert set(content["units"]["findings"]) <= {_services(spec)[i]["namespace"] for i in (5, 6)}
        assert (
            0
            < len(content["tree"]["paths"])
            < len(orjson.loads(base.split(b"\n", 1)[1])["tree"]["paths"]) // 8
        )
        _assert_the_pack_describes(buildcache.open_cache(path), out)
        assert outcome(*compile_(path, "-", cache)) == outcome(*compile_(path, "-", None))
    spec["metadata"]["name"] = "renamed"  # every object's labels
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    now, delta = _parts(_pack(cache))
    assert now != base and delta is None
    _assert_the_pack_describes(buildcache.open_cache(path), out)


def _with_a_delta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """BASE compiled into DIR, a service edited and compiled again, its index saved as a delta:
    (spec, DIR, cache)."""
    monkeypatch.setattr(buildcache, "DELTA_SHARE", 0)
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    edit_timeout(spec, 1, 5)
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    assert _parts(_pack(cache))[1] is not None
    return path, out, cache


def _rewrite_delta(p: Path, change: Any) -> None:
    """Apply `change` to the pack's delta and write it back well-formed (checksum and all)."""
    magic, header, _ = p.read_bytes().split(b"\n", 3)[:3]
    base, delta = _parts(p)
    assert delta is not None
    content = orjson.loads(delta.split(b"\n", 1)[1])
    change(content)
    body = orjson.dumps(content)
    payload = base + b"%d\n" % len(body) + body
    p.write_bytes(b"\n".join([magic, header, b"%08x" % zlib.crc32(payload)]) + b"\n" + payload)


def damage_delta_flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-30] ^= 0x01
    p.write_bytes(bytes(data))


def damage_delta_length(p: Path) -> None:
    """The delta's length line and its bytes disagree (checksum rewritten to match)."""
    magic, header, _ = p.read_bytes().split(b"\n", 3)[:3]
    base, delta = _parts(p)
    assert delta is not None
    length, body = delta.split(b"\n", 1)
    payload = base + b"%d\n" % (int(length) + 1) + body
    p.write_bytes(b"\n".join([magic, header, b"%08x" % zlib.crc32(payload)]) + b"\n" + payload)


def damage_delta_segments(p: Path) -> None:
    """A delta whose texts files are not the index's and more (a delta only adds one)."""
    _rewrite_delta(
        p, lambda delta: delta["segments"]["crcs"].__setitem__(0, delta["segments"]["crcs"][0] ^ 1)
    )


def damage_delta_removed(p: Path) -> None:
    """A delta that removes a file of the tree by a name that is not a string."""
    _rewrite_delta(p, lambda delta: delta["tree"].__setitem__("removed", [7]))


def damage_delta_missing(p: Path) -> None:
    _rewrite_delta(p, lambda delta: delta["units"].pop("services_removed"))


def damage_delta_span(p: Path) -> None:
    _rewrite_delta(p, lambda delta: delta["texts"]["ends"].__setitem__(0, 10**12))


def damage_delta_columns(p: Path) -> None:
    """A delta whose tree's columns do not line up with its paths."""
    _rewrite_delta(p, lambda delta: delta["tree"]["columns"][4].append("0" * 32))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_delta_flip, "checksum mismatch"),
        (damage_delta_length, "malformed content"),
        (damage_delta_segments, "malformed content"),
        (damage_delta_removed, "malformed content"),
        (damage_delta_missing, "malformed content"),
        (damage_delta_span, "malformed content"),
        (damage_delta_columns, "malformed content"),
    ],
)
def test_a_damaged_delta_is_ignored_with_mc220(tmp_path, monkeypatch, damage, reason):
    """A pack whose delta is damaged, or well-formed JSON that is not a delta of its index, is
    ignored whole (its index too), and replaced."""
    path, out, cache = _with_a_delta(tmp_path, monkeypatch)
    expected = compile_(path, "-", None)
    damage(_pack(cache))
    code, stdout, stderr = compile_(path, "-", cache)
    assert (code, stdout) == expected[:2]
    assert f"warning MC220: cache ignored: {_pack(cache)}: {reason}" in stderr, stderr
    code, _, stderr = compile_(path, str(out), cache)
    assert code == 0 and "MC220" not in stderr
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    _assert_the_pack_describes(buildcache.open_cache(path), out)


def test_a_delta_on_a_delta_removes_what_went_away(tmp_path, monkeypatch):
    """Deltas are cumulative and remove what the index holds and the output no longer does: a
    namespace compiled into the whole index, a delta for another edit, then that namespace's one
    service removed: the next delta removes its unit and its files (and keeps the first edit), and
    the opened pack describes DIR exactly."""
    monkeypatch.setattr(buildcache, "DELTA_SHARE", 0)
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    spec = copy.deepcopy(BASE)
    extra = copy.deepcopy(_services(spec)[0])
    extra["name"], extra["namespace"], extra["calls"] = "added", "ns-new", []
    _services(spec).append(extra)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    assert _parts(_pack(cache))[1] is None
    assert "ns-new" in buildcache.open_cache(path).units
    edit_timeout(spec, 1, 5)
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    _services(spec).pop()
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    _, delta = _parts(_pack(cache))
    assert delta is not None
    content = orjson.loads(delta.split(b"\n", 1)[1])
    assert content["units"]["removed"] == ["ns-new"]
    assert any(p.startswith("ns-new/") for p in content["tree"]["removed"])
    assert any(p.startswith(f"{_services(spec)[1]['namespace']}/") for p in content["tree"]["paths"])
    pack = buildcache.open_cache(path)
    _assert_the_pack_describes(pack, out)
    assert "ns-new" not in pack.units and not any(p.startswith("ns-new/") for p in pack.tree)
    assert outcome(*compile_(path, "-", cache)) == outcome(*compile_(path, "-", None))


def test_a_texts_file_dropped_from_the_middle_renumbers_the_others(tmp_path, monkeypatch):
    """Three edits, each writing a texts file; the third takes the first back, so that no text uses
    that edit's file any more: the pack keeps the first compile's and the second edit's files, the
    latter renumbered (`_save_whole`'s slower path), and every file of DIR is still the text the
    pack holds for it. (Each index saved whole: a delta never drops a texts file.)"""
    monkeypatch.setattr(buildcache, "DELTA_SHARE", 10**9)
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    assert compile_(path, str(out), cache)[0] == 0
    names = []
    for i, n in ((0, 3), (8, 6), (0, 4)):  # 5s -> 4s on one service, 5s -> 7s on another, 4s -> 5s
        edit_timeout(spec, i, n)
        assert compile_(write(spec, path), str(out), cache)[0] == 0
        names.append(buildcache.open_cache(path).segment_names)
    first, second, third = names
    assert len(first) == 2 and second[:2] == first and len(second) == 3
    assert third[:2] == [first[0], second[2]] and len(third) == 3
    pack = buildcache.open_cache(path)
    assert not pack.warnings and sorted(set(pack.segment)) == [0, 1, 2]
    files = tree(out)
    assert files.keys() - {".meshc-output"} == pack.tree.keys()
    for name, entry in pack.tree.items():
        assert pack.text(entry[4]) == files[name], name
    assert compile_(path, "-", cache)[:2] == compile_(path, "-", None)[:2]


@pytest.mark.parametrize("delta_share", [0, 10**9], ids=["delta", "whole"])
def test_texts_that_cannot_be_written_save_nothing(tmp_path, monkeypatch, delta_share):
    """A save whose new texts file cannot be written (a full disk) writes nothing: the pack and its
    texts files stay byte for byte as the last compile left them, the compile itself succeeds, and
    the next compile, with that pack describing the tree before the edit, still gives the output
    of a compile without the cache, in DIR as on a stream."""
    monkeypatch.setattr(buildcache, "DELTA_SHARE", delta_share)
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    assert compile_(path, str(out), cache)[0] == 0
    edit_timeout(spec, 1, 5)
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    assert (_parts(_pack(cache))[1] is None) == (delta_share > 1)  # the save path under test
    before = _pack_files(cache)
    real = buildcache._write_segment
    tried: list[int] = []
    monkeypatch.setattr(buildcache, "_write_segment", lambda pack, blob: tried.append(len(blob)))
    edit_timeout(spec, 2, 7)  # new texts to write
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    assert tried, "the save never tried to write the new texts"
    assert _pack_files(cache) == before
    assert tree(out) == tree(_fresh_output(tmp_path / "a", path))
    monkeypatch.setattr(buildcache, "_write_segment", real)
    edit_timeout(spec, 3, 4)
    assert compile_(write(spec, path), str(out), cache)[0] == 0
    assert tree(out) == tree(_fresh_output(tmp_path / "b", path))
    assert compile_(path, "-", cache)[:2] == compile_(path, "-", None)[:2]
    _assert_the_pack_describes(buildcache.open_cache(path), out)


def _pack_files(cache: Path) -> dict[str, bytes]:
    """The bytes of each file of the packs in `cache` (packs and texts files), by name."""
    return {p.name: p.read_bytes() for p in cache.glob("build-*")}


def _fresh_output(where: Path, spec: Path) -> Path:
    """SPEC compiled into a new directory without the build cache."""
    assert compile_(spec, str(where), None)[0] == 0
    return where


def _compiled_and_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path, Any]:
    """BASE compiled into `out` with its cache in `cache`, and that cache opened: (spec, out,
    cache, the opened cache)."""
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    pack = buildcache.open_cache(path)
    assert not pack.warnings and pack.spans
    return path, out, cache, pack


def test_texts_replaced_after_the_pack_was_opened_keep_the_checked_bytes(tmp_path, monkeypatch):
    """The texts files are mapped, not read (`buildcache._read`): a compile that replaces or evicts
    one meanwhile (a new file renamed over it, an unlink) leaves this compile the bytes it checked."""
    _, _, cache, pack = _compiled_and_opened(tmp_path, monkeypatch)
    before = {a: pack.text(a) for a in pack.spans}
    texts = _texts_file(_pack(cache))
    replacement = texts.with_name(texts.name + ".new")
    replacement.write_bytes(b"x" * texts.stat().st_size)
    os.replace(replacement, texts)
    assert {a: pack.text(a) for a in pack.spans} == before
    texts.unlink()
    assert {a: pack.text(a) for a in pack.spans} == before
    assert all(type(t) is bytes and t for t in before.values())


def test_a_filesystem_that_cannot_map_files_gets_them_read(tmp_path, monkeypatch):
    """The pack and its texts files are mapped where the filesystem can map them; where it cannot
    (some FUSE mounts: ENODEV), they are read, and the cache helps as it does elsewhere (it was
    ignored with MC220 on every compile)."""
    import errno
    import mmap

    path, out, cache, mapped = _compiled_and_opened(tmp_path, monkeypatch)

    def unmappable(*_: object, **__: object) -> None:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(mmap, "mmap", unmappable)
    read = buildcache.open_cache(path)
    assert not read.warnings and read.spans and all(type(s) is bytes for s in read.segments)
    assert {a: read.text(a) for a in read.spans} == {a: mapped.text(a) for a in mapped.spans}
    code, _, stderr = compile_(path, str(out), cache)
    assert code == 0 and "MC220" not in stderr


@pytest.mark.skipif(sys.platform != "linux", reason="Linux: fork")
@pytest.mark.skipif(
    buildcache._native_guard() is None, reason="the guard is the native extension's (not built here)"
)
def test_a_texts_file_truncated_in_place_during_a_compile_ends_it_with_a_diagnostic(tmp_path, monkeypatch):
    """The texts files are mapped: someone who truncates one in place while a compile runs (a copy
    or restore over the cache directory) takes pages away under it. The next read of one ends the
    compile with meshc's diagnostic and EXIT_USAGE, not a bare SIGBUS (in a forked child here, its
    stderr in a file)."""
    _, _, cache, pack = _compiled_and_opened(tmp_path, monkeypatch)
    texts, stderr = _texts_file(_pack(cache)), tmp_path / "stderr"
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            fd = os.open(stderr, os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(fd, 2)
            os.truncate(texts, 0)
            for a in pack.spans:
                pack.text(a)
        finally:
            os._exit(0)  # reached only if no read faulted: the test fails on the code
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == EXIT_USAGE
    said = stderr.read_text()
    assert said.startswith(f"meshc: error: a build cache file in {cache} changed while this compile")
    assert "hint: run it again" in said


def test_unreadable_cache_is_ignored_even_for_root(tmp_path, monkeypatch):
    spec = copy.deepcopy(BASE)
    path, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "cache"
    assert compile_(path, "-", cache)[0] == 0

    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(buildcache, "_read", refuse)
    code, _, stderr = compile_(path, "-", cache)
    assert code == 0
    assert "warning MC220: cache ignored:" in stderr and "cannot read it: Permission denied" in stderr


def test_the_cache_is_private_and_off_when_asked(tmp_path):
    spec = copy.deepcopy(BASE)
    path, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "cache"
    assert compile_(path, "-", cache, "--no-cache")[0] == 0
    assert not cache.exists() or not list(cache.glob("build-*"))
    assert compile_(path, "-", None)[0] == 0
    assert compile_(path, "-", cache)[0] == 0
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(_pack(cache).stat().st_mode) == 0o600
    assert [p.name for p in cache.iterdir() if p.name.startswith(".build-")] == []  # no temporary left


def test_the_least_recently_written_packs_are_evicted(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setattr(buildcache, "MAX_PACKS", 2)
    for k in range(3):
        assert compile_(write(copy.deepcopy(BASE), tmp_path / f"mesh{k}.yaml"), "-", cache)[0] == 0
        os.utime(_pack_of(tmp_path / f"mesh{k}.yaml", cache), ns=(k, k))  # in order, whatever the clock
    assert compile_(tmp_path / "mesh2.yaml", "-", cache)[0] == 0
    assert sorted(p.name for p in cache.glob("build-*.pack")) == sorted(
        _pack_of(tmp_path / f"mesh{k}.yaml", cache).name for k in (1, 2)
    )


def _pack_of(spec: Path, cache: Path) -> Path:
    return cache / buildcache.pack_name(spec, ())


def test_concurrent_compiles_leave_one_whole_pack(tmp_path, monkeypatch):
    """Two compiles of one spec at once (separate processes): the pack is one of theirs, whole."""
    spec = copy.deepcopy(BASE)
    path, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "MESHC_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "meshc", "compile", str(path), "-o"]
    runs = [
        subprocess.Popen([*command, str(tmp_path / f"out{k}")], env=env, stderr=subprocess.PIPE)
        for k in range(3)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    code, stdout, stderr = compile_(path, "-", cache)
    assert code == 0 and "MC220" not in stderr
    assert stdout == compile_(path, "-", None)[1]
    monkeypatch.setenv("MESHC_CACHE_DIR", str(cache))
    assert buildcache.open_cache(path).spans  # a whole pack was read


def test_address_tells_apart_what_renders_differently():
    a = buildcache.address
    assert a({"x": 1}) != a({"x": 1.0}) != a({"x": True})
    assert a({"x": None}) != a({"x": float("nan")}) != a({"x": float("inf")})
    assert a({"x": "1"}) != a({"x": 1})
    assert a({"x": [1, 2]}) != a({"x": [2, 1]})
    assert a({1: "x"}) is None  # a non-string key: not cached


# --- killed compiles ---------------------------------------------------------------------------------


def kill_self(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux: fork, renameat2")
@pytest.mark.parametrize("moment", ["while linking", "while saving the cache", "before the cache's rename"])
def test_a_killed_compile_leaves_a_whole_tree_and_a_usable_cache(tmp_path, monkeypatch, moment):
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    assert compile_(path, str(out), cache)[0] == 0  # racily clean entries settled
    old = tree(out)
    edit_timeout(spec, 2, 6)  # 5s -> 7s
    write(spec, path)
    if moment == "while linking":
        calls = iter(range(1000))
        real = outdir.link_recorded
        monkeypatch.setattr(
            outdir, "link_recorded", lambda *a: kill_self() if next(calls) == 20 else real(*a)
        )
    elif moment == "while saving the cache":

        def half_then_kill(target: Path, parts: list[bytes]) -> None:
            (target.parent / f".{target.name}.dead").write_bytes(parts[0])
            kill_self()

        monkeypatch.setattr(buildcache, "_write_atomically", half_then_kill)
    else:
        monkeypatch.setattr(buildcache, "_replace", kill_self)
    pid = os.fork()
    if pid == 0:
        try:
            compile_(path, str(out), cache)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    monkeypatch.undo()
    if moment == "while linking":
        assert tree(out) == old
    else:
        assert tree(out) != old  # the tree was swapped in before the cache was saved
    if moment != "while linking":
        (temporary,) = cache.glob(".build-*")
        os.utime(temporary, (0, 0))  # as old as a killed compile's debris gets
    fresh = tmp_path / "fresh"
    expected = outcome(*compile_(path, str(fresh), None), fresh)
    assert outcome(*compile_(path, str(out), cache), out) == expected
    assert tree(out) == tree(fresh)
    assert list(cache.glob(".build-*")) == []


def test_a_small_change_writes_only_its_texts_and_a_big_one_compacts(tmp_path):
    """The texts live in files beside the pack: a one-service edit adds a small one and keeps the
    big one; an edit that changes most texts writes them all into one file and drops the others."""
    spec = copy.deepcopy(BASE)
    path, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "cache"
    assert compile_(path, "-", cache)[0] == 0
    (first,) = cache.glob("*.texts")
    edit_timeout(spec, 1, 5)  # the admin route's 5s -> 6s
    write(spec, path)
    assert compile_(path, "-", cache)[0] == 0
    files = sorted(cache.glob("*.texts"), key=lambda p: p.stat().st_size)
    assert len(files) == 2 and files[1] == first
    assert files[0].stat().st_size * 20 < first.stat().st_size
    spec["metadata"]["name"] = "renamed"  # every object's labels
    write(spec, path)
    assert compile_(path, "-", cache)[0] == 0
    (last,) = cache.glob("*.texts")
    assert last not in files
    assert outcome(*compile_(path, "-", cache)) == outcome(*compile_(path, "-", None))


@pytest.mark.parametrize("delta_share", [buildcache.DELTA_SHARE, 10**9], ids=["as-is", "whole"])
def test_a_series_of_small_edits_never_rewrites_the_first_texts_file(tmp_path, monkeypatch, delta_share):
    """Each small edit adds a texts file; when there would be too many (MAX_SEGMENTS, 3 here), the
    wanted texts of the smaller files move into the new one and the biggest stays as it is: a
    series of pull requests at 10,000 services never rewrites the first compile's 66 MB (it did
    every eighth edit). Each time the output is the output without the cache."""
    monkeypatch.setattr(buildcache, "MAX_SEGMENTS", 3)
    monkeypatch.setattr(buildcache, "DELTA_SHARE", delta_share)
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    spec = copy.deepcopy(BASE)
    path, out, cache = write(spec, tmp_path / "mesh.yaml"), tmp_path / "out", tmp_path / "cache"
    assert compile_(path, str(out), cache)[0] == 0
    (first,) = cache.glob("*.texts")
    seen = set()
    for i in range(6):
        edit_timeout(spec, i * 2, 3 + i)
        assert compile_(write(spec, path), str(out), cache)[0] == 0
        files = set(cache.glob("*.texts"))
        assert first in files and len(files) <= 3, files
        seen |= files
        pack = buildcache.open_cache(path)
        _assert_the_pack_describes(pack, out)
        assert pack.segment_names[0] == first.name
    assert len(seen) > 3  # the smaller files were replaced by merged ones
    assert outcome(*compile_(path, "-", cache)) == outcome(*compile_(path, "-", None))
    fresh = tmp_path / "fresh"
    compile_(path, str(fresh), None)
    assert tree(out) == tree(fresh)


# --- what a recompile makes of the pack's rows ----------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Namespace", "Deployment", "Sidecar"]),
            st.none() | st.text(max_size=5),
            st.text(max_size=5),
            st.none() | st.text(max_size=3),
            st.none() | st.text(max_size=8),
            st.text("0123456789abcdef", min_size=32, max_size=32),
        ),
        max_size=5,
    )
)
def test_reused_manifests_are_the_manifests_the_dataclass_makes(rows: list[tuple[Any, ...]]) -> None:
    """`reused_manifests` sets the slots directly (faster than the frozen dataclass's `__init__`),
    in C where `_emitc` is built and in Python: every field set, the body a `ReusedBody` with the
    row's address, frozen as any Manifest."""
    assert buildcache._native_reused_manifests() is not None or os.environ.get("MESHC_PURE_PYTHON")
    for make in (buildcache.reused_manifests, buildcache._reused_manifests):
        _assert_made_as_the_dataclass_makes(make(rows), rows)


def test_a_malformed_row_is_refused_not_trusted() -> None:
    """The C version reads each row by position: anything but a tuple of six is a TypeError, never
    a read past its end (the pack's rows are checked when it is loaded; this is the last guard)."""
    native = buildcache._native_reused_manifests()
    if native is None:
        pytest.skip("the C extension is not built here")
    for bad in ([("Namespace",) * 5], [["Namespace", None, "n", None, None, "a" * 32]], [None]):
        with pytest.raises(TypeError, match="not a tuple of six"):
            buildcache.reused_manifests(bad)


def _assert_made_as_the_dataclass_makes(made: list[Any], rows: list[tuple[Any, ...]]) -> None:
    import dataclasses

    from meshc.compiler.manifest import Manifest

    expected = [
        Manifest(kind, namespace, name, buildcache.ReusedBody(a), cluster, owner)
        for kind, namespace, name, cluster, owner, a in rows
    ]
    assert made == expected
    for m, e in zip(made, expected, strict=True):
        assert type(m) is Manifest and type(m.body) is buildcache.ReusedBody
        assert m.body.address == e.body.address and m.body == {}
        assert [getattr(m, f.name) for f in dataclasses.fields(m)] == [
            getattr(e, f.name) for f in dataclasses.fields(e)
        ]
        with pytest.raises(dataclasses.FrozenInstanceError):
            m.kind = "Service"  # type: ignore[misc]
    assert buildcache.addresses_of(made) == [row[-1] for row in rows]


def test_a_body_without_an_address_is_always_self_checked() -> None:
    """`unchecked` leaves out only bodies whose address the cache knows: a body without one (not
    plain JSON) is checked, even beside a cache whose spans (set by hand) hold None."""
    from meshc.compiler.manifest import Manifest

    cache = buildcache.BuildCache(None)
    manifests = [
        Manifest("Service", "ns", "a", {"apiVersion": "v1", "when": {1, 2}}),
        Manifest("Service", "ns", "b", {"apiVersion": "v1"}),
    ]
    cache.prepare(manifests)
    assert cache.addresses[0] is None and cache.addresses[1] is not None
    cache.spans = {None: 0, cache.addresses[1]: 1}
    assert cache.unchecked(manifests) == [manifests[0]]
