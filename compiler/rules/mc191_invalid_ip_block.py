"""An address range of an authorization source or a gateway route is not one, or is empty.

Why: `ipBlocks` (a `security.allow` source) and `remoteIpBlocks` (a gateway route) become Istio
`ipBlocks` / `notRemoteIpBlocks`, which take IP addresses and CIDR ranges only. A malformed entry is
rejected by Istio or, worse, read differently than meant (`10.0.0.1/8` is the whole of 10/8, not
one host). An empty list `[]` restricts nothing: the source admits every address, the route every
client, while the spec looks restricted.

Example:
    security:
      allow:
        - source: { plaintext: true, ipBlocks: [10.8.0.0/33] }   # no such prefix
    gateways:
      - routes:
          - to: { service: admin }
            remoteIpBlocks: []                                    # limits nothing

Fix: write each entry as an address (`203.0.113.7`) or a range with its host bits clear
(`10.8.0.0/16`); drop an empty list, or name the addresses meant.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.source import PathItem

from .access_common import allow_entries, ip_block_problem
from .base import Finding, RuleContext

CODE = "MC191"
NAME = "invalid-ip-block"
SEVERITY = "error"
SCOPE = "namespace"


def _check(blocks: list[str] | None, path: tuple[PathItem, ...], what: str) -> Iterator[Finding]:
    if blocks is None:
        return
    if not blocks:
        yield Finding(
            path,
            f"{what} is an empty list: it restricts nothing, every address gets in",
            "name the addresses (CIDR ranges or IPs), or drop the field",
        )
    for j, block in enumerate(blocks):
        problem = ip_block_problem(block)
        if problem is not None:
            yield Finding(
                (*path, j),
                f"{what}: {problem}",
                "write an address (203.0.113.7) or a range with its host bits clear (10.8.0.0/16)",
            )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' `security.allow` entries."""
    for info, k, rule, path in allow_entries(ctx):
        what = f"`ipBlocks` of service '{info.key}' security.allow[{k}]"
        yield from _check(rule.source.ip_blocks, (*path, "source", "ipBlocks"), what)


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The gateway routes' `remoteIpBlocks`."""
    index = ctx.index
    for g, gateway in sorted(index.gateways.values(), key=lambda item: item[0]):
        for r, route in enumerate(gateway.routes):
            what = f"`remoteIpBlocks` of gateway '{gateway.name}' routes[{r}]"
            yield from _check(
                route.remote_ip_blocks, ("spec", "gateways", g, "routes", r, "remoteIpBlocks"), what
            )
