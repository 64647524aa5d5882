"""`meshc`: a thin command line over the library. Exit codes are part of the interface:

0  the spec is valid (warnings allowed) / the command succeeded
1  the spec has errors (or warnings under --strict)
2  usage or environment problem (bad arguments, missing file, unwritable output, missing tool)
3  internal error: meshc produced output that failed its own self-check, or crashed (a meshc bug)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from meshc.spec.diagnostics import Diagnostic, SpecError

from . import lifetime
from .exits import EXIT_BUG, EXIT_INVALID, EXIT_OK, EXIT_USAGE, CompilerBug
from .gcpause import gc_paused

# The compiler itself (pipeline, emit, the models) is imported by the commands that use it, after
# `_reading_ahead` has forked the child that parses a big spec: both then run side by side.
if TYPE_CHECKING:
    from meshc.spec.loaded import LoadedSpec

    from .buildcache import BuildCache
    from .pipeline import Compilation
    from .readahead import ReadAhead

EPILOG = """\
examples:
  meshc validate examples/bookinfo/mesh.yaml
  meshc validate mesh.yaml --format json --strict     # for CI bots: warnings fail too
  meshc compile examples/bookinfo/mesh.yaml -o out/   # one file per resource: out/<ns>/<kind>-<name>.yaml
  meshc compile mesh.yaml | kubectl apply --dry-run=server -f -   # one YAML stream, like helm template
  meshc diff mesh.yaml --base origin/main --format markdown   # what a PR changes, with risks
  meshc graph mesh.yaml --format svg -o mesh.svg      # the service graph
  meshc publish mesh.yaml --branch rendered/prod      # commit rendered manifests for Argo CD/Flux
  meshc plan --stack dev                              # offline: what `pulumi up` would register
  meshc verify mesh.yaml                              # probe the output: declared edges only
  meshc can-i mesh.yaml --from api --to cart --method DELETE
  meshc mesh-config mesh.yaml > providers.yaml        # meshConfig.extensionProviders for the Telemetry
  meshc rules                                         # the rule catalogue
  meshc schema > mesh.schema.json                     # JSON Schema for editors
  meshc init my-mesh                                  # a new repository: spec, Pulumi project, CI

exit codes: 0 valid, 1 spec has errors, 2 usage/environment problem, 3 meshc bug
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="diagnostics as text (default) or JSON"
    )


