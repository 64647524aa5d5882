"""Crash safety of `meshc compile -o DIR` (issue 13 defect 8).

DIR is, at every instant, the complete previous tree or the complete new one (a single exchange
rename); debris of killed compiles is removed by the next one; forked writers die with their
parent; a symlink DIR is followed, not replaced; DIR's mode follows the umask like `mkdir`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from meshc.compiler import emit, outdir
from meshc.compiler.emit import MARKER, OutputRejected, write_tree
from meshc.compiler.lower.common import Manifest

linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux: renameat2, prctl, /proc")


def manifests(n: int, tag: str = "a") -> list[Manifest]:
    out = []
    for i in range(n):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}, "data": {"t": tag}}
        out.append(Manifest("ConfigMap", f"ns-{i % 7}", f"cm-{i}", body))
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def debris(parent: Path) -> list[str]:
    return sorted(n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n)


def in_killed_child(fn: Callable[[], object]) -> None:
    """Run `fn` in a forked child that is expected to SIGKILL itself; wait for it."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def kill_self(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_debris_of_killed_compiles_is_cleaned(tmp_path):
    out = tmp_path / "out"
    write_tree(manifests(3), out)
    for name in (".out.tmp-dead1", ".out.old-dead2/previous"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "big.yaml").write_text("x")
    (tmp_path / ".other.tmp-keep").mkdir()  # another output's: not ours to judge
    planted = tmp_path / ".out.tmp-link"
    planted.symlink_to(tmp_path / ".other.tmp-keep")
    write_tree(manifests(2), out)
    assert debris(tmp_path) == [".other.tmp-keep", ".out.tmp-link"]
    assert (tmp_path / ".other.tmp-keep").is_dir()  # a planted link is not followed
    assert sorted(tree(out)) == sorted([MARKER, "ns-0/configmap-cm-0.yaml", "ns-1/configmap-cm-1.yaml"])


