"""The steps of the Pulumi program, in the order `__main__` runs them:

1. `read_config`: the stack config, typed and checked (unknown keys, missing spec, bad clusters);
2. `compile_stack`: the spec compiled by `meshc.compiler.parallel.run` (the code path of `meshc compile`),
   then the stack's part of it selected and checked against the config (clusters, shard);
3. inside the async entrypoint (`pulumi.run`): `read_previous_deployment` reads the subsets the
   last deployment exported, through a StackReference to this stack, and decides the
   make-before-break order; then `register` registers every selected manifest under its cluster
   and namespace components, each after what it depends on;
4. `export_outputs`: the stack outputs.

Nothing is registered before steps 1 and 2 have passed. Every failure is logged one problem per line
with `pulumi.log.error` and ends the program with a `pulumi.RunError` subclass: `pulumi up` prints it
without a traceback, and `meshc plan` maps it to its exit code.
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

from . import outputs
from .components import ClusterDeployment, register_manifest
from .errors import CompilerBugError, MeshcStackError, SpecInvalid, StackConfigInvalid
from .ordering import (
    Decision,
    SubsetRouting,
    collect,
    decide,
    merge_dependencies,
    registration_order,
    static_dependencies,
)
from .selection import Entry, Selection, logical_name, select
from .stack_config import ConfigProblems, StackConfig, cluster_problems, parse_config, resolve_path

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
PREVIOUS_DEPLOYMENT = "previous-deployment"
"""Logical name of the StackReference through which the stack reads its own last outputs."""
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


MIN_PULUMI = "3.254.0"
"""The first Pulumi SDK with `pulumi.run` (an async entrypoint), which lets the program read the
previous deployment's outputs before registering anything."""


def read_config(main_file: Path) -> StackContext:
    start = time.perf_counter()
    if not hasattr(pulumi, "run"):
        _fail(
            StackConfigInvalid,
            "the installed Pulumi SDK is too old",
            [
                f"meshc's program needs pulumi >= {MIN_PULUMI} (pulumi.run): "
                f"pip install -U 'pulumi>={MIN_PULUMI}'"
            ],
        )
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


@dataclass(frozen=True)
class Registered:
    resources: dict[str, pulumi.CustomResource]
    clusters: dict[str, ClusterDeployment]
    routing: SubsetRouting


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


def subset_routing(compiled: CompiledStack) -> SubsetRouting:
    assert compiled.compilation.index is not None
    return collect(compiled.entries, compiled.compilation.index.cluster_domain)


async def read_previous_deployment(compiled: CompiledStack, routing: SubsetRouting) -> Decision:
    """The make-before-break decision, from the subsets the previous deployment recorded in this
    very stack's outputs, read through a StackReference to the stack itself before anything is
    registered (a first deployment reads nothing: every subset is new)."""
    if not routing.participants():
        return decide(routing, None)
    context = compiled.context
    org = pulumi.get_organization() or "organization"
    ref = pulumi.StackReference(PREVIOUS_DEPLOYMENT, stack_name=f"{org}/{context.project}/{context.stack}")
    details = await ref.get_output_details(SUBSETS_OUTPUT)
    previous = details.value if details.value is not None else details.secret_value
    decision = decide(routing, previous)
    for line in decision.warnings:
        pulumi.log.warn(line)
    return decision


def register(compiled: CompiledStack, routing: SubsetRouting, decision: Decision) -> Registered:
    start = time.perf_counter()
    context = compiled.context
    depends = merge_dependencies(static_dependencies(compiled.entries), decision.depends)
    resources: dict[str, pulumi.CustomResource] = {}
    clusters: dict[str, ClusterDeployment] = {}
    # What a resource depends on is registered before it (the canonical order, except that a
    # DestinationRule losing subsets comes after the VirtualServices it waits for).
    for e in registration_order(compiled.entries, depends):
        cluster = clusters.get(e.cluster)
        if cluster is None:
            settings = context.config.clusters[e.cluster]
            kubeconfig = (
                str(resolve_path(context.directory, settings.kubeconfig)) if settings.kubeconfig else None
            )
            cluster = clusters[e.cluster] = ClusterDeployment(
                e.cluster, context=settings.context, kubeconfig=kubeconfig
            )
        m = e.manifest
        resources[e.key] = register_manifest(
            m,
            e.key,
            cluster.namespace(e.namespace),
            depends_on=[resources[k] for k in depends.get(e.key, ())],
            # meshc only labels the control-plane namespace: destroying the stack must never delete it.
            retain_on_delete=m.kind == "Namespace" and m.name in compiled.selection.platform_namespaces,
        )
    for cluster in clusters.values():
        cluster.finish()
    TIMINGS["register"] = time.perf_counter() - start
    return Registered(resources, clusters, routing)


def stack_outputs(compiled: CompiledStack, registered: Registered) -> dict[str, Any]:
    """The values `export_outputs` exports (plain data: the tests compare them)."""
    context = compiled.context
    manifests = [e.manifest for e in compiled.entries]
    values: dict[str, Any] = {
        "spec": context.config.spec,
        "specDigest": outputs.spec_digest(context.spec_path),
        "clusters": sorted(context.config.clusters),
        "shard": compiled.selection.describe(),
        "ingressHosts": outputs.ingress_hosts(manifests, context.config.clusters, compiled.cluster_of),
        "resourceCounts": outputs.resource_counts(manifests),
        "resourceCount": len(manifests),
        SUBSETS_OUTPUT: registered.routing.subsets_output(),
    }
    git = outputs.spec_git(context.spec_path)
    if git is not None:
        values["specCommit"] = git["commit"]
        values["specDirty"] = git["dirty"]
    return values


def export_outputs(compiled: CompiledStack, registered: Registered) -> None:
    for name, value in stack_outputs(compiled, registered).items():
        pulumi.export(name, value)
