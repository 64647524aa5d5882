"""The `plan` and `deploy` commands (registered into `meshc` by `meshc.compiler.cli`).

This module is imported by every `meshc` command, `meshc validate` included: it builds parsers and
nothing else. Pulumi is imported only inside the handlers, by `mockrun` and `deploy`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..exits import EXIT_BUG, EXIT_OK, EXIT_USAGE

STACK_NAME = re.compile(r"^(?:[A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")

PLAN_EPILOG = """\
An offline plan: the stack's Pulumi program runs under the Pulumi SDK's mock engine with the config
from Pulumi.<stack>.yaml. It needs neither the Pulumi CLI nor a cluster, and it is not a diff against
live state (use `pulumi preview` or `meshc deploy --preview` for that).

examples:
  meshc plan --stack prod
  meshc plan --stack prod --format json | jq '.resources | length'
  pulumi stack output --stack prod --json > prev.json && meshc plan --stack prod --previous prev.json

exit codes: 0 planned, 1 the spec has errors, 2 bad stack config or usage, 3 meshc bug
"""

DEPLOY_EPILOG = """\
Runs `pulumi preview` (--preview) or `pulumi up` for the stack through the Pulumi Automation API, in
the project directory (the one holding Pulumi.yaml). Needs the Pulumi CLI on PATH and a backend
you are logged in to (`pulumi login --local` keeps state on this machine).

examples:
  meshc deploy --stack dev --preview
  meshc deploy --stack prod -m "roll out reviews v2"

exit codes: 0 done, 1 the preview/update failed (see Pulumi's output), 2 usage or environment
(no Pulumi CLI, not logged in, no such stack)
"""


def _stack_name(value: str) -> str:
    if not STACK_NAME.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a stack name (letters, digits, '-', '_', '.')")
    return value


def _add_cwd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-C",
        "--cwd",
        type=Path,
        metavar="DIR",
        help="run as if started in DIR (Pulumi.yaml is searched upwards)",
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plan",
        help="show offline what the stack's Pulumi program registers (no CLI, no cluster)",
        description="Print, per cluster, the tree of resources the stack's Pulumi program registers "
        "(type, logical name, provider, dependencies) and its outputs.",
        epilog=PLAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--stack",
        "-s",
        type=_stack_name,
        help="stack name (Pulumi.<stack>.yaml); required when several exist",
    )
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="plan as text (default) or JSON"
    )
    p.add_argument(
        "--config-file",
        type=Path,
        metavar="FILE",
        help="use this stack config file instead of Pulumi.<stack>.yaml",
    )
    p.add_argument(
        "--previous",
        metavar="FILE",
        help="the stack's outputs from its last deployment (`pulumi stack output --json`, - for stdin), "
        "for make-before-break ordering",
    )
    _add_cwd(p)
    p.set_defaults(handler=cmd_plan)

    d = subparsers.add_parser(
        "deploy",
        help="run `pulumi up` (or `pulumi preview`) for a stack through the Automation API",
        description="Deploy a stack with the Pulumi CLI, driven through the Pulumi Automation API.",
        epilog=DEPLOY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--stack", "-s", type=_stack_name, required=True, help="stack to deploy")
    d.add_argument("--preview", action="store_true", help="only preview the changes (`pulumi preview`)")
    d.add_argument("--message", "-m", help="message for the update in the stack's history")
    _add_cwd(d)
    d.set_defaults(handler=cmd_deploy)


def _error(message: str) -> int:
    print(f"meshc: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _default_stack(directory: Path) -> str | None:
    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))
    return stacks[0] if len(stacks) == 1 else None


def _read_previous(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        text = sys.stdin.read() if value == "-" else Path(value).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise ValueError(f"--previous {value}: {exc.strerror}") from None
    except ValueError:
        raise ValueError(
            f"--previous {value}: not JSON (expected the output of `pulumi stack output --json`)"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"--previous {value}: expected a JSON object of stack outputs")
    return data


def cmd_plan(args: argparse.Namespace) -> int:
    from .mockrun import ProjectError, find_project, load_project, run_program, stack_config
    from .plan import render_json, render_text

    try:
        directory = find_project(args.cwd or Path.cwd())
        project = load_project(directory)
        stack = args.stack or _default_stack(directory)
        if stack is None:
            return _error("several stacks (or none) here: pass --stack NAME")
        stack = stack.rsplit("/", 1)[-1]
        config, notes = stack_config(project, stack, args.config_file)
        previous = _read_previous(args.previous)
    except (ProjectError, ValueError) as exc:
        return _error(str(exc))
    run = run_program(project, stack, config, previous_outputs=previous)
    run.notes[:0] = notes
    if args.format == "json":
        sys.stdout.write(render_json(run, directory, previous is not None))
    for note in run.notes:
        if note.startswith("Traceback"):
            if os.environ.get("MESHC_DEBUG"):
                print(note, file=sys.stderr)
        else:
            print(f"note: {note}", file=sys.stderr)
    if args.format == "text":
        for severity, message in run.logs:
            print(f"{severity}: {message}", file=sys.stderr)
    if run.exit_code != EXIT_OK:
        print(run.error or "meshc: the program failed", file=sys.stderr)
        if run.exit_code == EXIT_BUG and not os.environ.get("MESHC_DEBUG"):
            print("  rerun with MESHC_DEBUG=1 for the traceback to attach to a report", file=sys.stderr)
        return run.exit_code
    if args.format == "text":
        sys.stdout.write(render_text(run, directory, previous is not None))
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import deploy

    return deploy(args.stack, preview=args.preview, cwd=args.cwd, message=args.message)
