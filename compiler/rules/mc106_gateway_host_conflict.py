"""Two gateway servers on the same gateway pods claim the same port and an overlapping host.

Why: gateways with the same selector configure the same Envoy pods. When two servers there take
the same port and overlapping hosts (`*` overlaps everything, `*.example.com` overlaps
`shop.example.com`), Envoy can serve only one of them: Istio picks one by creation time and drops
the other's routes (istioctl reports IST0145 ConflictingGateways). Which one wins can change on
a redeploy.

Example:
    gateways:
      - name: public
        hosts: ["*.example.com"]
        servers: [{ port: 443, protocol: https, tls: { credentialName: wildcard } }]
      - name: shop
        hosts: [shop.example.com]
        servers: [{ port: 443, protocol: https, tls: { credentialName: shop } }]   # conflicts

Fix: give the servers disjoint hosts, merge them into one gateway, or use different ports or
gateway pods (`selector`).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import HostClaims, Path, normal_host

CODE = "MC106"
NAME = "gateway-host-conflict"
SEVERITY = "error"
SCOPE = "mesh"

Owner = tuple[str, str]
"""(which server, which of its hosts)."""


def check(ctx: RuleContext) -> Iterator[Finding]:
    buckets: dict[tuple[frozenset[tuple[str, str]], int], HostClaims[Owner]] = {}
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        selector = frozenset(gw.selector.items())
        for k, server in enumerate(gw.servers):
            claims = buckets.setdefault((selector, server.port), HostClaims())
            hosts = server.hosts or gw.hosts
            me = f"server {k + 1} of gateway '{gw.name}'"
            reported: set[Path] = set()
            for h, host in enumerate(hosts):
                other = claims.overlap(normal_host(host))
                base: Path = ("spec", "gateways", gi, "servers", k)
                path = (*base, "hosts", h) if server.hosts else base
                if other is None or path in reported:
                    continue
                reported.add(path)
                owner, other_host = other
                same = " (the same host)" if normal_host(other_host) == normal_host(host) else ""
                yield Finding(
                    path,
                    f"{me} claims host '{host}' on port {server.port}, which overlaps '{other_host}'{same} "
                    f"of {owner} on the same gateway pods ({_selector(gw.selector)})",
                    "give the servers disjoint hosts, merge them, or use another port or gateway selector",
                )
            for host in hosts:
                claims.add(normal_host(host), (me, host))


def _selector(selector: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "no selector"
