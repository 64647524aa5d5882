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
from dataclasses import dataclass, field

from .base import Finding, RuleContext
from .walk import Path

CODE = "MC106"
NAME = "gateway-host-conflict"
SEVERITY = "error"

Owner = tuple[str, str]
"""(which server, which of its hosts)."""


def _parents(host: str) -> Iterator[str]:
    """`.b.c`, `.c` for `a.b.c`: the domains strictly above a host name."""
    for k, c in enumerate(host):
        if c == ".":
            yield host[k:]


@dataclass
class _Claims:
    """The hosts already claimed on one (selector, port); lookups cost O(labels of the host)."""

    first: Owner | None = None
    star: Owner | None = None
    exact: dict[str, Owner] = field(default_factory=dict)
    wildcard: dict[str, Owner] = field(default_factory=dict)
    """`.example.com` -> the owner of `*.example.com`."""
    below: dict[str, Owner] = field(default_factory=dict)
    """`.example.com` -> the owner of some host strictly under it."""

    def overlap(self, host: str) -> Owner | None:
        if self.star is not None:
            return self.star
        if host == "*":
            return self.first
        if host.startswith("*."):
            domain = host[1:]
            found = self.below.get(domain)
            candidates = (domain, *_parents(domain[1:]))
        else:
            found = self.exact.get(host)
            candidates = tuple(_parents(host))
        for parent in candidates:
            found = found or self.wildcard.get(parent)
        return found

    def add(self, host: str, owner: Owner) -> None:
        self.first = self.first or owner
        if host == "*":
            self.star = self.star or owner
        elif host.startswith("*."):
            self.wildcard.setdefault(host[1:], owner)
            for parent in _parents(host[2:]):
                self.below.setdefault(parent, owner)
        else:
            self.exact.setdefault(host, owner)
            for parent in _parents(host):
                self.below.setdefault(parent, owner)


def _normal(host: str) -> str:
    return host.rsplit("/", 1)[-1].lower()  # Istio allows `namespace/host`; the namespace is not the host


def check(ctx: RuleContext) -> Iterator[Finding]:
    buckets: dict[tuple[frozenset[tuple[str, str]], int], _Claims] = {}
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        selector = frozenset(gw.selector.items())
        for k, server in enumerate(gw.servers):
            claims = buckets.setdefault((selector, server.port), _Claims())
            hosts = server.hosts or gw.hosts
            me = f"server {k + 1} of gateway '{gw.name}'"
            reported: set[Path] = set()
            for h, host in enumerate(hosts):
                other = claims.overlap(_normal(host))
                base: Path = ("spec", "gateways", gi, "servers", k)
                path = (*base, "hosts", h) if server.hosts else base
                if other is None or path in reported:
                    continue
                reported.add(path)
                owner, other_host = other
                same = " (the same host)" if _normal(other_host) == _normal(host) else ""
                yield Finding(
                    path,
                    f"{me} claims host '{host}' on port {server.port}, which overlaps '{other_host}'{same} "
                    f"of {owner} on the same gateway pods ({_selector(gw.selector)})",
                    "give the servers disjoint hosts, merge them, or use another port or gateway selector",
                )
            for host in hosts:
                claims.add(_normal(host), (me, host))


def _selector(selector: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "no selector"
