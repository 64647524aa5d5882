"""How the program stops: `pulumi.RunError` subclasses, so `pulumi up` prints the message and no
traceback, and `meshc plan` can tell a config problem from a spec problem from a meshc bug."""

from __future__ import annotations

import pulumi


class MeshcStackError(pulumi.RunError):
    """The program stopped before registering anything; the problems were logged one per line."""

    exit_code = 3

    def __init__(self, summary: str, problems: list[str] | None = None) -> None:
        super().__init__(summary)
        self.problems = problems or []


class StackConfigInvalid(MeshcStackError):
    """The stack config (Pulumi.<stack>.yaml) is wrong: a usage problem (meshc exit code 2)."""

    exit_code = 2


class SpecInvalid(MeshcStackError):
    """The spec has errors (meshc exit code 1)."""

    exit_code = 1


class CompilerBugError(MeshcStackError):
    """The compiled output failed meshc's self-check: a bug in meshc (exit code 3)."""

    exit_code = 3
