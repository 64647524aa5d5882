"""The end of a `meshc compile` / `meshc validate` process (`compiler/lifetime.py`, issue 17): the
compiled mesh is not freed object by object, and nothing the command wrote or printed is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshc.compiler import cli, lifetime
from tests.conftest import REPO, meshc

BOOKINFO = str(REPO / "examples/bookinfo/mesh.yaml")


class Ended(Exception):
    pass


@pytest.fixture
def armed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """`entry`'s arming, with `os._exit` recorded instead of ending the test run."""
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Ended

    monkeypatch.setattr(lifetime, "_kept", None)
    monkeypatch.setattr(lifetime.os, "_exit", fake_exit)
    return codes


def test_main_keeps_nothing_when_not_armed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests and programs call `main` many times in one process: nothing may pile up there."""
    monkeypatch.setattr(lifetime, "_kept", None)
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path))
    assert cli.main(["validate", BOOKINFO]) == 0
    assert lifetime._kept is None
    assert lifetime.end(0) == 0 and lifetime.end(1) == 1  # the usual exit


def test_a_compile_ends_the_process_with_its_code_and_its_output_flushed(
    armed: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["meshc", "compile", BOOKINFO])
    flushed: list[str] = []
    monkeypatch.setattr(sys.stdout, "flush", lambda: flushed.append("stdout"))
    monkeypatch.setattr(sys.stderr, "flush", lambda: flushed.append("stderr"))
    with pytest.raises(Ended):
        cli.entry()
    assert armed == [0]
    assert flushed[-2:] == ["stdout", "stderr"]  # both flushed before the end
    kept = lifetime._kept
    assert kept is not None and any(type(k).__name__ == "Compilation" for k in kept)
    assert "kind: VirtualService" in capsys.readouterr().out


def test_a_rejected_spec_keeps_its_exit_code(armed: list[int], monkeypatch, tmp_path: Path) -> None:
    bad = tmp_path / "mesh.yaml"
    bad.write_text(Path(BOOKINFO).read_text().replace("v1: 50, v2: 0, v3: 50", "v1: 50, v2: 0, v3: 60"))
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["meshc", "validate", str(bad)])
    # a spec rejected by the rules was parsed (the cache was opened and kept): ended the same way
    with pytest.raises(Ended):
        cli.entry()
    assert armed == [1]


def test_a_command_that_keeps_nothing_ends_as_usual(armed: list[int], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["meshc", "version"])
    assert cli.entry() == 0
    assert armed == []


def test_stdout_that_cannot_take_the_output_is_not_a_success(armed: list[int], monkeypatch) -> None:
    lifetime.arm()
    lifetime.keep(object())

    def full() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys.stdout, "flush", full)
    with pytest.raises(Ended):
        lifetime.end(0)
    assert armed == [2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}  # as `conftest.meshc` runs the CLI


def test_the_whole_stream_reaches_a_pipe() -> None:
    """Through a real process and pipe: every byte of the stream arrives, as with `--no-cache`
    compiled in this process."""
    proc = meshc("compile", BOOKINFO, "--no-cache")
    assert proc.returncode == 0, proc.stderr
    from meshc.compiler.emit import dump_stream
    from meshc.compiler.pipeline import compile_mesh

    assert proc.stdout == dump_stream(compile_mesh(BOOKINFO))
    assert "meshc: wrote" in proc.stderr


def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    """`meshc compile | head -1`: the reader closes the pipe; no traceback, exit 0."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "meshc", "compile", BOOKINFO, "--no-cache"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()  # before meshc writes anything (the stream would fit in the pipe's buffer)
    err = writer.stderr.read()
    assert writer.wait() == 0
    assert b"Traceback" not in err


def _with_closed(fd: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`meshc ARGS` with descriptor `fd` closed by the caller (the shell's `>&-`); the others
    captured."""
    closing = {0: "<&-", 1: ">&-", 2: "2>&-"}[fd]
    return subprocess.run(
        ["sh", "-c", f'exec "$0" "$@" {closing}', sys.executable, "-m", "meshc", *args],
        env=_env(),
        stdin=subprocess.DEVNULL if fd != 0 else None,
        capture_output=True,
    )


def test_a_closed_stdout_or_stderr_is_not_a_crash(tmp_path: Path) -> None:
    """`meshc compile -o DIR >&-` wrote its files and said 0 (it used to end in a traceback from
    the summary's stream); `meshc validate 2>&-` says 0 for a valid spec (it crashed: exit 3)."""
    out = tmp_path / "out"
    written = _with_closed(1, "compile", BOOKINFO, "-o", str(out), "--no-cache")
    assert written.returncode == 0, written.stderr
    assert b"Traceback" not in written.stderr
    assert (out / "bookinfo").is_dir()
    assert _with_closed(2, "validate", BOOKINFO, "--no-cache").returncode == 0
    assert _with_closed(0, "validate", BOOKINFO, "--no-cache").returncode == 0


def test_the_stream_to_a_closed_stdout_is_refused() -> None:
    """Nowhere to write the stream: exit 2 and a hint, not a silent success."""
    refused = _with_closed(1, "compile", BOOKINFO, "--no-cache")
    assert refused.returncode == 2
    assert b"stdout is closed" in refused.stderr and b"-o DIR" in refused.stderr
