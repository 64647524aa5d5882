"""Habits from the tools people know (issue 18): `meshc --version`, `meshc compile SPEC` to stdout."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, meshc

BOOKINFO = "examples/bookinfo/mesh.yaml"


def test_dash_dash_version_prints_the_first_line_of_meshc_version() -> None:
    flag = meshc("--version")
    command = meshc("version")
    assert flag.returncode == 0, flag.stderr
    assert command.returncode == 0, command.stderr
    assert flag.stdout == command.stdout.splitlines(keepends=True)[0]
    assert flag.stdout.startswith("meshc ")


def test_compile_without_output_prints_the_yaml_stream_like_dash_o_dash() -> None:
    default = meshc("compile", BOOKINFO)
    dash = meshc("compile", BOOKINFO, "-o", "-")
    assert default.returncode == 0, default.stderr
    assert dash.returncode == 0, dash.stderr
    assert default.stdout == dash.stdout
    assert default.stdout.startswith("apiVersion: ") or default.stdout.startswith("---")
    assert "kind: VirtualService" in default.stdout
    assert "to stdout" in default.stderr


def test_compile_without_output_writes_no_directory(tmp_path: Path) -> None:
    spec = (REPO / BOOKINFO).resolve()
    result = meshc("compile", str(spec), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_compile_help_says_stdout_is_the_default() -> None:
    result = meshc("compile", "--help")
    assert result.returncode == 0
    assert "default: - (stdout)" in " ".join(result.stdout.split())


def test_compile_spec_errors_to_stdout_mode_keep_stdout_empty(write) -> None:
    spec = write("apiVersion: mesh.example.io/v1\nkind: Mesh\nmetadata: {name: x}\nspec: {services: [}\n")
    result = meshc("compile", str(spec))
    assert result.returncode in (1, 2), result.stderr
    assert result.stdout == ""
    assert str(spec) in result.stderr


def test_the_command_runs_without_the_cyclic_gc_and_main_leaves_it_as_it_was(monkeypatch) -> None:
    """`entry` (the `meshc` command) keeps the cyclic GC off throughout: switching it back on after a
    big compile made its next collection walk the whole compiled mesh. `main`, which programs and
    tests call, pauses it only around the bulk work and leaves it as it found it."""
    import gc

    from meshc.compiler import cli

    seen: list[bool] = []
    ended: list[int] = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(gc.isenabled()) or 0)
    monkeypatch.setattr(cli, "_end", ended.append)  # the real one ends this process
    assert gc.isenabled()
    try:
        assert cli.entry() == 0
        assert seen == [False]
        assert ended == [0]
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
        cli._LEFT_FOR_THE_END = None
    monkeypatch.undo()
    assert cli.main(["version"]) == 0
    assert gc.isenabled()


def test_the_command_ends_at_once_with_its_output_flushed_and_its_exit_code(tmp_path: Path) -> None:
    """`entry` ends the process without the interpreter's exit (which would only free what the
    compile built), once stdout and stderr are flushed: through a pipe (block-buffered, not
    PYTHONUNBUFFERED) the stream is whole, byte for byte what `main` prints, and so are the
    exit codes of a rejected spec and of a compile into a directory."""
    import contextlib
    import io
    import os
    import subprocess
    import sys

    from meshc.compiler import cli

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(PYTHONPATH=str(REPO), MESHC_CACHE_DIR="")

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "meshc", *args]
        return subprocess.run(command, cwd=REPO, capture_output=True, env=env, timeout=300)

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["compile", BOOKINFO, "--no-cache"]) == 0
    streamed = run("compile", BOOKINFO, "--no-cache")
    assert streamed.returncode == 0, streamed.stderr
    assert len(out.getvalue()) > 8192  # more than one buffer: a lost flush would show
    assert streamed.stdout == out.getvalue().encode()
    assert b"meshc: wrote" in streamed.stderr
    written = run("compile", BOOKINFO, "-o", str(tmp_path / "out"))
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "out" / ".meshc-output").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mesh.example.io/v1\nkind: Mesh\nmetadata: {name: x}\nspec: {services: [}\n")
    rejected = run("compile", str(bad), "--format", "json", "-o", str(tmp_path / "o2"))
    assert rejected.returncode in (1, 2)
    assert rejected.stdout.strip().startswith(b"{") and rejected.stdout.strip().endswith(b"}")
