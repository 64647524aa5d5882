"""Big compiles use forked processes (rules beside lowering, several file writers); the outcome is
exactly the sequential one: same manifests, same diagnostics, same files, same failures.

The thresholds are lowered here so that small specs take the parallel paths; `can_fork` is forced
on because a test runner's worker runs threads of its own (the product never forks there)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from meshc.compiler import emit, parallel, pipeline, workers
from meshc.compiler.emit import OutputError, write_tree
from meshc.compiler.lower.common import Manifest
from meshc.compiler.parallel import run
from meshc.spec.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "rules" / "fixtures").glob("*/*.yaml"))
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/mesh.yaml"))


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "PARALLEL_SERVICES", 1)
    monkeypatch.setattr(emit, "PARALLEL_FILES", 2)


def _outcome(path: Path, strict: bool) -> tuple[str, object]:
    try:
        c = run(path, strict=strict)
    except SpecError as exc:
        return "rejected", [d.format() for d in exc.diagnostics]
    return "compiled", ([d.format() for d in c.diagnostics], [(m.ref, m.body) for m in c.manifests])


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("path", FIXTURES + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rules_beside_lowering_give_the_sequential_outcome(
    path: Path, strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequential = _outcome(path, strict)
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "PARALLEL_SERVICES", 1)
    forks = []
    real = workers.Forked

    def counting(fn):
        forks.append(fn)
        return real(fn)

    monkeypatch.setattr(workers, "Forked", counting)
    assert _outcome(path, strict) == sequential
    assert forks, "the rules did not run in a child"


def test_the_units_keys_are_worked_out_once_before_the_rules_fork(
    forking: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both processes of a compile with the build cache need the units' keys (the rules' plan,
    lowering): worked out once, by this process before it forks, not again by each (which pays
    copy-on-write faults after the fork). The compile that reuses the cache still writes a full
    compile's files."""
    from meshc.compiler import cli, units

    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    spec = ROOT / "examples" / "bookinfo" / "mesh.yaml"
    calls = tmp_path / "calls"
    real = units.unit_keys

    def counted(*args: Any, **kwargs: Any) -> Any:
        with calls.open("a") as f:  # the child's calls too
            f.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(units, "unit_keys", counted)
    for _ in range(2):  # the first compile writes the pack, the second reuses it
        calls.write_text("")
        assert cli.main(["compile", str(spec), "-o", str(tmp_path / "out")]) == 0
        assert calls.read_text().split() == [str(os.getpid())]
    assert cli.main(["compile", "--no-cache", str(spec), "-o", str(tmp_path / "full")]) == 0
    files = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "full") for p in (tmp_path / "full").rglob("*"))
    for name in files:
        if (tmp_path / "out" / name).is_file():
            assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()


def test_a_crash_of_lowering_on_a_rejected_spec_is_not_reported(monkeypatch) -> None:
    """Lowering assumes a spec the rules accepted; run speculatively on a rejected one, whatever it
    does must not surface."""
    rejected = ROOT / "tests/rules/fixtures/MC101/fail-unknown-names.yaml"
    with pytest.raises(SpecError) as sequential:
        run(rejected)

    def crash(index: object) -> None:
        raise KeyError("no such service")

    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "PARALLEL_SERVICES", 1)
    monkeypatch.setattr(pipeline, "lower_index", crash)
    with pytest.raises(SpecError) as caught:
        run(rejected)
    assert caught.value.diagnostics == sequential.value.diagnostics
    assert "MC101" in {d.code for d in caught.value.diagnostics}


