"""Shared traversals for the rules: where traffic blocks and matches live, and the call graph.

Not a rule (it has no CODE); the catalogue in `__init__` lists the rule modules explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mesh_spec.models import Match, StringMatch, Traffic
from mesh_spec.source import PathItem

from ..index import MeshIndex, ServiceInfo
from .base import RuleContext

Path = tuple[PathItem, ...]

DEFAULTS_TRAFFIC: Path = ("spec", "defaults", "traffic")


def traffic_blocks(ctx: RuleContext) -> Iterator[tuple[Path, Traffic, str]]:
    """Every traffic block written in the spec (`spec.defaults.traffic`, each service's own), with
    its path and a label for messages. Duplicated services are included: the text is checked."""
    spec = ctx.mesh.spec
    if spec.defaults.traffic is not None:
        yield DEFAULTS_TRAFFIC, spec.defaults.traffic, "the default traffic"
    for i, svc in enumerate(spec.services):
        if svc.traffic is not None:
            yield ("spec", "services", i, "traffic"), svc.traffic, f"service '{svc.name}'"


def string_matches(match: Match) -> Iterator[tuple[Path, StringMatch]]:
    """Every StringMatch of a Match, with its path relative to the Match."""
    if match.path is not None:
        yield ("path",), match.path
    if match.method is not None:
        yield ("method",), match.method
    for field, values in (("headers", match.headers), ("query", match.query), ("claims", match.claims)):
        for key, value in values.items():
            yield (field, key), value


def match_kind(sm: StringMatch) -> tuple[str, str] | None:
    """(kind, value) of a well-formed StringMatch; None when it does not set exactly one (MC118)."""
    kinds = [
        (k, v) for k, v in (("exact", sm.exact), ("prefix", sm.prefix), ("regex", sm.regex)) if v is not None
    ]
    return kinds[0] if len(kinds) == 1 else None


@dataclass(frozen=True, slots=True)
class CallGraph:
    """The declared calls between indexed services, by position (ints keep the DPs fast)."""

    nodes: list[ServiceInfo]
    callees: list[list[int]]
    """Positions of each node's callees: known services, deduplicated, in spec order."""

    @classmethod
    def of(cls, index: MeshIndex) -> CallGraph:
        nodes = list(index.services.values())
        position = {info.name: i for i, info in enumerate(nodes)}
        callees = []
        for info in nodes:
            found = (position.get(call.service) for call in info.model.calls)
            callees.append(list(dict.fromkeys(i for i in found if i is not None)))
        return cls(nodes, callees)

    def postorder(self) -> list[int]:
        """Nodes in DFS post-order (iterative: a 10,000-hop chain must not hit the recursion limit).

        When a node comes up, each of its callees either came earlier or is one of its DFS
        ancestors (a back-edge of a cycle). A dynamic programme that walks this list and treats a
        callee without a value yet as "unknown" is therefore linear and terminates on cycles.
        """
        callees = self.callees
        order: list[int] = []
        visited = [False] * len(self.nodes)
        for root in range(len(self.nodes)):
            if visited[root]:
                continue
            visited[root] = True
            stack = [(root, iter(callees[root]))]
            while stack:
                node, children = stack[-1]
                for child in children:
                    if not visited[child]:
                        visited[child] = True
                        stack.append((child, iter(callees[child])))
                        break
                else:
                    stack.pop()
                    order.append(node)
        return order


def seconds(value: float) -> str:
    """A duration for messages: `500ms`, `2s`, `1.5s`."""
    if 0 < value < 1:
        return f"{value * 1000:g}ms"
    return f"{value:g}s"


def route_label(name: str | None, i: int) -> str:
    """`route 'login'`, or `route 2` (1-based) for an unnamed one."""
    return f"route '{name}'" if name else f"route {i + 1}"