def test_output_directory_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_tree(manifests(1), tmp_path / "out")
        write_tree(manifests(2), tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_a_symlink_output_is_written_through_not_replaced(tmp_path):
    real = tmp_path / "real"
    write_tree(manifests(1), real)
    link = tmp_path / "link"
    link.symlink_to(real)
    write_tree(manifests(2), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "ns-1/configmap-cm-1.yaml" in tree(real)
    assert debris(tmp_path) == []


@linux
def test_the_swap_is_one_exchange(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_tree(manifests(1), out)
    renames: list[tuple[str, str]] = []
    real_rename = os.rename
    monkeypatch.setattr(outdir.os, "rename", lambda a, b: renames.append((a, b)) or real_rename(a, b))
    write_tree(manifests(2), out)
    assert renames == []  # no instant without an `out`: renameat2(RENAME_EXCHANGE) only
    assert len(tree(out)) == 3


@linux
@pytest.mark.parametrize("moment", ["while writing", "before the swap", "after the swap"])
def test_killed_at_a_moment_leaves_a_whole_tree_and_the_next_compile_cleans_up(tmp_path, monkeypatch, moment):
    out = tmp_path / "out"
    write_tree(manifests(5, "old"), out)
    old = tree(out)
    if moment == "while writing":
        monkeypatch.setattr(
            emit, "dump", lambda body: kill_self() if body["metadata"]["name"] == "cm-3" else ""
        )
    elif moment == "before the swap":
        monkeypatch.setattr(outdir, "exchange", kill_self)
    else:
        monkeypatch.setattr(outdir.shutil, "rmtree", kill_self)
    in_killed_child(lambda: write_tree(manifests(6, "new"), out))
    monkeypatch.undo()
    new = tree(out)
    assert debris(tmp_path), "the kill left a staging directory behind (else this test proves nothing)"
    if moment == "after the swap":
        assert len(new) == 7 and all(b"t: new" in v for k, v in new.items() if k != MARKER)
    else:
        assert new == old
    write_tree(manifests(1), out)
    assert debris(tmp_path) == []


def test_a_crash_between_the_fallback_renames_is_repaired_by_the_next_compile(tmp_path, monkeypatch):
    """Without RENAME_EXCHANGE the swap takes two renames; killed between them, DIR is missing
    until the next compile, which restores the previous tree before anything else."""
    out = tmp_path / "out"
    write_tree(manifests(3, "old"), out)
    old = tree(out)
    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(a: object, b: object) -> None:
        if str(b).endswith("previous"):
            real_rename(a, b)
            kill_self()
        real_rename(a, b)

    monkeypatch.setattr(outdir.os, "rename", rename)
    in_killed_child(lambda: write_tree(manifests(4, "new"), out))
    monkeypatch.undo()
    assert not out.exists()

    def rejected(share: object) -> list[str]:
        return ["nothing may be written"]

    with pytest.raises(OutputRejected):
        write_tree(manifests(4, "new"), out, check=rejected)
    assert tree(out) == old
    assert debris(tmp_path) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@linux
def test_forked_writers_die_with_a_killed_parent(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    pids.mkdir()

    def slow_dump(body: dict) -> str:
        (pids / str(os.getpid())).touch()
        time.sleep(60)
        return ""

    monkeypatch.setattr(emit, "dump", slow_dump)
    monkeypatch.setattr(emit, "PARALLEL_FILES", 4)
    monkeypatch.setattr("meshc.compiler.workers.cpu_count", lambda: 2)
    pid = os.fork()
    if pid == 0:
        try:
            write_tree(manifests(8), tmp_path / "out")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while len(os.listdir(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    writers = sorted(int(p) for p in os.listdir(pids))
    assert pid in writers and len(writers) == 2, writers
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in writers if w != pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [w for w in writers if w != pid and _alive(w)]
    for w in survivors:
        os.kill(w, signal.SIGKILL)
    assert survivors == [], "a writer outlived its killed parent"


# --- the real CLI, killed with SIGKILL at several moments -----------------------------------------


def _spec(tmp_path: Path, image_tag: str) -> Path:
    sys.path.insert(0, str(REPO))
    from bench.synthetic import make_spec

    data = make_spec(500)  # ~4,200 files: over PARALLEL_FILES, so the writers fork
    text = yaml.safe_dump(data, sort_keys=False).replace(":1.0.0", f":{image_tag}")
    path = tmp_path / f"mesh-{image_tag}.yaml"
    path.write_text(text)
    return path


def _compile(spec: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshc", "compile", str(spec), "-o", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _session_alive(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session id
                found.append(int(entry))
    return found


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    while not condition() and proc.poll() is None:
        time.sleep(0.001)


def _staging(parent: Path) -> Path | None:
    found = [n for n in os.listdir(parent) if n.startswith(".dir.tmp-")]
    return parent / found[0] if found else None


@linux
def test_sigkill_of_a_real_compile_at_several_moments(tmp_path):
    """kill -9 of `meshc compile` (the parent only) while it writes, just before and just after
    the swap: DIR is always one whole tree, no writer survives, the next compile cleans up."""
    old_spec, new_spec = _spec(tmp_path, "1.0.0"), _spec(tmp_path, "9.9.9")
    out = tmp_path / "out" / "dir"
    assert _compile(old_spec, out).wait() == 0
    old = tree(out)
    inode = out.stat().st_ino

    def writing() -> bool:
        staging = _staging(out.parent)
        return staging is not None and len(os.listdir(staging)) > 3

    def about_to_swap() -> bool:
        staging = _staging(out.parent)
        return staging is not None and (staging / MARKER).exists()

    def swapped() -> bool:
        return out.stat().st_ino != inode

    after_kills = []
    for moment in (writing, about_to_swap, swapped):
        proc = _compile(new_spec, out)
        _wait_for(moment, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the compile only: its writers must follow by themselves
        proc.wait()
        deadline = time.monotonic() + 10
        while _session_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session_alive(proc.pid) == [], f"a writer outlived the compile killed {moment.__name__}"
        after_kills.append((moment.__name__, tree(out)))
        if swapped():
            break  # from here on DIR is the new tree: a later kill could not show the old one
    assert _compile(new_spec, out).wait() == 0
    new = tree(out)
    assert new != old
    for name, seen in after_kills:
        assert seen in (old, new), f"killed {name}: {len(seen)} files, neither the old nor the new tree"
    assert debris(out.parent) == []


# --- only what changed is written (issue 17, target 1) --------------------------------------------


def inodes(root: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time (ns) of every file under `root`."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def edited(items: list[Manifest]) -> list[Manifest]:
    """`items` less cm-1, with cm-2 changed and cm-100 added: one of each kind of change."""
    out = [m for m in items if m.name not in ("cm-1", "cm-2")]
    out.append(Manifest("ConfigMap", "ns-2", "cm-2", {**items[2].body, "data": {"t": "changed"}}))
    out.append(Manifest("ConfigMap", "ns-9", "cm-100", {**items[0].body, "metadata": {"name": "cm-100"}}))
    return out


@pytest.mark.parametrize("writers", [1, 2])
def test_unchanged_files_keep_their_inode_and_only_changes_are_written(tmp_path, monkeypatch, writers):
    if writers > 1:
        monkeypatch.setattr(emit, "PARALLEL_FILES", 2)
    out = tmp_path / "out"
    before = manifests(20)
    write_tree(before, out)
    old = inodes(out)
    write_tree(edited(before), out)
    new = inodes(out)
    assert "ns-1/configmap-cm-1.yaml" not in new  # removed resource: deleted
    assert (out / "ns-9/configmap-cm-100.yaml").read_bytes() == (
        out / "ns-0/configmap-cm-0.yaml"
    ).read_bytes().replace(b"cm-0", b"cm-100")
    assert new["ns-2/configmap-cm-2.yaml"][0] != old["ns-2/configmap-cm-2.yaml"][0]
    assert b"t: changed" in (out / "ns-2/configmap-cm-2.yaml").read_bytes()
    unchanged = [p for p in old if p not in ("ns-1/configmap-cm-1.yaml", "ns-2/configmap-cm-2.yaml", MARKER)]
    assert len(unchanged) == 18
    assert {p: new[p] for p in unchanged} == {p: old[p] for p in unchanged}  # same inode, not rewritten
    assert all((out / p).stat().st_nlink == 1 for p in unchanged)  # the old tree is gone
    assert tree(out) == _fresh_tree(tmp_path, edited(before))
    assert debris(tmp_path) == []


def _fresh_tree(tmp_path: Path, items: list[Manifest]) -> dict[str, bytes]:
    fresh = tmp_path / "fresh"
    write_tree(items, fresh)
    return tree(fresh)


def test_an_edited_or_planted_file_in_the_old_tree_is_not_reused(tmp_path):
    """Reuse is decided by the bytes on disk, never by a record: a hand-edited file is rewritten,
    and a symlink planted in place of a file is neither followed nor linked."""
    out = tmp_path / "out"
    write_tree(manifests(3), out)
    (out / "ns-0/configmap-cm-0.yaml").write_text("edited by hand\n")
    secret = tmp_path / "secret"
    secret.write_bytes((out / "ns-1/configmap-cm-1.yaml").read_bytes())
    (out / "ns-1/configmap-cm-1.yaml").unlink()
    (out / "ns-1/configmap-cm-1.yaml").symlink_to(secret)
    write_tree(manifests(3), out)
    assert tree(out) == _fresh_tree(tmp_path, manifests(3))
    assert not (out / "ns-1/configmap-cm-1.yaml").is_symlink()
    assert (out / "ns-1/configmap-cm-1.yaml").stat().st_ino != secret.stat().st_ino


@linux
@pytest.mark.parametrize("step", range(0, 23, 2))
def test_an_incremental_write_killed_at_any_step_leaves_one_whole_tree(tmp_path, monkeypatch, step):
    """kill -9 at the step-th file operation of an incremental write (a comparison, a link or a
    write), at the exchange or during the removal of the old tree: DIR is the old or the new tree,
    the old tree's files are intact, and the next compile cleans up."""
    out = tmp_path / "out"
    before = manifests(20, "old")
    write_tree(before, out)
    old = tree(out)
    after = edited(before)
    new = _fresh_tree(tmp_path, after)
    calls = iter(range(10_000))

    def counted(real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            if next(calls) == step:
                kill_self()
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(outdir, "reuse", counted(outdir.reuse))
    monkeypatch.setattr(emit, "_write_file", counted(emit._write_file))
    monkeypatch.setattr(outdir, "exchange", counted(outdir.exchange))
    monkeypatch.setattr(outdir.shutil, "rmtree", counted(outdir.shutil.rmtree))
    in_killed_child(lambda: write_tree(after, out))
    monkeypatch.undo()
    seen = tree(out)
    assert seen in (old, new), f"killed at step {step}: neither the old nor the new tree"
    assert debris(tmp_path), "the kill left nothing behind (else this test proves nothing)"
    write_tree(after, out)
    assert tree(out) == new
    assert debris(tmp_path) == []


@linux
def test_a_big_old_tree_is_removed_in_the_background(tmp_path, monkeypatch):
    """The retired tree goes to a detached `rm`: the compile does not wait for it, the next compile
    does not wait for it either (it holds no lock), and it does not keep the caller's output open."""
    monkeypatch.setattr(outdir, "BACKGROUND_REMOVAL_FILES", 2)
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def popen(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(list(args))
        assert kwargs["close_fds"] and kwargs["stdout"] == subprocess.DEVNULL
        return real_popen(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", popen)
    out = tmp_path / "out"
    write_tree(manifests(5), out)
    write_tree(manifests(6), out)
    assert len(started) == 1 and started[0][:3] == ["/bin/rm", "-rf", "--"]
    assert started[0][3].startswith(str(tmp_path / ".out.tmp-"))
    deadline = time.monotonic() + 10
    while debris(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert debris(tmp_path) == []
    assert len(tree(out)) == 7


@linux
def test_sigkill_at_random_moments_of_an_incremental_recompile(tmp_path):
    """The real CLI, a one-service change to an existing output, kill -9 after a random delay,
    several times: DIR is always the old or the new tree."""
    import random

    old_spec = _spec(tmp_path, "1.0.0")
    new_spec = tmp_path / "mesh-one.yaml"
    text = old_spec.read_text()
    first = text.index("registry.example.com/svc-00250:1.0.0")
    new_spec.write_text(text[:first] + text[first:].replace(":1.0.0", ":7.7.7", 1))
    out = tmp_path / "out" / "dir"
    assert _compile(new_spec, out).wait() == 0
    new = tree(out)
    assert _compile(old_spec, out).wait() == 0
    old = tree(out)
    assert old != new
    rng = random.Random(17)
    start = time.monotonic()
    assert _compile(new_spec, out).wait() == 0
    full = time.monotonic() - start
    for _ in range(6):
        assert _compile(old_spec, out).wait() == 0
        proc = _compile(new_spec, out)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        proc.kill()
        proc.wait()
        seen = tree(out)
        assert seen in (old, new), f"{len(seen)} files, neither the old nor the new tree"
    assert _compile(new_spec, out).wait() == 0
    assert tree(out) == new
    assert debris(out.parent) == []
