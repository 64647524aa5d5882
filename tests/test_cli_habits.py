"""Habits from the tools people know (issue 18): `meshc --version`, `meshc compile SPEC` to stdout."""

from __future__ import annotations

from tests.conftest import meshc


def test_dash_dash_version_prints_the_first_line_of_meshc_version() -> None:
    flag = meshc("--version")
    command = meshc("version")
    assert flag.returncode == 0, flag.stderr
    assert command.returncode == 0, command.stderr
    assert flag.stdout == command.stdout.splitlines(keepends=True)[0]
    assert flag.stdout.startswith("meshc ")
