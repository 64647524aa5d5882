"""`meshc diff`, `meshc graph` and `meshc publish`, registered into the main CLI by `register`.

Exit codes follow `meshc.compiler.cli`: 0 ok, 1 spec errors (or `--fail-on risk` with risks), 2 usage or
environment (bad ref, not a repository, missing Graphviz, lost publish race), 3 meshc bug (raised
from here as `CompilerBug` or any other exception, and reported by `meshc.compiler.cli.main`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshc.spec.diagnostics import Diagnostic, SpecError

from ..exits import EXIT_INVALID, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from ..pipeline import Checked
    from .report import RevisionInvalid

# GitPython, Graphviz and the renderers are imported by the commands that use them: registering
# these commands must cost nothing to `meshc validate`, and must work where git is not installed.

DIFF_EPILOG = """\
The head defaults to the working tree (the files on disk, committed or not), so that
`meshc diff SPEC --base main` answers "what does my change do?". In CI, the checkout of the pull
request is the working tree; pass --head REF to compare two commits without looking at the disk.
Every revision is read from git's object store: the working tree, the index and HEAD are never
changed.

A spec that does not exist at the base (added by the change) is compared with an empty mesh, and
so is a spec deleted at the head. When the base does not compile, its errors are reported (file
names carry `@REF`) and the exit code is 1: a diff against a broken base would be wrong in ways a
reviewer cannot see. --allow-invalid-base compares the head with an empty mesh instead, saying so.

examples:
  meshc diff examples/shop/mesh.yaml --base main
  meshc diff mesh/ --base origin/main --head HEAD --format markdown > comment.md
  meshc diff mesh.yaml --base v1.2.0 --base-path old/mesh.yaml   # the spec was moved since
  meshc diff mesh.yaml --base origin/main --format json --fail-on risk

exit codes: 0 compared, 1 a revision has spec errors or --fail-on risk found risks,
2 usage/environment (not a repository, unknown ref, ...), 3 meshc bug
"""

GRAPH_EPILOG = """\
examples:
  meshc graph examples/bookinfo/mesh.yaml                    # Mermaid on stdout
  meshc graph mesh.yaml --format svg -o mesh.svg             # through Graphviz `dot`
  meshc graph mesh.yaml --ref origin/main --format dot | dot -Tpng > main.png