def test_a_crash_of_lowering_on_an_accepted_spec_is_raised(forking: None, monkeypatch) -> None:
    def crash(index: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(pipeline, "lower_index", crash)
    with pytest.raises(KeyError, match="a bug"):
        run(ROOT / "examples/bookinfo/mesh.yaml")


def test_an_interruption_during_lowering_stays_an_interruption(forking: None, monkeypatch) -> None:
    def interrupted(index: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "lower_index", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(ROOT / "examples/bookinfo/mesh.yaml")


def test_a_crash_of_the_rules_in_their_child_is_an_error(forking: None, monkeypatch) -> None:
    def broken(ctx, source, *args):
        raise ZeroDivisionError("rule bug")

    monkeypatch.setattr(pipeline, "run_rules", broken)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: rule bug"):
        run(ROOT / "examples/bookinfo/mesh.yaml")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_several_writers_write_the_same_tree(example: Path, tmp_path: Path, monkeypatch) -> None:
    manifests = run(example).manifests
    write_tree(manifests, tmp_path / "one")
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(emit, "PARALLEL_FILES", 2)
    assert workers.processes_for(len(manifests), emit.PARALLEL_FILES) > 1 or workers.cpu_count() == 1
    write_tree(manifests, tmp_path / "many")
    assert _tree(tmp_path / "many") == _tree(tmp_path / "one")


def _config_map(i: int, data: object) -> Manifest:
    return Manifest("ConfigMap", "ns", f"cm-{i}", {"apiVersion": "v1", "kind": "ConfigMap", "data": data})


def test_a_failing_writer_leaves_the_previous_output(forking: None, tmp_path: Path) -> None:
    good = [_config_map(i, {"i": str(i)}) for i in range(8)]
    out = tmp_path / "out"
    write_tree(good, out)
    before = _tree(out)
    # The last share is a child's: there the second cm-0 finds the first one's file.
    with pytest.raises(OutputError, match="cannot write output: File exists"):
        write_tree([*good, _config_map(0, {})], out)
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_bug_in_a_writer_is_not_an_output_error(forking: None, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TypeError: cannot emit object"):
        write_tree([*(_config_map(i, {}) for i in range(8)), _config_map(9, object())], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_forked_returns_the_childs_result_and_its_failures() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork() here")
    assert workers.Forked(lambda: {"pid": os.getpid()}).join()["pid"] != os.getpid()

    def refuse() -> None:
        raise ValueError("nope")

    with pytest.raises(workers.WorkerFailed, match="ValueError: nope"):
        workers.Forked(refuse).join()

    def no_space() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(workers.WorkerFailed) as caught:
        workers.Forked(no_space).join()
    assert caught.value.oserror == "No space left on device"

    with pytest.raises(workers.WorkerFailed, match="ended with status 7 before reporting"):
        workers.Forked(lambda: os._exit(7)).join()  # killed, out of memory...: no report at all


def test_a_child_killed_halfway_through_its_report_is_a_failed_worker() -> None:
    """A big report fills the pipe; a child killed (the OOM killer, a signal) while it writes
    leaves a truncated report: that is a failed worker (callers fall back on it), never an
    unpickling error escaping as a meshc bug."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork() here")
    import signal
    import time

    child = workers.Forked(lambda: "x" * (4 << 20))
    time.sleep(0.5)  # the child is blocked writing its report into the full pipe
    os.kill(child._pid, signal.SIGKILL)
    with pytest.raises(workers.WorkerFailed, match="status -9 halfway"):
        child.join()


def test_a_streamed_childs_wait_ends_at_its_first_frame_or_its_end() -> None:
    """`Streamed.wait` (the CLI waits for the read-ahead's parse before it lists the tree): it
    returns once the first frame is there, not before, and when the child ends with no frame."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork() here")
    import time

    def later(send: Any) -> None:
        time.sleep(0.3)
        send(b"first")
        time.sleep(30)  # the rest never comes: `close` ends it

    start = time.monotonic()  # before the fork: however late this process runs after it
    child = workers.Streamed(later)
    try:
        assert not child.ready()
        child.wait()
        assert child.ready() and time.monotonic() - start >= 0.29
        assert next(child.frames()) == b"first"
    finally:
        child.close()
    silent = workers.Streamed(lambda send: os._exit(0))
    try:
        silent.wait()
        assert silent.ready() and list(silent.frames()) == []
    finally:
        silent.close()
    silent.wait()  # closed: returns at once


def test_a_join_interrupted_by_ctrl_c_kills_and_reaps_the_child() -> None:
    """Ctrl-C (or any exception) while waiting for a child: the child is ended and reaped then,
    not left a zombie (or still working) in a program that goes on, such as one calling
    `parallel.run`; every caller joins a child once, so no later join would reap it."""
    if not hasattr(os, "fork") or not hasattr(signal, "setitimer"):
        pytest.skip("no fork() or setitimer() here")
    import time

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    child = workers.Forked(lambda: time.sleep(30))
    previous = signal.signal(signal.SIGALRM, interrupt)
    start = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            child.join()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < 10  # not waited out
    with pytest.raises(ChildProcessError):
        os.waitpid(child._pid, os.WNOHANG)  # reaped already


def test_a_fork_that_fails_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fork now (process or memory limits): the caller falls back (the early scan, the
    read-ahead), and the pipe made for the child is closed, not leaked for the process's life."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc here")

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(OSError):
            workers.Forked(lambda: None)
    assert sorted(os.listdir("/proc/self/fd")) == before


def _with_a_broken_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make lowering emit one invalid resource (a name that is not a DNS-1123 subdomain)."""
    real = pipeline.lower_index

    def lower(index, skip=frozenset(), skip_gateways=frozenset()):
        manifests = real(index, skip, skip_gateways)
        last = manifests[-1]
        last.body["metadata"] = {**last.body["metadata"], "name": "Not_A_Name"}
        return manifests

    monkeypatch.setattr(pipeline, "lower_index", lower)


@pytest.mark.parametrize("writers", ["one", "several"])
def test_a_failing_self_check_writes_nothing_and_exits_3(
    writers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshc.compiler.cli import main

    spec = str(ROOT / "examples/shop/mesh.yaml")
    out = tmp_path / "out"
    assert main(["compile", spec, "-o", str(out)]) == 0
    before = _tree(out)
    capsys.readouterr()
    if writers == "several":
        monkeypatch.setattr(workers, "can_fork", lambda: True)
        monkeypatch.setattr(emit, "PARALLEL_FILES", 2)
    _with_a_broken_resource(monkeypatch)
    assert main(["compile", spec, "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "failed its self-check; nothing was written" in err
    assert "Not_A_Name" in err
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert main(["compile", spec, "-o", "-"]) == 3
    assert capsys.readouterr().out == ""


# --- `-o DIR` staged while the rules run, swapped in only once they accept the spec ---------------


def _rejected_edit(tmp_path: Path) -> tuple[Path, Path]:
    """bookinfo, and bookinfo with a call to a service that does not exist (MC101: rejected)."""
    text = (ROOT / "examples/bookinfo/mesh.yaml").read_text()
    good = tmp_path / "good.yaml"
    good.write_text(text)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("{ service: details, methods", "{ service: no-such-service, methods", 1))
    assert bad.read_text() != text
    return good, bad


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): (p.stat().st_ino, p.read_bytes()) for p in files}


@pytest.mark.parametrize("cached", [False, True], ids=["no-cache", "cache"])
def test_the_output_of_a_spec_the_rules_reject_is_never_swapped_in(
    forking: None, cached: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshc.compiler.buildcache import open_cache

    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    good, bad = _rejected_edit(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    run(good, schemas=False, output=out / "tree", cache=open_cache(good) if cached else None)
    before = _snapshot(out / "tree")
    packs = sorted((tmp_path / "cache").glob("*")) if cached else []
    packs_before = {p.name: p.read_bytes() for p in packs}
    gate_calls: list[bool] = []
    real_gate = parallel._Rules.gate

    def gate(self: parallel._Rules) -> None:
        # Called once the new files are staged beside the tree, which is still the old one.
        staged = [p for p in out.iterdir() if p.name != "tree"]
        gate_calls.append(bool(staged) and _snapshot(out / "tree") == before)
        real_gate(self)

    monkeypatch.setattr(parallel._Rules, "gate", gate)
    bad.rename(good)  # the same spec file, edited: the cache's pack is the one of `good`
    with pytest.raises(SpecError) as caught:
        run(good, schemas=False, output=out / "tree", cache=open_cache(good) if cached else None)
    assert "MC101" in {d.code for d in caught.value.diagnostics}
    with pytest.raises(SpecError) as sequential:
        pipeline.run(good)
    assert caught.value.diagnostics == sequential.value.diagnostics
    assert gate_calls == [True]  # the output was staged meanwhile, the gate stayed shut
    assert _snapshot(out / "tree") == before
    assert [p.name for p in out.iterdir()] == ["tree"]  # no staging left behind
    if cached:
        assert {p.name: p.read_bytes() for p in sorted((tmp_path / "cache").glob("*"))} == packs_before


def test_a_crash_of_the_rules_leaves_the_previous_output(forking: None, tmp_path: Path, monkeypatch) -> None:
    good, _ = _rejected_edit(tmp_path)
    out = tmp_path / "out"
    run(good, schemas=False, output=out)
    before = _snapshot(out)

    def broken(ctx, source, *args):
        raise ZeroDivisionError("rule bug")

    monkeypatch.setattr(pipeline, "run_rules", broken)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: rule bug"):
        run(good, schemas=False, output=out)
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name == "out"] == ["out"]


def test_an_accepted_spec_is_written_through_the_gate(forking: None, tmp_path: Path, monkeypatch) -> None:
    good, _ = _rejected_edit(tmp_path)
    calls = []
    real_gate = parallel._Rules.gate

    def gate(self: parallel._Rules) -> None:
        calls.append(1)
        real_gate(self)

    monkeypatch.setattr(parallel._Rules, "gate", gate)
    c = run(good, schemas=False, output=tmp_path / "out")
    write_tree(pipeline.run(good).manifests, tmp_path / "expected")
    assert _tree(tmp_path / "out") == _tree(tmp_path / "expected")
    assert calls and "rules_wait" in c.timings and "self_check+write" in c.timings


def test_an_interruption_while_the_output_waits_for_the_rules_stays_an_interruption(
    forking: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the staged output waits at the gate: an interruption (exit 130 in the CLI),
    not a second wait on the rules' closed pipe (which would be an internal error), and the
    previous output stays."""
    good, _ = _rejected_edit(tmp_path)
    out = tmp_path / "out"
    run(good, schemas=False, output=out)
    before, names = _snapshot(out), sorted(p.name for p in tmp_path.iterdir())
    edited = good.read_text().replace("{ service: details, methods", "{ service: reviews, methods", 1)
    assert edited != good.read_text()
    good.write_text(edited)  # a change to write: the staged output waits at the gate
    monkeypatch.setattr(emit, "PARALLEL_FILES", 10**9)  # the rules' child is the only one
    real_join = workers.Forked.join
    joins: list[int] = []

    def interrupted(self: workers.Forked) -> object:
        joins.append(1)
        real_join(self)  # the child is reaped; the signal arrives as the wait ends
        raise KeyboardInterrupt

    monkeypatch.setattr(workers.Forked, "join", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(good, schemas=False, output=out)
    assert joins == [1]  # the rules' child is waited for once
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_a_rejected_spec_creates_no_directory_for_its_output(
    forking: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output is staged beside DIR while the rules run, so DIR's missing parents are made
    first; when the rules reject the spec, the disk must be as the sequential pipeline leaves it
    (which never gets to the write): no DIR, and none of the folders made on its way."""
    _, bad = _rejected_edit(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SpecError) as caught:
        run(bad, schemas=False, output=tmp_path / "new" / "deeper" / "out")
    assert "MC101" in {d.code for d in caught.value.diagnostics}
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("forked", [False, True], ids=["sequential", "rules-forked"])
def test_warnings_are_still_shown_when_the_output_directory_cannot_be_written(
    forked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The write now happens inside the pipeline (staged beside the rules): a DIR meshc may not
    replace is exit 2 as before, and the spec's warnings are printed before the error, as they
    were when the CLI wrote the output after printing them."""
    from meshc.compiler import cli

    if forked:
        monkeypatch.setattr(workers, "can_fork", lambda: True)
        monkeypatch.setattr(parallel, "PARALLEL_SERVICES", 1)
    spec = ROOT / "tests/rules/fixtures/MC109/pass-tcp-only.yaml"
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("not meshc's\n")
    code = cli.main(["compile", "--no-cache", str(spec), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to replace it" in err
    assert "warning MC115" in err, err
    assert err.index("warning MC115") < err.index("refusing to replace it")
    assert (out / "mine.txt").read_text() == "not meshc's\n"
