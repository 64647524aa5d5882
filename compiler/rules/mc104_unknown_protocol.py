"""A service port's protocol is neither given nor derivable from its name.

Why: Istio decides how to treat a port (HTTP routing, retries and authorization on paths, or
opaque TCP) from its protocol. meshc takes it from `protocol:`, or from an Istio-style name prefix
(`http-web`, `grpc`, `tcp-db`). Without either, Istio would sniff the protocol at run time, which
adds latency to server-first protocols (MySQL, SMTP) and silently turns HTTP policies off when
sniffing guesses TCP, so meshc insists on knowing.

Example:
    ports:
      - { port: 8080 }             # no protocol, no name
      - { port: 9000, name: web }  # `web` is not a protocol prefix

Fix: set `protocol:` (`http`, `grpc`, `tcp`, ...) or name the port `http-...`/`tcp-...`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..index import KNOWN_PROTOCOLS, port_protocol
from .base import Finding, RuleContext
from .walk import focused_entries

CODE = "MC104"
NAME = "unknown-protocol"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, svc in focused_entries(ctx):
        for j, port in enumerate(svc.ports):
            if port_protocol(port) is not None:
                continue
            path = ("spec", "services", i, "ports", j)
            named = f" (named '{port.name}')" if port.name else ""
            yield Finding(
                (*path, "name") if port.name else path,
                f"port {port.port} of service '{svc.name}'{named} has no protocol",
                "set `protocol:` or name the port `http-...`/`tcp-...`; known protocols: "
                + ", ".join(KNOWN_PROTOCOLS),
            )
