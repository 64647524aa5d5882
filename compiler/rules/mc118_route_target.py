"""A route, string match or load balancer sets not exactly one of its alternatives.

Why: some settings are "exactly one of" in Istio. A route sends its requests to one version
(`to`) or splits them (`split`), never both (a route with neither keeps the service's default
destinations: that is how a path gets its own timeout or retries); a string match is `exact`,
`prefix` or `regex`; a consistent hash hashes on one key; a load balancer is `simple` or
`consistentHash`. meshc would have to pick one silently, and the one it picks may not be the one
you meant.

Example:
    routes:
      - match: [{ path: { exact: /a, prefix: /a } }]    # exact or prefix?
        to: v1
        split: { v1: 50, v2: 50 }                       # to or split?

Fix: keep exactly one of the alternatives.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Match, Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic, string_matches

CODE = "MC118"
NAME = "route-target"
SEVERITY = "error"
SCOPE = "namespace"


def _string_matches(matches: list[Match], base: Path, owner: str) -> Iterator[Finding]:
    for j, match in enumerate(matches):
        for rel, sm in string_matches(match):
            given = [
                k
                for k, v in (("exact", sm.exact), ("prefix", sm.prefix), ("regex", sm.regex))
                if v is not None
            ]
            if len(given) != 1:
                what = "sets " + " and ".join(f"`{k}`" for k in given) if given else "sets none of them"
                name = ".".join(map(str, rel))
                yield Finding(
                    (*base, "match", j, *rel),
                    f"the `{name}` match of {owner} must set exactly one of exact, prefix or regex; "
                    f"it {what}",
                    "keep one of `exact`, `prefix` or `regex`",
                )


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        for i, route in enumerate(traffic.routes):
            path = (*base, "routes", i)
            label = f"{route_label(route.name, i)} of {owner}"
            if route.to is not None and route.split is not None:
                yield Finding(
                    (*path, "split"),
                    f"{label} sets both `to` and `split`",
                    "send the requests to one version with `to`, or split them with `split`, not both",
                )
            yield from _string_matches(route.match, path, label)
        lb = traffic.load_balancer
        if lb is None:
            continue
        lb_path = (*base, "loadBalancer")
        if lb.simple is not None and lb.consistent_hash is not None:
            yield Finding(
                lb_path,
                f"the load balancer of {owner} sets both `simple` and `consistentHash`",
                "use `simple` for a policy, or `consistentHash` for session affinity, not both",
            )
        ch = lb.consistent_hash
        if ch is not None:
            keys = [
                k
                for k, v in (
                    ("header", ch.header),
                    ("cookie", ch.cookie),
                    ("queryParameter", ch.query_parameter),
                )
                if v is not None
            ]
            keys += ["sourceIp"] if ch.source_ip else []
            if len(keys) != 1:
                what = "sets " + ", ".join(f"`{k}`" for k in keys) if keys else "sets none"
                yield Finding(
                    (*lb_path, "consistentHash"),
                    f"the consistent hash of {owner} must hash on exactly one key; it {what}",
                    "keep one of `header`, `cookie`, `queryParameter` or `sourceIp: true`",
                )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic` and the gateways."""
    yield from _blocks(defaults_traffic(ctx))
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        for i, groute in enumerate(gw.routes):
            label = f"{route_label(groute.name, i)} of gateway '{gw.name}'"
            yield from _string_matches(groute.match, ("spec", "gateways", gi, "routes", i), label)