class _VersionAction(argparse.Action):
    """`--version`, with the version looked up only when asked for (the package metadata lookup
    is not free, and every other command would pay for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        sys.stdout.write(meshc_version_line() + "\n")
        parser.exit(EXIT_OK)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given `argv` naming one of the built-in commands, without the
    extension command groups (their modules are then not imported: see `_extensions`)."""
    parser = _Parser(
        prog="meshc",
        description="meshc compiles a service-graph spec into the Istio and Kubernetes resources "
        "that make it real.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print meshc's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser(
        "validate",
        help="check a spec: structure, semantic rules and the compiled output",
        description="Check a spec file (or a directory of spec files) and report every problem as "
        "file:LINE:COL: severity CODE: message.",
    )
    v.add_argument("spec", help="spec file or directory")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    v.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="DIR",
        help="CUE policy file or directory to unify the spec with (repeatable), e.g. examples/policies",
    )
    add_overlay_option(v)
    _add_no_cache(v)
    _add_format(v)

    c = sub.add_parser(
        "compile",
        help="compile a spec into Kubernetes/Istio YAML",
        description="Compile a spec. Without -o (or with `-o -`) prints one YAML stream to stdout, "
        "as `helm template` does; `-o DIR` writes one YAML file per resource under DIR "
        "(<namespace>/<kind>-<name>.yaml), replacing DIR only when everything succeeded. "
        "A summary goes to stderr.",
    )
    c.add_argument("spec", help="spec file or directory")
    c.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="DIR",
        help="output directory, or - for stdout (default: - (stdout))",
    )
    c.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    c.add_argument("--timings", action="store_true", help="print per-stage timings to stderr")
    _add_no_cache(c)
    add_overlay_option(c)
    _add_format(c)

    s = sub.add_parser("schema", help="print the spec's JSON Schema")
    s.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from the generated schema")

    r = sub.add_parser("rules", help="list the semantic rules")
    r.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    sub.add_parser("version", help="print versions of meshc and the tools it uses")
    for name, handler in COMMANDS.items():
        sub.choices[name].set_defaults(handler=handler)
    if _command_in(argv) not in COMMANDS:
        for extension in _extensions():
            extension.register(sub)
    return parser


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The command word of `argv` (its first argument not an option), if it has one."""
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), None)


EXTENSION_MODULES = (
    "meshc.compiler.review.cli",
    "meshc.compiler.deploy.cli",
    "meshc.compiler.verify.cli",
    "meshc.compiler.inject.cli",
    "meshc.compiler.scaffold.cli",
    "meshc.compiler.meshconfig",
)
"""Command groups that live in their own packages; each module has `register(subparsers)`, which
adds its parsers with `set_defaults(handler=...)`. A missing module simply adds no commands."""


def _extensions() -> list[Any]:
    import importlib

    found = []
    for name in EXTENSION_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    return found


def _emit_diagnostics(
    diagnostics: Sequence[Diagnostic], fmt: str, out: TextIO, extra: dict[str, Any] | None = None
) -> None:
    if fmt == "json":
        errors = sum(1 for d in diagnostics if d.severity == "error")
        payload = {
            "diagnostics": [d.to_json() for d in diagnostics],
            "errors": errors,
            "warnings": len(diagnostics) - errors,
            **(extra or {}),
        }
        out.write(json.dumps(payload, indent=2) + "\n")
        return
    for d in diagnostics:
        out.write(d.format() + "\n")


def add_overlay_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="YAML overlay merged onto the spec by name, e.g. env/prod.yaml (repeatable, applied in "
        "order; YAML specs only; see docs/overlays.md)",
    )


def _progress(enabled: bool) -> Callable[[str], None] | None:
    if not enabled:
        return None
    labels = {
        "load": "loading",
        "check_structure": "checking structure",
        "check_semantics": "checking rules",
        "check_policies": "checking policies",
        "lower_resources": "compiling",
        "self_check": "self-checking output",
        "verify_output": "verifying behaviour",
        "write": "writing",
    }

    def show(stage: str) -> None:
        sys.stderr.write(f"\r\033[Kmeshc: {labels.get(stage, stage)}…")
        sys.stderr.flush()

    return show


def _clear_progress(enabled: bool) -> None:
    if enabled:
        sys.stderr.write("\r\033[K")


def _run(
    spec: str,
    strict: bool,
    policies: Sequence[str] = (),
    *,
    schemas: bool = True,
    overlays: Sequence[Path] = (),
    cache: BuildCache | None = None,
    output: Path | None = None,
    loaded: LoadedSpec | None = None,
) -> Compilation:
    from . import parallel

    interactive = sys.stderr.isatty()
    try:
        c = parallel.run(
            spec,
            loaded=loaded,
            strict=strict,
            schemas=schemas,
            overlays=overlays,
            cache=cache,
            output=output,
            progress=_progress(interactive),
            policies=tuple(Path(p) for p in policies),
        )
        lifetime.keep(c)  # freed with the process, not object by object (`lifetime`)
        return c
    finally:
        _clear_progress(interactive)


def _add_no_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither use nor write the build cache (docs/performance.md; MESHC_CACHE_DIR= does the same)",
    )


def _open_cache(args: argparse.Namespace) -> BuildCache:
    """The spec's build cache (off with --no-cache); why a pack on disk was ignored goes to stderr."""
    from .buildcache import open_cache

    cache = open_cache(args.spec, args.overlay, enabled=not args.no_cache)
    lifetime.keep(cache)
    for warning in cache.warnings:
        print(warning, file=sys.stderr)
    return cache


def cmd_validate(args: argparse.Namespace) -> int:
    # The build cache spares the self-check of every compiled object an earlier compile or
    # validation already checked: on each save in an editor only what the edit changed is checked
    # (and the self-check's modules are not even imported when nothing changed).
    with _reading_ahead(args) as ahead:
        return _validate(args, ahead)


def _validate(args: argparse.Namespace, ahead: ReadAhead | None) -> int:
    cache = _open_cache(args)
    active = cache if cache.path is not None else None
    try:
        loaded = None
        if ahead is not None:
            from .pipeline import warm_up

            warm_up(ahead.ready)  # while the child still parses
            loaded = ahead.load()
        c = _run(args.spec, args.strict, args.policy, overlays=args.overlay, cache=active, loaded=loaded)
    except SpecError as exc:
        _emit_diagnostics(
            exc.diagnostics,
            args.format,
            sys.stdout if args.format == "json" else sys.stderr,
            {"valid": False},
        )
        return EXIT_USAGE if exc.usage else EXIT_INVALID
    if args.format == "json":
        _emit_diagnostics(c.diagnostics, "json", sys.stdout, {"valid": True, "resources": c.counts()})
    else:
        _emit_diagnostics(c.diagnostics, "text", sys.stderr)
        warnings = len(c.diagnostics)
        note = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        print(f"{args.spec}: valid{note}; compiles to {len(c.manifests)} resources", file=sys.stderr)
    if active is not None:
        # What a compile to a stream would save: the texts stand for "rendered and self-checked".
        from .emit import dump

        cache.save_stream([cache.known(i) or dump(m.body) for i, m in enumerate(c.manifests)])
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    # One pause of the cyclic GC for compile and write: re-enabling it in between would make it
    # scan the whole compiled mesh once (~0.5 s at 10,000 services) for no garbage.
    with gc_paused():
        return _compile(args)


