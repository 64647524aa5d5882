"""`meshc deploy`: `pulumi up` / `pulumi preview` through the Pulumi Automation API.

The Automation API drives the Pulumi CLI: without the `pulumi` binary on PATH there is nothing to
drive, and the command says how to install it and log in instead of failing somewhere inside.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from ..exits import EXIT_INVALID as EXIT_FAILED
from ..exits import EXIT_OK, EXIT_USAGE
from .mockrun import ProjectError, find_project

INSTALL_HINT = """\
meshc: error: `meshc deploy` needs the Pulumi CLI, and `pulumi` is not on PATH.
  1. install it: https://www.pulumi.com/docs/install/ (e.g. `curl -fsSL https://get.pulumi.com | sh`)
  2. log in to a state backend: `pulumi login --local` keeps the state on this machine (~/.pulumi);
     `pulumi login` uses Pulumi Cloud, `pulumi login s3://...` a bucket
  3. create the stack once: `pulumi stack init {stack}` (its config is Pulumi.{stack}.yaml)
Without the CLI, `meshc plan --stack {stack}` shows offline what the program would register."""

LOGIN_HINT = """\
meshc: error: the Pulumi CLI is not logged in to a state backend.
  log in first: `pulumi login --local` (state on this machine), or `pulumi login` / `pulumi login <url>`"""

STACK_HINT = """\
meshc: error: the stack {stack!r} does not exist in the backend you are logged in to.
  create it once: `pulumi stack init {stack}` (in {directory}); its config is read from Pulumi.{stack}.yaml"""


def _stderr_of(exc: Exception) -> str:
    return str(getattr(exc, "stderr", "") or exc)


def deploy(
    stack: str,
    *,
    preview: bool,
    cwd: Path | None = None,
    message: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if shutil.which("pulumi") is None:
        print(INSTALL_HINT.format(stack=stack), file=err)
        return EXIT_USAGE
    try:
        directory = find_project(cwd or Path.cwd())
    except ProjectError as exc:
        print(f"meshc: error: {exc}", file=err)
        return EXIT_USAGE

    from pulumi import automation as auto

    def echo(line: str) -> None:
        out.write(line if line.endswith("\n") else line + "\n")
        out.flush()

    try:
        target = auto.select_stack(stack_name=stack, work_dir=str(directory))
    except auto.errors.StackNotFoundError:
        print(STACK_HINT.format(stack=stack, directory=directory), file=err)
        return EXIT_USAGE
    except auto.errors.CommandError as exc:
        text = _stderr_of(exc)
        if "login" in text.lower() or "access token" in text.lower():
            print(LOGIN_HINT, file=err)
        else:
            print(f"meshc: error: selecting stack {stack!r} failed:\n{text}", file=err)
        return EXIT_USAGE
    except (FileNotFoundError, auto.errors.InvalidVersionError) as exc:
        print(f"meshc: error: the Pulumi CLI cannot be used: {exc}", file=err)
        return EXIT_USAGE
    verb = "preview" if preview else "up"
    try:
        if preview:
            result = target.preview(on_output=echo, message=message)
            changes = ", ".join(f"{op} {n}" for op, n in sorted(result.change_summary.items()))
            print(f"meshc: preview of {stack!r} done: {changes or 'no changes'}", file=err)
        else:
            up = target.up(on_output=echo, message=message)
            changes = ", ".join(f"{op} {n}" for op, n in sorted((up.summary.resource_changes or {}).items()))
            print(f"meshc: update of {stack!r} {up.summary.result}: {changes or 'no changes'}", file=err)
    except auto.errors.CommandError as exc:
        print(
            f"meshc: error: `pulumi {verb}` of stack {stack!r} failed (see Pulumi's output above)", file=err
        )
        detail = _stderr_of(exc).strip()
        if detail:
            print(detail, file=err)
        return EXIT_FAILED
    return EXIT_OK
