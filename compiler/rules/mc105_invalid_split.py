"""A weighted split has a negative weight, no positive weight, or weights that do not sum to 100.

Why: Istio normalises nothing: the weights of a VirtualService route must sum to 100, and a route
whose weights do not is rejected by the API server (or, with one destination, silently sends
everything there). A negative weight is meaningless. Zero weights are allowed (they keep a version
declared while it takes no traffic) and are left out of the output, but at least one weight must
be positive.

Example:
    traffic:
      split: { v1: 90, v2: 20 }      # sums to 110

Fix: make the weights non-negative and sum to exactly 100 (`{ v1: 80, v2: 20 }`).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC105"
NAME = "invalid-split"
SEVERITY = "error"
SCOPE = "namespace"


def _check_split(path: Path, split: dict[str, int], owner: str) -> Iterator[Finding]:
    negative = [(version, weight) for version, weight in split.items() if weight < 0]
    for version, weight in negative:
        yield Finding(
            (*path, version),
            f"split of {owner} gives version '{version}' a negative weight ({weight})",
            "weights are percentages from 0 to 100",
        )
    if negative:
        return
    total = sum(split.values())
    if total == 0:
        yield Finding(
            path,
            f"split of {owner} has no positive weight",
            "give at least one version a weight; the weights must sum to 100",
        )
    elif total != 100:
        weights = " + ".join(str(w) for w in split.values())
        yield Finding(
            path,
            f"weights of the split of {owner} sum to {total} ({weights}), not 100",
            "Istio does not normalise weights: make them sum to exactly 100",
        )


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for path, traffic, owner in blocks:
        if traffic.split is not None:
            yield from _check_split((*path, "split"), traffic.split, owner)
        for i, route in enumerate(traffic.routes):
            if route.split is not None:
                label = f"{route_label(route.name, i)} of {owner}"
                yield from _check_split((*path, "routes", i, "split"), route.split, label)


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
