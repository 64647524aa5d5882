"""An authorization source or a gateway edge condition that cannot mean what it says.

Why: each `security.allow` entry names exactly one kind of caller: `mesh: true` (any workload with
a mesh identity), `namespaces` (meshed workloads of those namespaces) or `plaintext: true` (clients
without a sidecar). None or several is ambiguous: meshc would have to guess whether to widen or
narrow. HTTP conditions (`methods`, `paths`, `claims`, and a gateway route's `to.methods`,
`to.paths`) only exist for HTTP: on TCP ports an ALLOW rule carrying them never matches, so the
entry would silently admit nobody. A port the service does not have admits nobody either.

Example:
    services:
      - name: db
        ports: [{ port: 5432, protocol: tcp }]
        security:
          allow:
            - source: { mesh: true, plaintext: true }   # which one?
            - source: { namespaces: [ops] }
              methods: [GET]                             # db speaks no HTTP

Fix: one kind of source per entry (add a second entry for the other); drop HTTP conditions on TCP
ports; name ports the service has.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import HTTP_PROTOCOLS

from .access_common import allow_entries, entry_ports
from .base import Finding, RuleContext

CODE = "MC190"
NAME = "invalid-authorization-source"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' `security.allow` entries."""
    for info, _, rule, path in allow_entries(ctx):
        src = rule.source
        named = (("mesh", src.mesh), ("namespaces", bool(src.namespaces)), ("plaintext", src.plaintext))
        kinds = [k for k, on in named if on]
        if len(kinds) != 1:
            said = " and ".join(f"`{k}`" for k in kinds) if kinds else "none"
            yield Finding(
                (*path, "source"),
                f"authorization source of service '{info.key}' names {said} of `mesh`, `namespaces`, "
                "`plaintext`: exactly one is needed",
                "write one entry per kind of caller",
            )
        for j, number in enumerate(rule.ports):
            if info.port(number) is None:
                yield Finding(
                    (*path, "ports", j),
                    f"service '{info.key}' has no port {number}: this authorization source admits nobody "
                    "there",
                    "name a port of the service, or leave `ports` out for all of them",
                )
        conditions = (("methods", rule.methods), ("paths", rule.paths), ("claims", rule.claims))
        http_fields = [f for f, v in conditions if v]
        ports = entry_ports(info, rule)
        if http_fields and ports and not any(p.protocol in HTTP_PROTOCOLS for p in ports):
            yield Finding(
                (*path, http_fields[0]),
                f"`{http_fields[0]}` is an HTTP condition, but the ports of service '{info.key}' this "
                "source applies to are not HTTP: an ALLOW rule with it never matches TCP, so it admits "
                "nobody",
                "drop the HTTP conditions, or limit the entry to HTTP ports",
            )


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The gateway routes' `to` conditions."""
    index = ctx.index
    for g, gateway in sorted(index.gateways.values(), key=lambda item: item[0]):
        for r, route in enumerate(gateway.routes):
            target = index.resolve(route.to.service)
            if target is None or not (route.to.methods or route.to.paths):
                continue
            port = target.port(route.to.port) if route.to.port else None
            ports = [port] if port is not None else target.ports
            if ports and not any(p.protocol in HTTP_PROTOCOLS for p in ports):
                field = "methods" if route.to.methods else "paths"
                yield Finding(
                    ("spec", "gateways", g, "routes", r, "to", field),
                    f"`to.{field}` is an HTTP condition, but service '{target.key}' receives this route "
                    "on a TCP port: the gateway would be admitted nowhere",
                    f"drop `to.{field}` on a TCP route",
                )
