"""`dependsOn` between the resources a stack registers. Plain Python, shared with the tests.

Static edges, known from the compiled manifests alone:

- everything in a namespace depends on that namespace's Namespace object (when this stack registers it);
- a Deployment depends on the ServiceAccount its pods run as (same namespace, when registered);
- a HorizontalPodAutoscaler depends on the Deployment it scales.

Make-before-break for subsets (Istio's Traffic Management Best Practices, "Avoid 503 errors while
reconfiguring service routes"): a DestinationRule that gains a subset must be applied before a
VirtualService that starts routing to it, and a DestinationRule that loses a subset must be applied
after the VirtualServices that stopped routing to it. Which case applies depends on the subsets the
previous deployment had: the stack exports them (`destinationRuleSubsets`) and reads them back
through a StackReference to itself; the resources taking part are registered once it has answered
(`mesh.Mesh`), and `decide` gives them plain `dependsOn` lists.

Per DestinationRule, one direction for all its VirtualServices (so the graph never has a cycle):

- *DestinationRule first* (VirtualServices depend on it): on a first deployment (nothing to compare
  with), when no subset was removed, or when a VirtualService routes to a subset that is new;
- *VirtualServices first* (the DestinationRule depends on every VirtualService routing to its host):
  when subsets were removed and none that a route needs was added.

A change that both adds a subset that routes need and removes another in one update cannot be made
safe by ordering one DestinationRule object: it goes DestinationRule first (adding is what would fail
at once) and `decide` returns a warning saying to roll it out in two steps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .selection import Entry

DR_FIRST = "destination-rule-first"
VS_FIRST = "virtual-services-first"


@dataclass(frozen=True, slots=True)
class DestinationRuleInfo:
    key: str
    """Logical name (`cluster/namespace/DestinationRule/name`)."""
    subsets_key: str
    """Key in the `destinationRuleSubsets` output (`cluster/namespace/name`)."""
    cluster: str
    host: str
    subsets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VirtualServiceInfo:
    key: str
    cluster: str
    destinations: frozenset[tuple[str, str | None]]
    """(host, subset or None) of every route, mirror and TCP/TLS route."""


@dataclass(slots=True)
class SubsetRouting:
    """The DestinationRule/VirtualService pairs of one stack, before the previous state is known."""

    rules: dict[str, DestinationRuleInfo] = field(default_factory=dict)
    services: dict[str, VirtualServiceInfo] = field(default_factory=dict)
    by_host: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    """(cluster, host) -> DestinationRule keys."""
    routing_to: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=lambda: defaultdict(list))
    """DestinationRule key -> (VirtualService key, subsets it routes to) for every VirtualService
    routing to the rule's host (the subset set may be empty)."""

    def participants(self) -> set[str]:
        """Resources whose dependencies wait for the previous state (the rest are static)."""
        keys = {dr for dr, routes in self.routing_to.items() if routes}
        keys |= {vs for routes in self.routing_to.values() for vs, _ in routes}
        return keys

    def subsets_output(self) -> dict[str, list[str]]:
        return {
            dr.subsets_key: list(dr.subsets)
            for dr in sorted(self.rules.values(), key=lambda d: d.subsets_key)
        }


@dataclass(frozen=True, slots=True)
class Decision:
    direction: dict[str, str]
    """DestinationRule key -> DR_FIRST or VS_FIRST (only rules some VirtualService routes to)."""
    depends: dict[str, list[str]]
    """Resource key -> keys it must wait for (the make-before-break edges only)."""
    warnings: list[str]


def destinations(spec: Mapping[str, Any]) -> set[tuple[str, str | None]]:
    found: set[tuple[str, str | None]] = set()

    def add(dest: Any) -> None:
        if isinstance(dest, Mapping) and isinstance(dest.get("host"), str):
            subset = dest.get("subset")
            found.add((dest["host"], subset if isinstance(subset, str) else None))

    for section in ("http", "tcp", "tls"):
        for rule in spec.get(section) or []:
            for route in rule.get("route") or []:
                add(route.get("destination"))
            add(rule.get("mirror"))
            for mirror in rule.get("mirrors") or []:
                add(mirror.get("destination"))
    return found