"""

PUBLISH_EPILOG = """\
Commits the compiled manifests (the layout of `meshc compile -o DIR`) to BRANCH with git plumbing,
never touching the working tree, the index or the checked-out branch. No commit is made when the
branch already holds exactly these files. The message names the source commit (HEAD of the
spec's repository, marked dirty when the spec has uncommitted changes) and the spec's digest.
In CI (CI=true in the environment) a spec with uncommitted changes is refused (exit 2) unless
--allow-dirty is given, so a rendered branch always matches the commit it names.
Two publishers racing for the branch cannot overwrite each other: the branch is moved with a
compare-and-swap and the loser retries on the new tip (--retries times) or fails with exit 2.

examples:
  meshc publish mesh.yaml --branch rendered/prod
  meshc publish mesh.yaml --branch rendered/prod --ref HEAD      # the committed spec only
  meshc publish mesh.yaml --branch rendered/prod --repo ../deploy-repo --format json
"""


def _git_guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report a missing git as an environment problem (exit 2), wherever GitPython first needs it."""

    @functools.wraps(handler)
    def guarded(args: argparse.Namespace) -> int:
        from .gitsource import GIT_MISSING, GitMissing

        try:
            return handler(args)
        except GitMissing:
            return _error(GIT_MISSING)

    return guarded


def _open_repo(spec: str, repo: str | None) -> Any:
    from .gitsource import open_repo

    return open_repo(spec, repo)


def _error(message: str) -> int:
    print(f"meshc: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _print_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    for d in diagnostics:
        print(d.format(), file=sys.stderr)


def _write_output(text: str | bytes, output: str | None) -> int:
    if output in (None, "-"):
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
            sys.stdout.flush()
        else:
            sys.stdout.write(text)
        return EXIT_OK
    assert output is not None
    path = Path(output)
    try:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _error(f"{output}: cannot write: {exc.strerror}")
    return EXIT_OK


# --- diff -------------------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    from .gitsource import GitSourceError, read_revision, read_worktree, repo_relative
    from .render import render_json, render_markdown, render_text, use_color
    from .report import RevisionInvalid, compare

    try:
        repo = _open_repo(args.spec, args.repo)
        path = repo_relative(repo, args.spec)
        base_path = repo_relative(repo, args.base_path) if args.base_path else path
        if args.head is not None:
            head = read_revision(repo, args.head, path)
        elif repo.bare:
            return _error(f"{repo.git_dir} is a bare repository: it has no working tree; pass --head REF")
        else:
            head = read_worktree(args.spec, repo.working_tree_dir)
        base = read_revision(repo, args.base, base_path)
        if args.overlay:  # each side with the overlay files as they are on that side
            overlays = [repo_relative(repo, o) for o in args.overlay]
            on_head = [
                read_revision(repo, args.head, o)
                if args.head is not None
                else read_worktree(given, repo.working_tree_dir)
                for o, given in zip(overlays, args.overlay, strict=True)
            ]
            head = dataclasses.replace(head, overlays=tuple(on_head))
            base = dataclasses.replace(
                base, overlays=tuple(read_revision(repo, args.base, o) for o in overlays)
            )
    except GitSourceError as exc:
        return _error(str(exc))
    except SpecError as exc:  # a spec directory without spec files
        _print_diagnostics(exc.diagnostics)
        return EXIT_USAGE
    if not base.exists and not head.exists:
        return _error(
            f"{args.spec}: the spec exists neither at {base.label} ({base_path or '.'}) nor at {head.label}"
        )
    spec_name = path if base_path == path else f"{base_path} → {path}"
    try:
        report = compare(spec_name or ".", base, head, allow_invalid_base=args.allow_invalid_base)
    except RevisionInvalid as exc:
        return _report_invalid(exc)
    if report.base_invalid:
        print(
            f"meshc: warning: the base ({base.label}) does not compile; "
            "comparing the head with an empty mesh:",
            file=sys.stderr,
        )
        _print_diagnostics(report.base_invalid)
    _print_diagnostics(report.warnings)
    if args.format == "json":
        text = render_json(report)
    elif args.format == "markdown":
        text = render_markdown(report)
    else:
        color = args.output in (None, "-") and use_color(sys.stdout)
        text = render_text(report, color=color)
    status = _write_output(text, args.output)
    if status != EXIT_OK:
        return status
    if args.fail_on == "risk" and report.has_risks:
        n = len(report.intent.risks)
        print(f"meshc: {n} risk{'s' if n != 1 else ''} found (--fail-on risk)", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _report_invalid(exc: RevisionInvalid) -> int:
    n = sum(1 for d in exc.diagnostics if d.severity == "error")
    what = "the base" if exc.side == "base" else "the head"
    print(
        f"meshc: error: the spec at {what} ({exc.revision.label}) does not compile "
        f"({n} error{'s' if n != 1 else ''}):",
        file=sys.stderr,
    )
    _print_diagnostics(exc.diagnostics)
    if exc.side == "base" and not exc.usage:
        print(
            "  hint: fix the base first, or pass --allow-invalid-base to compare the head with an empty mesh",
            file=sys.stderr,
        )
    return EXIT_USAGE if exc.usage else EXIT_INVALID


# --- graph ------------------------------------------------------------------------------------------


def _compile_for_graph(args: argparse.Namespace) -> Checked:
    """Drawing needs the checked model, not the lowered resources: parse and check only."""
    from ..gcpause import gc_paused
    from ..pipeline import check, parse
    from .gitsource import GitSourceError, read_revision, repo_relative

    if args.ref is None:
        with gc_paused():
            return check(parse(args.spec, overlays=args.overlay))
    repo = _open_repo(args.spec, args.repo)
    revision = read_revision(repo, args.ref, repo_relative(repo, args.spec))
    if revision.sources is None:
        raise GitSourceError(f"{args.spec}: does not exist at {revision.label}")
    overlays = [read_revision(repo, args.ref, repo_relative(repo, o)) for o in args.overlay]
    with gc_paused():
        return check(parse(revision.path, loaded=revision.load(overlays)))


def cmd_graph(args: argparse.Namespace) -> int:
    from . import dot, mermaid
    from .gitsource import GitSourceError
    from .graph import build_graph
    from .view import build_view

    try:
        c = _compile_for_graph(args)
    except GitSourceError as exc:
        return _error(str(exc))
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return EXIT_USAGE if exc.usage else EXIT_INVALID
    _print_diagnostics(c.diagnostics)
    graph = build_graph(build_view(c.index))
    source = (
        dot.render(graph, name=c.index.name)
        if args.format in ("dot", "svg", "png")
        else mermaid.render(graph)
    )
    if args.format in ("svg", "png"):
        if args.output in (None, "-") and args.format == "png" and sys.stdout.isatty():
            return _error("refusing to write PNG to a terminal; pass -o FILE")
        try:
            image = dot.to_image(source, args.format)
        except dot.GraphvizMissing as exc:
            return _error(str(exc))
        return _write_output(image, args.output)
    return _write_output(source, args.output)


# --- publish ----------------------------------------------------------------------------------------


def cmd_publish(args: argparse.Namespace) -> int:
    from ..pipeline import run
    from .gitsource import (
        GitSourceError,
        dirty_paths,
        head_commit,
        read_revision,
        read_worktree,
        repo_relative,
    )
    from .publish import Provenance, PublishError, commit_message, manifest_files, publish

    try:
        target = _open_repo(args.spec, args.repo)
        try:
            source_repo = _open_repo(args.spec, None) if args.repo is not None else target
        except GitSourceError:
            source_repo = target  # the spec lives inside --repo (e.g. a bare repository)
        path = repo_relative(source_repo, args.spec)
        if args.ref is not None:
            revision = read_revision(source_repo, args.ref, path)
            source_commit, dirty = revision.commit, False
        elif source_repo.bare:
            return _error(
                f"{source_repo.git_dir} is a bare repository: pass --ref REF to say which commit to publish"
            )
        else:
            revision = read_worktree(args.spec, source_repo.working_tree_dir)
            changed = dirty_paths(source_repo, path)
            source_commit, dirty = head_commit(source_repo), bool(changed)
            if dirty and _in_ci() and not args.allow_dirty:
                return _error(_dirty_refusal(args.spec, changed))
        if revision.sources is None:
            where = f"at {revision.label}" if args.ref is not None else "on disk"
            return _error(f"{args.spec}: no such file or directory {where}")
    except GitSourceError as exc:
        return _error(str(exc))
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return EXIT_USAGE
    try:
        c = run(revision.path, loaded=revision.load())
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics)
        return EXIT_USAGE if exc.usage else EXIT_INVALID
    _print_diagnostics(c.diagnostics)
    provenance = Provenance(path or ".", revision.digest() or "", source_commit, dirty)
    message = commit_message(provenance, len(c.manifests), args.message)
    try:
        result = publish(target, args.branch, manifest_files(c.manifests), message, retries=args.retries)
    except PublishError as exc:
        return _error(str(exc))
    result.resources = len(c.manifests)
    result.provenance = provenance
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    elif result.changed:
        verb = "created" if result.created else "updated"
        print(
            f"meshc: {verb} {result.branch} at {result.commit[:12]}: {result.added} added, {result.modified} "
            f"modified, {result.removed} removed files; source {provenance.describe()}",
            file=sys.stderr,
        )
    else:
        print(
            f"meshc: {result.branch} is up to date at {result.commit[:12]}; no commit made", file=sys.stderr
        )
    return EXIT_OK


DIRTY_PATHS_SHOWN = 3


def _in_ci() -> bool:
    """CI systems (GitHub Actions, GitLab, Buildkite, ...) set CI=true."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _dirty_refusal(spec: str, paths: Sequence[str]) -> str:
    shown = ", ".join(repr(p) if not p.isprintable() else p for p in paths[:DIRTY_PATHS_SHOWN])
    more = f" and {len(paths) - DIRTY_PATHS_SHOWN} more" if len(paths) > DIRTY_PATHS_SHOWN else ""
    return (
        f"{spec}: uncommitted changes ({shown}{more}); in CI (CI=true) publish renders committed specs "
        "only, so the branch always matches its Source-Commit: commit them, publish a commit with "
        "--ref REF, or pass --allow-dirty"
    )


# --- registration -----------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    from ..cli import add_overlay_option  # registered from `meshc.compiler.cli`, already imported

    formatter = argparse.RawDescriptionHelpFormatter
    d = subparsers.add_parser(
        "diff",
        help="what a change does to a spec: intent, risks, resources and a picture, between git revisions",
        description="Compare a spec at two git revisions (or a revision and the working tree): the intent\n"
        "changes (edges, traffic, public routes, egress, security), the risks among them, the compiled\n"
        "resources that change field by field, and a Mermaid diagram of the changed graph.",
        epilog=DIFF_EPILOG,
        formatter_class=formatter,
    )
    d.add_argument("spec", help="spec file or directory (a path in the working tree, or in the repository)")
    d.add_argument(
        "--base", required=True, metavar="REF", help="the revision to compare against (e.g. origin/main)"
    )
    heads = d.add_mutually_exclusive_group()
    heads.add_argument("--head", metavar="REF", help="the revision under review (default: the working tree)")
    heads.add_argument(
        "--worktree",
        action="store_true",
        help="compare with the files on disk, committed or not (the default)",
    )
    d.add_argument(
        "--base-path",
        metavar="PATH",
        help="the spec's path at the base, when the change moved or renamed it (default: SPEC)",
    )
    d.add_argument(
        "--repo", metavar="PATH", help="the git repository (default: the one holding SPEC; may be bare)"
    )
    add_overlay_option(d)
    d.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text for terminals (default), markdown for a PR comment, json for bots",
    )
    d.add_argument(
        "--fail-on", choices=("risk",), help="exit 1 when the change has risks (for a required review)"
    )
    d.add_argument(
        "--allow-invalid-base",
        action="store_true",
        help="when the base does not compile, compare the head with an empty mesh instead of failing",
    )
    d.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    d.set_defaults(handler=_git_guard(cmd_diff))

    g = subparsers.add_parser(
        "graph",
        help="draw the service graph (Mermaid, DOT, SVG or PNG)",
        description="Draw the service graph: services grouped by namespace (and cluster), edges labelled\n"
        "with their protocol, versions with their weights, gateways and egress as their own shapes.\n"
        "SVG and PNG need Graphviz (`dot`).",
        epilog=GRAPH_EPILOG,
        formatter_class=formatter,
    )
    g.add_argument("spec", help="spec file or directory")
    g.add_argument("--format", choices=("mermaid", "dot", "svg", "png"), default="mermaid")
    g.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    g.add_argument(
        "--ref", metavar="REF", help="draw the spec as committed at REF instead of the working tree"
    )
    g.add_argument(
        "--repo", metavar="PATH", help="the git repository for --ref (default: the one holding SPEC)"
    )
    add_overlay_option(g)
    g.set_defaults(handler=_git_guard(cmd_graph))

    p = subparsers.add_parser(
        "publish",
        help="commit the compiled manifests to a branch (rendered-manifests pattern, for Argo CD / Flux)",
        description="Compile the spec and commit the manifests to a branch of a git repository.",
        epilog=PUBLISH_EPILOG,
        formatter_class=formatter,
    )
    p.add_argument("spec", help="spec file or directory")
    p.add_argument(
        "--branch", required=True, metavar="BRANCH", help="the branch to commit to, e.g. rendered/prod"
    )
    p.add_argument(
        "--repo",
        metavar="PATH",
        help="the repository that holds BRANCH (default: the spec's repository; may be bare)",
    )
    p.add_argument(
        "--ref",
        metavar="REF",
        help="publish the spec as committed at REF (default: the working tree, marked dirty if changed)",
    )
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="in CI (CI=true), publish even when the spec has uncommitted changes (refused by default)",
    )
    p.add_argument(
        "-m", "--message", metavar="TEXT", help="commit subject (provenance trailers are always added)"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="attempts after losing a race for the branch (default: 5)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="a summary on stderr (default), or the result as JSON on stdout",
    )
    p.set_defaults(handler=_git_guard(cmd_publish))


__all__ = ["cmd_diff", "cmd_graph", "cmd_publish", "register"]