def _compile(args: argparse.Namespace) -> int:
    with _reading_ahead(args) as ahead:
        return _compile_with(args, ahead)


@contextmanager
def _reading_ahead(args: argparse.Namespace) -> Iterator[ReadAhead | None]:
    """A big spec file parsed by a forked child while this process imports the compiler and opens
    the build cache (`readahead`), reaped on the way out. Not with overlays, nor with `--no-cache`:
    the child also works out what the cache's keys are made of, and `--no-cache` is the compile
    without any of the cache's machinery (the yardstick of docs/performance.md's ratios)."""
    ahead = None
    if not args.overlay and not args.no_cache:
        from . import readahead

        ahead = readahead.start(args.spec)
    try:
        yield ahead
    finally:
        if ahead is not None:
            ahead.close()


def _compile_with(args: argparse.Namespace, ahead: ReadAhead | None) -> int:
    from . import parallel
    from .emit import OutputError, dump, dump_stream

    output = None if args.output == "-" else Path(args.output)
    if output is None and "stdout" in _closed_at_start:
        print("meshc: error: stdout is closed: there is nowhere to write the stream", file=sys.stderr)
        print("  hint: give stdout a file (> out.yaml) or write a directory with -o DIR", file=sys.stderr)
        return EXIT_USAGE
    start = time.perf_counter()
    cache = _open_cache(args)
    cache_load = time.perf_counter() - start
    active = cache if cache.path is not None else None  # off: no keys to compute, nothing to save
    # The previous tree listed in a forked child (parallel.scanning_early): from now on, or, while
    # a read-ahead child parses the spec, once it has parsed it (see below).
    load = warmed = 0.0
    with ExitStack() as listing:
        if ahead is None:
            listing.enter_context(parallel.scanning_early(active, output))
        try:
            loaded = None
            if ahead is not None:
                from .pipeline import warm_up

                start = time.perf_counter()
                warm_up(ahead.ready)  # while the child still parses
                warmed = time.perf_counter() - start
                start = time.perf_counter()
                # The listing (~0.25 s of CPU at 10,000 services) on the CPU the parse leaves idle
                # while this process validates the services: started beside the parse, it slowed
                # the parse, which this process then waited for.
                ahead.wait()
                listing.enter_context(parallel.scanning_early(active, output))
                loaded = ahead.load()
                load = time.perf_counter() - start
            # Written to a directory, the output is self-checked by the processes that write it, and
            # staged while the rules still run: swapped in once they accept the spec.
            c = _run(
                args.spec,
                args.strict,
                schemas=output is None,
                overlays=args.overlay,
                cache=active,
                output=output,
                loaded=loaded,
            )
        except OutputError as exc:
            _emit_diagnostics(exc.diagnostics, "text", sys.stderr)  # the accepted spec's warnings
            print(f"meshc: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except SpecError as exc:
            _emit_diagnostics(
                exc.diagnostics,
                args.format,
                sys.stderr if args.format == "text" or args.output == "-" else sys.stdout,
                {"written": 0},
            )
            return EXIT_USAGE if exc.usage else EXIT_INVALID
    _emit_diagnostics(c.diagnostics, "text", sys.stderr)
    ahead_timings = {"warm_up": warmed, "load": load} if ahead is not None else {}
    timings = {"cache_load": cache_load, **ahead_timings, **c.timings}
    if output is None:
        start = time.perf_counter()
        texts = [cache.known(i) or dump(m.body) for i, m in enumerate(c.manifests)]
        lifetime.keep(texts)
        timings["render"] = time.perf_counter() - start
        sys.stdout.write(dump_stream(c.manifests, texts))
        sys.stdout.flush()
        start = time.perf_counter()
        cache.save_stream(texts)
        timings["cache_save"] = time.perf_counter() - start
    counts = c.counts()
    where = "stdout" if args.output == "-" else args.output
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    print(f"meshc: wrote {len(c.manifests)} resources to {where}: {summary}", file=sys.stderr)
    if args.timings:
        for stage, seconds in timings.items():
            print(f"  {stage:<16} {seconds:8.3f}s", file=sys.stderr)
    if args.format == "json" and args.output != "-":
        _emit_diagnostics(
            c.diagnostics, "json", sys.stdout, {"written": len(c.manifests), "resources": counts}
        )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from meshc.spec.schema import schema_text

    text = schema_text()
    if args.check:
        try:
            current = Path(args.check).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"meshc: error: {args.check}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
        if current != text:
            print(
                f"{args.check}: out of date; regenerate with `meshc schema > {args.check}`", file=sys.stderr
            )
            return EXIT_INVALID
        return EXIT_OK
    sys.stdout.write(text)
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from .rules import RULES
    from .rules.docs import rules_markdown

    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "code": r.code,
                        "name": r.name,
                        "severity": r.severity,
                        "summary": r.summary,
                        "doc": r.doc,
                    }
                    for r in RULES
                ],
                indent=2,
            )
        )
    elif args.format == "markdown":
        sys.stdout.write(rules_markdown())
    else:
        for r in RULES:
            print(f"{r.code}  {r.severity:<7}  {r.name:<35} {r.summary}")
    return EXIT_OK


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def meshc_version_line() -> str:
    """The first line of `meshc version`, which is all `meshc --version` prints."""
    return f"meshc {_package_version('meshc')}"


