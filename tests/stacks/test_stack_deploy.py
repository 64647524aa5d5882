"""`meshc deploy`: argument handling, the clear error without the Pulumi CLI, and how it drives the
Automation API (checked against a stand-in for the Automation API's stack object, not a fake engine)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from stackhelp import REPO, run_meshc


def test_without_the_pulumi_cli_it_says_how_to_install_it_and_log_in() -> None:
    proc = run_meshc("deploy", "--stack", "dev")  # PATH holds no `pulumi` (see stackhelp)
    assert proc.returncode == 2
    assert "`pulumi` is not on PATH" in proc.stderr
    assert "https://www.pulumi.com/docs/install/" in proc.stderr
    assert "pulumi login --local" in proc.stderr
    assert "pulumi stack init dev" in proc.stderr
    assert "meshc plan --stack dev" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_preview_without_the_cli_is_the_same_clear_error() -> None:
    proc = run_meshc("deploy", "--stack", "prod", "--preview")
    assert proc.returncode == 2 and "https://www.pulumi.com/docs/install/" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: --stack"),
        (("--stack",), "expected one argument"),
        (("--stack", "prod dev"), "is not a stack name"),
        (("--stack", "prod", "--yes"), "unrecognized arguments: --yes"),
    ],
)
def test_argument_errors(args: tuple[str, ...], message: str) -> None:
    proc = run_meshc("deploy", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_help_describes_the_command() -> None:
    proc = run_meshc("deploy", "--help")
    assert proc.returncode == 0
    assert (
        "Automation API" in proc.stdout
        and "--preview" in proc.stdout
        and "pulumi login --local" in proc.stdout
    )


class _Summary:
    result = "succeeded"
    resource_changes = {"create": 41}


class _Stack:
    def __init__(self, calls: list[tuple[str, dict[str, Any]]], fail: Exception | None = None) -> None:
        self.calls, self.fail = calls, fail

    def preview(self, **kwargs: Any) -> Any:
        self.calls.append(("preview", kwargs))
        kwargs["on_output"]("Previewing update (prod)")
        if self.fail:
            raise self.fail
        return type("R", (), {"change_summary": {"create": 41}})()

    def up(self, **kwargs: Any) -> Any:
        self.calls.append(("up", kwargs))
        kwargs["on_output"]("Updating (prod)")
        if self.fail:
            raise self.fail
        return type("R", (), {"summary": _Summary()})()


def _drive(
    monkeypatch: pytest.MonkeyPatch, stack: _Stack, preview: bool, selected: list[Any]
) -> tuple[int, str, str]:
    import pulumi.automation as auto

    from meshc.compiler.deploy import deploy as deploy_module

    monkeypatch.setattr(deploy_module.shutil, "which", lambda name: "/usr/local/bin/pulumi")

    def select_stack(**kwargs: Any) -> _Stack:
        selected.append(kwargs)
        return stack

    monkeypatch.setattr(auto, "select_stack", select_stack)
    out, err = io.StringIO(), io.StringIO()
    code = deploy_module.deploy("prod", preview=preview, cwd=REPO / "stacks", message="m", out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("preview", [True, False])
def test_drives_preview_and_up_in_the_project_directory(
    monkeypatch: pytest.MonkeyPatch, preview: bool
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    selected: list[Any] = []
    code, out, err = _drive(monkeypatch, _Stack(calls), preview, selected)
    assert code == 0, err
    assert selected == [{"stack_name": "prod", "work_dir": str(REPO)}]  # found upwards from stacks/
    assert [c[0] for c in calls] == ["preview" if preview else "up"]
    assert calls[0][1]["message"] == "m"
    assert ("Previewing" if preview else "Updating") in out
    assert "create 41" in err


def test_a_failed_update_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.automation.errors import CommandError

    class Result:
        stderr = "error: update failed"
        stdout = ""
        code = 255

        def __str__(self) -> str:
            return "code: 255\n stderr: error: update failed"

    calls: list[tuple[str, dict[str, Any]]] = []
    code, _, err = _drive(monkeypatch, _Stack(calls, CommandError(Result())), False, [])  # type: ignore[arg-type]
    assert code == 1
    assert "`pulumi up` of stack 'prod' failed" in err


def test_missing_stack_and_missing_login_are_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi.automation as auto
    from pulumi.automation.errors import CommandError, StackNotFoundError

    from meshc.compiler.deploy import deploy as deploy_module

    class Result:
        def __init__(self, stderr: str) -> None:
            self.stderr, self.stdout, self.code = stderr, "", 255

        def __str__(self) -> str:
            return self.stderr

    monkeypatch.setattr(deploy_module.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    for error, expected in (
        (StackNotFoundError(Result("no stack named 'prod' found")), "pulumi stack init prod"),  # type: ignore[arg-type]
        (CommandError(Result("error: PULUMI_ACCESS_TOKEN must be set for login")), "pulumi login --local"),  # type: ignore[arg-type]
    ):

        def select_stack(error: Exception = error, **kwargs: Any) -> Any:
            raise error

        monkeypatch.setattr(auto, "select_stack", select_stack)
        err = io.StringIO()
        code = deploy_module.deploy("prod", preview=True, cwd=REPO, out=io.StringIO(), err=err)
        assert code == 2
        assert expected in err.getvalue()


def test_outside_a_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from meshc.compiler.deploy import deploy as deploy_module

    monkeypatch.setattr(deploy_module.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    err = io.StringIO()
    assert deploy_module.deploy("prod", preview=True, cwd=tmp_path, out=io.StringIO(), err=err) == 2
    assert "no Pulumi.yaml" in err.getvalue()
