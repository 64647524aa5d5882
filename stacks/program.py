"""The steps of meshc's own Pulumi program, in the order `__main__` runs them:

1. `read_config`: the stack config, typed and checked (unknown keys, missing spec, bad clusters);
2. `Mesh.from_stack_config` (see `mesh`): `compile_stack` compiles the spec with
   `meshc.compiler.parallel.run` (the code path of `meshc compile`), selects the stack's part of it
   and checks it against the config (clusters, shard); then every selected manifest is registered
   under its cluster and namespace components, each after what it depends on, make-before-break
   subsets after the previous deployment's subsets were read;
3. `export_outputs`: the stack outputs.

Nothing is registered before steps 1 and the compilation have passed. Every failure is logged one
problem per line with `pulumi.log.error` and ends the program with a `pulumi.RunError` subclass:
`pulumi up` prints it without a traceback, and `meshc plan` maps it to its exit code. A user's own
program gets the same from `meshc.pulumi.Mesh`.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pulumi

from meshc.compiler.parallel import run
from meshc.compiler.pipeline import Compilation, CompilerBug
from meshc.spec.diagnostics import Diagnostic, SpecError

from .errors import CompilerBugError, MeshcStackError, SpecInvalid, StackConfigInvalid
from .selection import Entry, Selection, logical_name, select
from .stack_config import ConfigProblems, StackConfig, cluster_problems, parse_config, resolve_path

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
SUBSETS_OUTPUT = "destinationRuleSubsets"

TIMINGS: dict[str, float] = {}
"""Seconds per step of the last run (read by bench/stack_bench.py; never exported)."""


def project_dir(start: Path) -> Path:
    """The directory of Pulumi.yaml, found from this program's own location (Pulumi runs the
    program from the `main` directory, so the working directory says nothing)."""
    for folder in [start, *start.parents]:
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    _fail(StackConfigInvalid, "no Pulumi.yaml found", [f"{start}: no Pulumi.yaml in this directory or above"])


def _fail(kind: type[MeshcStackError], summary: str, problems: list[str]) -> NoReturn:
    for problem in problems:
        pulumi.log.error(problem)
    raise kind(f"meshc: {summary}; nothing was registered", problems)


@dataclass(frozen=True)
class StackContext:
    project: str
    stack: str
    directory: Path
    config: StackConfig
    spec_path: Path


def _config_map() -> dict[str, Any]:
    """Every config value of the stack: Pulumi passes them to the program in `PULUMI_CONFIG` (and the
    SDK keeps values set in-process, as the mock engine's callers do)."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, Any] = dict(runtime_config.get_config_env() or {})
    values.update(runtime_config.CONFIG.get())
    return values


def read_config(main_file: Path) -> StackContext:
    start = time.perf_counter()
    directory = project_dir(main_file.resolve().parent)
    project = pulumi.get_project()
    raw = _config_map()
    try:
        config = parse_config(project, raw)
    except ConfigProblems as exc:
        _fail(StackConfigInvalid, f"the stack config of {pulumi.get_stack()!r} is invalid", exc.problems)
    spec_path = resolve_path(directory, config.spec)
    if not spec_path.exists():
        _fail(
            StackConfigInvalid,
            f"the stack config of {pulumi.get_stack()!r} is invalid",
            [
                f"{project}:spec: {config.spec}: no such file or directory "
                f"(relative paths are resolved against {directory})"
            ],
        )
    ignored = sorted(k for k in raw if k.startswith("kubernetes:"))
    if ignored:
        pulumi.log.warn(
            f"{', '.join(ignored)}: ignored: meshc builds one explicit provider per cluster from "
            f"{project}:clusters, so the default kubernetes provider's config has no effect"
        )
    TIMINGS["config"] = time.perf_counter() - start
    return StackContext(project, pulumi.get_stack(), directory, config, spec_path)


@dataclass(frozen=True)
class CompiledStack:
    context: StackContext
    compilation: Compilation
    selection: Selection
    entries: list[Entry]
    cluster_of: dict[str | None, str]
    """Compiled cluster (None for a single-cluster spec) -> the stack's name for it."""


def _relative(d: Diagnostic, context: StackContext) -> Diagnostic:
    """Diagnostics name the spec (and its overlays) as the stack config does, not by absolute path."""
    for spelled in [context.config.spec, *context.config.overlays]:
        absolute = str(resolve_path(context.directory, spelled))
        if d.file.startswith(absolute):
            return dataclasses.replace(d, file=spelled + d.file[len(absolute) :])
    return d


def compile_stack(context: StackContext) -> CompiledStack:
    start = time.perf_counter()
    config = context.config
    try:
        overlays = [resolve_path(context.directory, o) for o in config.overlays]
        compilation = run(context.spec_path, strict=config.strict, overlays=overlays)
    except SpecError as exc:
        diagnostics = [_relative(d, context) for d in exc.diagnostics]
        errors = sum(1 for d in diagnostics if d.severity == "error" or config.strict)
        _fail(
            SpecInvalid,
            f"the spec {config.spec} has {errors} error{'s' if errors != 1 else ''}",
            [d.format() for d in diagnostics],
        )
    except CompilerBug as bug:
        _fail(
            CompilerBugError,
            "internal error: the compiled output failed its self-check (a bug in meshc, not in your spec)",
            bug.problems,
        )
    TIMINGS["compile"] = time.perf_counter() - start
    for d in compilation.diagnostics:
        pulumi.log.warn(_relative(d, context).format())
    index = compilation.index
    selection, problems = select(context.project, config, index, compilation.manifests)
    chosen = [m for m in compilation.manifests if selection.includes(m)]
    spec_clusters = list(index.clusters)
    problems += cluster_problems(context.project, config, spec_clusters, {m.cluster for m in chosen})
    if problems:
        _fail(StackConfigInvalid, f"the stack config of {context.stack!r} does not fit the spec", problems)
    if spec_clusters:
        cluster_of: dict[str | None, str] = {name: name for name in spec_clusters}
    else:
        cluster_of = {None: next(iter(config.clusters))}
    entries = [Entry(logical_name(cluster_of[m.cluster], m), cluster_of[m.cluster], m) for m in chosen]
    idle = sorted(set(config.clusters) - {e.cluster for e in entries})
    for name in idle:
        pulumi.log.warn(f"{context.project}:clusters.{name}: receives no resources from this stack")
    TIMINGS["select"] = time.perf_counter() - start - TIMINGS["compile"]
    return CompiledStack(context, compilation, selection, entries, cluster_of)


def collect_garbage_rarely() -> None:
    """Keep Python's cyclic garbage collector out of the way for the rest of this process.

    Registering allocates a few hundred objects per resource (futures, outputs, protobuf messages)
    and keeps most of them until the engine has answered; the collector would rescan that growing
    heap, and the compiled spec, again and again: about a third of the run at a few thousand
    resources. What exists now (the compiled spec) lives to the end of this one-shot process, so it
    is frozen out of the collector's sight, and the collector runs after 100,000 allocations instead
    of 700. Reference counting still frees everything acyclic at once (peak memory grows by ~5%).
    `bench/stack_bench.py` prints what this saves.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def export_outputs(context: StackContext, compiled: CompiledStack, values: dict[str, Any]) -> None:
    """The stack outputs of meshc's own program: the Mesh component's (`values`, the subsets already
    exported by the component itself) and what the stack config selected."""
    stack_values: dict[str, Any] = {
        "spec": context.config.spec,
        "clusters": sorted(context.config.clusters),
        "shard": compiled.selection.describe(),
        **{k: v for k, v in values.items() if k != SUBSETS_OUTPUT},
    }
    for name in sorted(stack_values):
        pulumi.export(name, stack_values[name])
