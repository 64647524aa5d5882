"""Which compiled manifests a stack deploys, and in which of its clusters.

The whole mesh is always compiled (so authorization principals, Sidecar hosts and every other
cross-namespace reference are exactly what `meshc compile` produces); a shard then keeps a subset:

- a namespace-level resource goes with its namespace (a Namespace object with itself);
- mesh-wide resources, those in the control-plane and root namespaces and in the namespaces of the
  gateway pods (root PeerAuthentication and Telemetry, the east-west gateway, the
  `topology.istio.io/network` label, ingress JWT policies, egress gateway configuration), go only
  to a stack that owns them: the unsharded stack, or a shard with `meshWide: true`.

Shards selected by team need each selected team to own whole namespaces: a namespace holding one
selected team's services and anyone else's cannot be split between stacks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from meshc.compiler.index import MeshIndex
from meshc.compiler.manifest import Manifest

from .stack_config import StackConfig

CLUSTER_SCOPED = "_cluster"
"""Group of cluster-scoped objects other than namespaces (meshc emits none today)."""


def group_of(m: Manifest) -> str:
    """The namespace a manifest goes with: its own, a Namespace object's name for the object itself."""
    if m.namespace is not None:
        return m.namespace
    return m.name if m.kind == "Namespace" else CLUSTER_SCOPED


def logical_name(cluster: str, m: Manifest) -> str:
    """`<cluster>/<namespace>/<kind>/<name>`: stable whatever else changes in the spec, so Pulumi
    updates a resource in place instead of replacing it."""
    return f"{cluster}/{group_of(m)}/{m.kind}/{m.name}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource the stack registers."""

    key: str
    """Its logical name."""
    cluster: str
    """The stack's name for its cluster (the spec's, or the single configured one)."""
    manifest: Manifest

    @property
    def namespace(self) -> str:
        return group_of(self.manifest)


@dataclass(frozen=True, slots=True)
class Selection:
    namespaces: frozenset[str] | None
    """Namespaces this stack deploys; None for every namespace (an unsharded stack)."""
    mesh_wide: bool
    platform_namespaces: frozenset[str]
    """The control-plane and root namespaces: whatever lives there is mesh-wide."""

    def is_mesh_wide(self, m: Manifest) -> bool:
        group = group_of(m)
        return group == CLUSTER_SCOPED or group in self.platform_namespaces

    def includes(self, m: Manifest) -> bool:
        if self.is_mesh_wide(m):
            return self.mesh_wide
        return self.namespaces is None or group_of(m) in self.namespaces

    def describe(self) -> dict[str, object]:
        return {
            "namespaces": sorted(self.namespaces) if self.namespaces is not None else "all",
            "meshWide": self.mesh_wide,
        }


def platform_namespaces(index: MeshIndex) -> frozenset[str]:
    """The control-plane and root namespaces, those of the gateway pods (ingress policies and
    egress gateway configuration live beside the shared gateway workloads), and the monitoring
    namespaces of `observability` (mesh-wide rules, monitors, the mesh dashboard) unless services
    live there too."""
    spec = index.mesh.spec
    names = {spec.control_plane.namespace, spec.control_plane.root_namespace}
    names.update(gateway.workload.namespace for gateway in spec.gateways)
    names.update(egress.gateway.namespace for egress in spec.egress if egress.gateway is not None)
    observability = spec.observability
    if observability is not None:
        names |= {observability.prometheus.namespace, observability.grafana.namespace} - set(
            index.app_namespaces
        )
    return frozenset(names)


def mesh_namespaces(index: MeshIndex, manifests: list[Manifest]) -> set[str]:
    """Namespaces a shard may name: every namespace the compiled mesh puts something in, except
    the control-plane and root namespaces (those are mesh-wide)."""
    names = {m.namespace for m in manifests if m.namespace is not None}
    names |= {m.name for m in manifests if m.kind == "Namespace"}
    names |= set(index.app_namespaces)
    return names - platform_namespaces(index)


def select(
    project: str, config: StackConfig, index: MeshIndex, manifests: list[Manifest]
) -> tuple[Selection, list[str]]:
    """The stack's selection and the problems with `meshc:shard` (empty when it is fine)."""
    platform = platform_namespaces(index)
    shard = config.shard
    if shard is None:
        return Selection(None, True, platform), []
    key = f"{project}:shard"
    problems: list[str] = []
    known = mesh_namespaces(index, manifests)
    chosen: set[str] = set()
    for ns in shard.namespaces:
        if ns in platform:
            problems.append(
                f"{key}.namespaces: {ns!r} is a control-plane, root or gateway namespace; its resources "
                f"are mesh-wide (set `{key}.meshWide: true` in the one stack that owns them)"
            )
        elif ns not in known:
            problems.append(
                f"{key}.namespaces: the mesh has no namespace {ns!r} (namespaces: {', '.join(sorted(known))})"
            )
        else:
            chosen.add(ns)
    teams_of: dict[str, set[str | None]] = defaultdict(set)
    services_of: dict[str, list[str]] = defaultdict(list)
    team_namespaces: dict[str, set[str]] = defaultdict(set)
    for info in index.services.values():
        team = info.model.team
        teams_of[info.namespace].add(team)
        services_of[info.namespace].append(f"{info.name} ({'team ' + team if team else 'no team'})")
        if team is not None:
            team_namespaces[team].add(info.namespace)
    selected_teams = set(shard.teams)
    for team in shard.teams:
        if team not in team_namespaces:
            all_teams = ", ".join(sorted(team_namespaces)) or "none: no service names a team"
            problems.append(f"{key}.teams: no service belongs to team {team!r} (teams: {all_teams})")
            continue
        for ns in sorted(team_namespaces[team]):
            others = teams_of[ns] - selected_teams
            if others:
                problems.append(
                    f"{key}.teams: team {team!r} does not own namespace {ns!r}, which also holds "
                    f"{', '.join(s for s in services_of[ns] if not s.endswith(f'(team {team})'))}; "
                    "a namespace cannot be split between stacks: shard by namespaces, "
                    "or select those teams too"
                )
            else:
                chosen.add(ns)
    if not shard.namespaces and not shard.teams and not shard.mesh_wide:
        problems.append(f"{key}: selects nothing: list namespaces or teams, or set meshWide: true")
    return Selection(frozenset(chosen), shard.mesh_wide, platform), problems
