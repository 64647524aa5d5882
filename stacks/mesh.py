"""`Mesh`: the compiled mesh as one Pulumi component, for your own Pulumi program.

    import pulumi
    import pulumi_kubernetes as k8s
    from meshc.pulumi import Mesh

    kind = k8s.Provider("kind", context="kind-dev", enable_server_side_apply=True)
    mesh = Mesh("mesh", spec="mesh.yaml", clusters={"default": kind})
    pulumi.export("ingressHosts", mesh.ingress_hosts)

The constructor compiles the spec with the `meshc compile` pipeline (a spec error stops the program
before anything is registered, with meshc's diagnostics), then registers every compiled resource
under the component, one `meshc:deploy:Cluster` per cluster (under the provider you pass, or one it
builds from a `Cluster(context=..., kubeconfig=...)`) and one `meshc:deploy:Namespace` per namespace:

- namespaces first, a Deployment after its ServiceAccount (`ordering.static_dependencies`);
- make-before-break for subsets: the component records every DestinationRule's subsets in a stack
  output (`destinationRuleSubsets` unless `subsets_output` says otherwise) and reads the previous
  deployment's value back through a StackReference to the stack itself; a DestinationRule that
  gains a subset is applied before the VirtualServices routing to it, one that loses a subset after
  them (`ordering.decide`). Only the resources taking part wait for that read, and their
  `dependsOn` lists are plain resources (nothing depends on the StackReference).

Outputs: `ingress_hosts` (per cluster), `resource_counts` (per kind), `resource_count`,
`spec_digest` (`sha256:` over the spec's files), `spec_commit`/`spec_dirty` (None outside git) and
`destination_rule_subsets`. meshc's own program (`stacks/__main__.py`) is a user of this class.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ValidationError

from . import outputs
from .components import ClusterDeployment, register_manifest
from .errors import StackConfigInvalid
from .ordering import (
    Decision,
    SubsetRouting,
    collect,
    decide,
    merge_dependencies,
    registration_order,
    static_dependencies,
)
from .program import (
    PROJECT_FILES,
    SUBSETS_OUTPUT,
    TIMINGS,
    CompiledStack,
    StackContext,
    _fail,
    compile_stack,
)
from .stack_config import StackConfig, resolve_path

MESH_TYPE = "meshc:index:Mesh"

_EXPORTED: set[str] = set()
"""Stack outputs the Mesh components of this program have claimed (one program per process)."""
_CLUSTERS: set[str] = set()
"""Cluster names the Mesh components of this program have claimed: they are the first part of every
logical name, so two meshes with a cluster of the same name would register the same names."""


@dataclass(frozen=True)
class Cluster:
    """How the component reaches a cluster when you do not pass a provider of your own: it builds an
    explicit `kubernetes.Provider` (server-side apply on) from these."""

    context: str
    """The kubeconfig context. Required: a mesh is never deployed to whatever context is current."""
    kubeconfig: str | None = None
    """Path of the kubeconfig file (`~` allowed, relative to the directory of Pulumi.yaml); when
    omitted the provider reads `$KUBECONFIG` or `~/.kube/config`."""


@dataclass(frozen=True)
class Shard:
    """Deploy part of the mesh (the whole mesh is still compiled, so cross-shard references hold)."""

    namespaces: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    mesh_wide: bool = False
    """Own the mesh-wide resources (control-plane and root namespaces, gateways' namespaces)."""


ClusterTarget = k8s.Provider | Cluster


@dataclass(frozen=True)
class _Target:
    """One cluster as the component registers it: its own provider or the settings to build one."""

    provider: k8s.Provider | None
    context: str | None = None
    kubeconfig: str | None = None


@dataclass
class _State:
    resources: dict[str, pulumi.CustomResource] = field(default_factory=dict)
    clusters: dict[str, ClusterDeployment] = field(default_factory=dict)


def _project_directory() -> Path:
    """The directory of Pulumi.yaml: Pulumi starts the program in its `main` directory, at or below it."""
    start = Path.cwd()
    for folder in [start, *start.parents]:
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    return start


class Mesh(pulumi.ComponentResource):
    """The compiled mesh, registered under your providers (see the module docstring)."""

    ingress_hosts: pulumi.Output[dict[str, list[str]]]
    resource_counts: pulumi.Output[dict[str, int]]
    resource_count: pulumi.Output[int]
    spec_digest: pulumi.Output[str]
    spec_commit: pulumi.Output[str | None]
    spec_dirty: pulumi.Output[bool | None]
    destination_rule_subsets: pulumi.Output[dict[str, list[str]]]

    def __init__(
        self,
        name: str,
        *,
        spec: str | os.PathLike[str],
        clusters: Mapping[str, ClusterTarget],
        shard: Shard | None = None,
        strict: bool = False,
        subsets_output: str = SUBSETS_OUTPUT,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`spec`: the spec file or directory (relative to the directory of Pulumi.yaml).
        `clusters`: cluster name -> your `kubernetes.Provider` or a `Cluster`; for a spec without
        `clusters:` exactly one entry, under any name. `strict`: spec warnings stop the program.
        `subsets_output`: the stack output the component records subsets in (make-before-break);
        two Mesh components in one program need different ones."""
        label = f"Mesh({name!r})"
        targets, config = _typed_arguments(label, spec, clusters, shard, strict)
        directory = _project_directory()
        targets = {
            cluster: _Target(
                t.provider,
                t.context,
                str(resolve_path(directory, t.kubeconfig)) if t.kubeconfig else None,
            )
            for cluster, t in targets.items()
        }
        spec_path = resolve_path(directory, os.fspath(spec))
        context = StackContext(label, pulumi.get_stack(), directory, config, spec_path)
        self._construct(name, context, targets, subsets_output, opts, adopt_root_clusters=False)

    @classmethod
    def from_stack_config(
        cls, name: str, context: StackContext, opts: pulumi.ResourceOptions | None = None
    ) -> Mesh:
        """meshc's own program: the clusters and spec from the stack config (`meshc:clusters`, ...),
        its messages naming those keys. Its stacks registered the cluster components at the stack's
        root before this component existed; aliases keep their URNs, so nothing is replaced."""
        mesh = cls.__new__(cls)
        targets = {
            cluster: _Target(
                None,
                settings.context,
                str(resolve_path(context.directory, settings.kubeconfig)) if settings.kubeconfig else None,
            )
            for cluster, settings in context.config.clusters.items()
        }
        mesh._construct(name, context, targets, SUBSETS_OUTPUT, opts, adopt_root_clusters=True)
        return mesh

    def _construct(
        self,
        name: str,
        context: StackContext,
        targets: Mapping[str, _Target],
        subsets_output: str,
        opts: pulumi.ResourceOptions | None,
        *,
        adopt_root_clusters: bool,
    ) -> None:
        if not context.spec_path.exists():
            _fail(
                StackConfigInvalid,
                f"{context.project}: the spec does not exist",
                [
                    f"{context.project}: spec {context.config.spec}: no such file or directory "
                    f"(relative paths are resolved against {context.directory})"
                ],
            )
        if subsets_output in _EXPORTED:
            _fail(
                StackConfigInvalid,
                f"{context.project}: another Mesh already records its subsets in {subsets_output!r}",
                [f"{context.project}: pass subsets_output= a stack output name no other Mesh uses"],
            )
        taken = sorted(set(targets) & _CLUSTERS)
        if taken:
            _fail(
                StackConfigInvalid,
                f"{context.project}: cluster names already used by another Mesh in this program",
                [
                    f"{context.project}: clusters.{cluster}: another Mesh of this program has a cluster "
                    "of this name (logical names start with it: name the clusters differently)"
                    for cluster in taken
                ],
            )
        compiled = compile_stack(context)  # raises (nothing registered) on any spec or config problem
        _EXPORTED.add(subsets_output)
        _CLUSTERS.update(targets)
        routing = collect(compiled.entries, compiled.compilation.index.cluster_domain)
        parent_opts = opts or pulumi.ResourceOptions()
        previous: asyncio.Future[Decision] | None = None
        if routing.participants():
            # Created before the component so the read is the first request the engine receives.
            org = pulumi.get_organization() or "organization"
            ref = pulumi.StackReference(
                f"{name}-previous-deployment",
                stack_name=f"{org}/{pulumi.get_project()}/{context.stack}",
                opts=pulumi.ResourceOptions(parent=parent_opts.parent),
            )
            previous = asyncio.ensure_future(_read_previous(ref, routing, subsets_output))
        super().__init__(MESH_TYPE, name, None, opts)
        state = self._register(compiled, targets, routing, previous, adopt_root_clusters)
        values = _outputs(compiled, routing)
        self.ingress_hosts = pulumi.Output.from_input(values["ingressHosts"])
        self.resource_counts = pulumi.Output.from_input(values["resourceCounts"])
        self.resource_count = pulumi.Output.from_input(values["resourceCount"])
        self.spec_digest = pulumi.Output.from_input(values["specDigest"])
        self.spec_commit = pulumi.Output.from_input(values.get("specCommit"))
        self.spec_dirty = pulumi.Output.from_input(values.get("specDirty"))
        self.destination_rule_subsets = pulumi.Output.from_input(values[SUBSETS_OUTPUT])
        self.compiled = compiled
        self.outputs = values
        """The outputs as plain data (meshc's own program exports them all)."""
        self.resources = state.resources
        """Logical name (`cluster/namespace/Kind/name`) -> the registered resource."""
        # The next deployment reads this back (see the module docstring); a stack output because
        # only the stack's outputs can be read through a StackReference.
        pulumi.export(subsets_output, values[SUBSETS_OUTPUT])
        self.register_outputs(
            {k: v for k, v in values.items() if k in ("ingressHosts", "resourceCounts", "specDigest")}
        )

    def _register(
        self,
        compiled: CompiledStack,
        targets: Mapping[str, _Target],
        routing: SubsetRouting,
        previous: asyncio.Future[Decision] | None,
        adopt_root_clusters: bool,
    ) -> _State:
        start = time.perf_counter()
        static = static_dependencies(compiled.entries)
        waiting = routing.participants() if previous is not None else set()
        first = decide(routing, None) if previous is None else None
        depends = merge_dependencies(static, first.depends) if first is not None else static
        state = _State()
        cluster_aliases = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if adopt_root_clusters else None
        for e in registration_order(compiled.entries, depends):
            cluster = state.clusters.get(e.cluster)
            if cluster is None:
                target = targets[e.cluster]
                cluster = state.clusters[e.cluster] = ClusterDeployment(
                    e.cluster,
                    context=target.context,
                    kubeconfig=target.kubeconfig,
                    provider=target.provider,
                    opts=pulumi.ResourceOptions(parent=self, aliases=cluster_aliases),
                )
            deps: pulumi.Input[list[pulumi.Input[pulumi.Resource]]]
            if e.key in waiting:
                assert previous is not None
                deps = _after_decision(previous, e.key, depends, state.resources)
            else:
                deps = [state.resources[k] for k in depends.get(e.key, ())]
            m = e.manifest
            state.resources[e.key] = register_manifest(
                m,
                e.key,
                cluster.namespace(e.namespace),
                depends_on=deps,
                # meshc only labels the control-plane namespace: destroying the stack must never delete it.
                retain_on_delete=m.kind == "Namespace" and m.name in compiled.selection.platform_namespaces,
            )
        for cluster in state.clusters.values():
            cluster.finish()
        TIMINGS["register"] = time.perf_counter() - start
        return state


def _typed_arguments(
    label: str,
    spec: str | os.PathLike[str],
    clusters: Mapping[str, ClusterTarget],
    shard: Shard | None,
    strict: bool,
) -> tuple[dict[str, _Target], StackConfig]:
    """The arguments checked as the stack config is (cluster names, shard), one problem per line."""
    problems: list[str] = []
    targets: dict[str, _Target] = {}
    raw_clusters: dict[str, dict[str, Any]] = {}
    if not isinstance(spec, str | os.PathLike) or not os.fspath(spec):
        problems.append(f"{label}: spec: expected the path of the spec file or directory, got {spec!r}")
        spec = ""
    if not isinstance(clusters, Mapping):
        problems.append(f"{label}: clusters: expected a mapping of cluster name -> Provider or Cluster")
        clusters = {}
    for cluster_name, target in sorted(clusters.items()):
        if isinstance(target, k8s.Provider):
            targets[cluster_name] = _Target(target)
            # Stands for the provider in the checks (two clusters must not share one provider).
            raw_clusters[cluster_name] = {"context": f"<provider {target._name}>"}
        elif isinstance(target, Cluster):
            targets[cluster_name] = _Target(None, target.context, target.kubeconfig)
            raw_clusters[cluster_name] = {"context": target.context, "kubeconfig": target.kubeconfig}
        else:
            problems.append(
                f"{label}: clusters.{cluster_name}: expected a kubernetes.Provider or "
                f"meshc.pulumi.Cluster, got {type(target).__name__}"
            )
    values: dict[str, Any] = {"spec": os.fspath(spec), "clusters": raw_clusters, "strict": strict}
    if shard is not None:
        values["shard"] = {
            "namespaces": list(shard.namespaces),
            "teams": list(shard.teams),
            "mesh_wide": shard.mesh_wide,
        }
    config: StackConfig | None = None
    if not problems:
        try:
            config = StackConfig.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"] if p != "[key]")
                problems.append(f"{label}: {where}: {error['msg'][0].lower()}{error['msg'][1:]}")
    if problems or config is None:
        _fail(StackConfigInvalid, f"{label}: invalid arguments", problems)
    return targets, config


def _after_decision(
    previous: asyncio.Future[Decision],
    key: str,
    static: Mapping[str, list[str]],
    resources: Mapping[str, pulumi.CustomResource],
) -> pulumi.Output[list[pulumi.Input[pulumi.Resource]]]:
    """`dependsOn` of a resource whose order depends on the previous deployment: its static edges
    and the make-before-break ones, once the read has answered. An Output with no resources of its
    own, so the StackReference is not a dependency; `resources` is complete by then (the
    constructor registers everything before the event loop runs any callback)."""

    async def resolve() -> list[pulumi.Input[pulumi.Resource]]:
        decision = await previous
        keys = merge_dependencies({key: static.get(key, [])}, {key: decision.depends.get(key, [])}).get(
            key, []
        )
        return [resources[k] for k in keys]

    known: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    known.set_result(True)
    secret: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    secret.set_result(False)
    return pulumi.Output(set(), asyncio.ensure_future(resolve()), known, secret)


async def _read_previous(ref: pulumi.StackReference, routing: SubsetRouting, output: str) -> Decision:
    details = await ref.get_output_details(output)
    previous = details.value if details.value is not None else details.secret_value
    decision = decide(routing, previous)
    for line in decision.warnings:
        pulumi.log.warn(line)
    return decision


def _outputs(compiled: CompiledStack, routing: SubsetRouting) -> dict[str, Any]:
    context = compiled.context
    manifests = [e.manifest for e in compiled.entries]
    values: dict[str, Any] = {
        "specDigest": outputs.spec_digest(context.spec_path),
        "ingressHosts": outputs.ingress_hosts(manifests, context.config.clusters, compiled.cluster_of),
        "resourceCounts": outputs.resource_counts(manifests),
        "resourceCount": len(manifests),
        SUBSETS_OUTPUT: routing.subsets_output(),
    }
    git = outputs.spec_git(context.spec_path)
    if git is not None:
        values["specCommit"] = git["commit"]
        values["specDirty"] = git["dirty"]
    return values
