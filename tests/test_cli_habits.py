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
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(gc.isenabled()) or 0)
    assert gc.isenabled()
    try:
        assert cli.entry() == 0
        assert seen == [False]
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
    monkeypatch.undo()
    assert cli.main(["version"]) == 0
    assert gc.isenabled()