def qualify(host: str, namespace: str, domain: str) -> str:
    """A short host (`reviews`) as Istio reads it: relative to the namespace of the resource."""
    if "." in host or "*" in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def static_dependencies(entries: Sequence[Entry]) -> dict[str, list[str]]:
    """Namespace objects first; a Deployment after its ServiceAccount, an autoscaler after its
    Deployment. Only edges to resources this
    stack registers (a shard does not wait for another stack's objects)."""
    keys = {e.key for e in entries}
    depends: dict[str, list[str]] = {}
    for e in entries:
        m = e.manifest
        edges = []
        ns_key = f"{e.cluster}/{e.namespace}/Namespace/{e.namespace}"
        if ns_key != e.key and ns_key in keys:
            edges.append(ns_key)
        if m.kind == "Deployment":
            account = (
                ((m.body.get("spec") or {}).get("template") or {}).get("spec", {}).get("serviceAccountName")
            )
            sa_key = f"{e.cluster}/{e.namespace}/ServiceAccount/{account}"
            if account and sa_key in keys:
                edges.append(sa_key)
        if m.kind == "HorizontalPodAutoscaler":
            # The autoscaler scales a Deployment that must exist first (until then it reports
            # FailedGetScale, and the Deployment, which leaves its replicas to it, runs one pod).
            target = ((m.body.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
            deployment_key = f"{e.cluster}/{e.namespace}/Deployment/{target}"
            if target and deployment_key in keys:
                edges.append(deployment_key)
        if edges:
            depends[e.key] = edges
    return depends


def merge_dependencies(*maps: Mapping[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for deps in maps:
        for key, keys in deps.items():
            into = merged.setdefault(key, [])
            for k in keys:
                if k not in into:
                    into.append(k)
    return merged


def registration_order(entries: Sequence[Entry], depends: Mapping[str, list[str]]) -> list[Entry]:
    """The entries in their canonical order, moved only as far as needed for every resource to
    come after what it depends on (the graph is acyclic, see `decide`)."""
    by_key = {e.key: e for e in entries}
    done: set[str] = set()
    order: list[Entry] = []

    def visit(key: str, path: tuple[str, ...]) -> None:
        if key in done:
            return
        if key in path:
            raise ValueError(f"dependency cycle: {' -> '.join((*path, key))}")
        for dep in depends.get(key, ()):
            if dep in by_key:
                visit(dep, (*path, key))
        done.add(key)
        order.append(by_key[key])

    for e in entries:
        visit(e.key, ())
    return order


def collect(entries: Iterable[Entry], domain: str) -> SubsetRouting:
    """The DestinationRules and the VirtualServices routing to their hosts, per cluster."""
    routing = SubsetRouting()
    pending: list[VirtualServiceInfo] = []
    for e in entries:
        key, cluster, namespace, kind, body = e.key, e.cluster, e.namespace, e.manifest.kind, e.manifest.body
        spec = body.get("spec") or {}
        name = body["metadata"]["name"]
        if kind == "DestinationRule" and isinstance(spec.get("host"), str):
            subsets = tuple(s["name"] for s in spec.get("subsets") or [] if isinstance(s.get("name"), str))
            host = qualify(spec["host"], namespace, domain)
            dr = DestinationRuleInfo(key, f"{cluster}/{namespace}/{name}", cluster, host, subsets)
            routing.rules[key] = dr
            routing.by_host[(cluster, host)].append(key)
        elif kind == "VirtualService":
            dests = frozenset((qualify(h, namespace, domain), s) for h, s in destinations(spec))
            if dests:
                pending.append(VirtualServiceInfo(key, cluster, dests))
    for vs in pending:
        routing.services[vs.key] = vs
        per_host: dict[str, set[str]] = {}
        for host, subset in vs.destinations:
            subsets_here = per_host.setdefault(host, set())
            if subset is not None:
                subsets_here.add(subset)
        for host, routed in sorted(per_host.items()):
            for dr_key in routing.by_host.get((vs.cluster, host), []):
                routing.routing_to[dr_key].append((vs.key, frozenset(routed)))
    return routing


def decide(routing: SubsetRouting, previous: Mapping[str, Any] | None) -> Decision:
    """The make-before-break edges, given the previous deployment's `destinationRuleSubsets`
    (None or missing entries: nothing deployed before, every subset is new)."""
    previous = previous if isinstance(previous, Mapping) else {}
    direction: dict[str, str] = {}
    depends: dict[str, list[str]] = defaultdict(list)
    warnings: list[str] = []
    for dr_key in sorted(routing.routing_to):
        routes = routing.routing_to[dr_key]
        if not routes:
            continue
        dr = routing.rules[dr_key]
        before = previous.get(dr.subsets_key)
        now = set(dr.subsets)
        if isinstance(before, list):
            old = {s for s in before if isinstance(s, str)}
            added, removed = now - old, old - now
        else:
            added, removed = now, set()
        needed = sorted({s for _, subsets in routes for s in subsets} & added)
        if removed and not needed:
            direction[dr_key] = VS_FIRST
            depends[dr_key].extend(vs for vs, _ in routes)
            continue
        direction[dr_key] = DR_FIRST
        for vs, subsets in routes:
            if subsets:
                depends[vs].append(dr_key)
        if removed:
            warnings.append(
                f"{dr.subsets_key}: this update adds subset(s) {', '.join(needed)} that routes use "
                f"and removes {', '.join(sorted(removed))} from the same DestinationRule; it is applied "
                "before the VirtualServices, so requests still routed to the removed subset(s) can fail "
                "(503) until they are updated. Roll out in two steps: first add the new version, then "
                "remove the old one."
            )
    return Decision(direction, {k: sorted(set(v)) for k, v in depends.items()}, warnings)
