"""A gateway has no servers, or has routes that none of its servers can carry.

Why: a Gateway without servers opens no port, so nothing it routes is reachable. HTTP routes
(to a service port speaking HTTP, HTTP/2 or gRPC) need an `http`, `https`, `http2` or `grpc`
server; routes to TCP ports need a `tcp` or `tls` server. Otherwise Istio accepts the
VirtualService and the route simply never receives a request.

Example:
    gateways:
      - name: db-public
        servers: [{ port: 80, protocol: http }]
        routes:
          - to: { service: db, port: 5432 }      # a tcp port: needs a tcp or tls server

Fix: add a server of the right protocol, or remove the routes.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC117"
NAME = "gateway-without-servers"
SEVERITY = "error"
SCOPE = "mesh"

HTTP_SERVERS = frozenset({"http", "https", "http2", "grpc"})
TCP_SERVERS = frozenset({"tcp", "tls"})


def check(ctx: RuleContext) -> Iterator[Finding]:
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        path = ("spec", "gateways", gi)
        if not gw.servers:
            yield Finding(
                (*path, "name"),
                f"gateway '{gw.name}' has no servers, so it opens no port",
                "add a server, e.g. `servers: [{ port: 80, protocol: http }]`",
            )
            continue
        protocols = {s.protocol for s in gw.servers}
        for ri, route in enumerate(gw.routes):
            is_http = ctx.index.gateway_route_is_http(route)
            if is_http is None:
                continue
            needed = HTTP_SERVERS if is_http else TCP_SERVERS
            if protocols & needed:
                continue
            kind = "an HTTP" if is_http else "a TCP"
            yield Finding(
                (*path, "routes", ri),
                f"gateway '{gw.name}' has {kind} route to '{route.to.service}' but no server that carries "
                f"it (servers: {', '.join(sorted(protocols))})",
                f"add a server with one of the protocols {', '.join(sorted(needed))}",
            )