def cmd_version(args: argparse.Namespace) -> int:
    from meshc.spec.cue import version as cue_version

    from .selfcheck.core import KUBERNETES_VERSION

    ver = _package_version
    print(meshc_version_line())
    print(f"output checked against: Istio 1.30.3 CRDs, Kubernetes {KUBERNETES_VERSION}")
    print(f"cue: {cue_version()}")
    for pkg in ("pydantic", "PyYAML", "yaml-rs", "jsonschema-rs", "cel-python", "kubernetes-validate"):
        print(f"{pkg} {ver(pkg)}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "compile": cmd_compile,
    "schema": cmd_schema,
    "rules": cmd_rules,
    "version": cmd_version,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except CompilerBug as bug:
        print(
            "meshc: internal error: the compiled output failed its self-check; nothing was written.",
            file=sys.stderr,
        )
        print(
            "This is a bug in meshc, not in your spec. Please report it with the spec attached.",
            file=sys.stderr,
        )
        for line in bug.problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_BUG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # a crash is a meshc bug: say so, keep the details for the report
        print("meshc: internal error (a bug in meshc); nothing was written.", file=sys.stderr)
        if os.environ.get("MESHC_DEBUG"):
            traceback.print_exc()
        else:
            print("  rerun with MESHC_DEBUG=1 for the traceback to attach to a report", file=sys.stderr)
        return EXIT_BUG


_closed_at_start: frozenset[str] = frozenset()
"""The standard streams the caller had closed (`meshc ... >&-`), opened on /dev/null by `entry`."""


def _open_closed_std_streams() -> frozenset[str]:
    """Open stdin, stdout or stderr on /dev/null when the caller closed it (`meshc ... >&-`).

    Python leaves `sys.stdout` None then: printing the summary or a diagnostic crashed (exit 3,
    or a traceback at the end), and the free descriptor could be taken by a file meshc opens and
    inherited by its tools (CUE, promtool, git) as their output. Returns the names of the
    streams that were closed."""
    closed = set()
    # The files opened here are the process's streams from now on: never closed by meshc.
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        closed.add(name)
        try:
            os.fstat(fd)
        except OSError:  # still free: /dev/null takes its number
            null = os.open(os.devnull, os.O_RDONLY if mode == "r" else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))  # noqa: SIM115
        else:  # taken by something else meanwhile: leave it alone
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115
    return frozenset(closed)


def entry() -> int:
    """The `meshc` command (and `python -m meshc`): `main`, then the process ends.

    The cyclic GC stays off for the whole command. The bulk work runs with it paused anyway
    (`gcpause`), and switching it back on afterwards made its next collection walk everything
    still alive, the compiled mesh included: 0.37 s at the end of a 10,000-service compile, for no
    garbage. A command is one batch that ends; reference counting still frees what it drops.
    A compile or a validation then ends without freeing the compiled mesh at all (`lifetime`,
    0.05-0.25 s at 10,000 services); any other command's live objects are frozen out of the
    collections the interpreter makes as it exits. A standard stream the caller closed is opened
    on /dev/null first (`_open_closed_std_streams`). Not in `main` itself, which tests and other
    programs call many times in one process."""
    global _closed_at_start
    gc.disable()
    _closed_at_start = _open_closed_std_streams()
    lifetime.arm()
    code = main()
    gc.freeze()
    return lifetime.end(code)


if __name__ == "__main__":
    sys.exit(entry())
