"""A call speaks a protocol the callee does not serve, or puts HTTP conditions on a non-HTTP port.

Why: authorization allows exactly the declared calls. A call with `protocol: grpc` to a service
that has no gRPC port (or none among the `ports` the call names) describes an edge that cannot
exist. A call that lists `methods` or `paths` compiles to an AuthorizationPolicy with HTTP
conditions; on a TCP port Istio can never evaluate them, so the rule never matches and the edge
is denied at run time.

Example:
    services:
      - name: orders
        calls:
          - { service: db, methods: [GET] }      # db speaks tcp only
      - name: db
        ports: [{ port: 5432, protocol: tcp }]

Fix: call a port that speaks the protocol, correct `protocol:`, or drop `methods`/`paths` on
calls to non-HTTP ports.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import HTTP_PROTOCOLS

from ..index import ResolvedPort
from .base import Finding, RuleContext
from .walk import focused

CODE = "MC114"
NAME = "protocol-mismatch"
SEVERITY = "error"
SCOPE = "namespace"


def _ports(ports: list[ResolvedPort]) -> str:
    return ", ".join(f"{p.number}/{p.protocol}" for p in ports)


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for info in focused(ctx):
        for j, call in enumerate(info.model.calls):
            callee = index.resolve(call.service)
            if callee is None:
                continue  # MC101
            ports = [p for p in callee.ports if not call.ports or p.number in call.ports]
            if not ports or any(p.protocol is None for p in ports):
                continue  # no such port (MC101) or unknown protocol (MC104)
            path = (*info.path, "calls", j)
            which = "the called ports" if call.ports else "its ports"
            if call.protocol is not None:
                usable = [p for p in ports if p.protocol == call.protocol]
                if not usable:
                    yield Finding(
                        (*path, "protocol"),
                        f"service '{info.key}' calls '{callee.key}' over {call.protocol}, but none of "
                        f"{which} speaks it: {_ports(ports)}",
                        "correct `protocol:`, or call a port that speaks it",
                    )
                    continue
                ports = usable
            if (call.methods or call.paths) and all(p.protocol not in HTTP_PROTOCOLS for p in ports):
                field = "methods" if call.methods else "paths"
                yield Finding(
                    (*path, field),
                    f"service '{info.key}' restricts its call to '{callee.key}' by HTTP {field}, but "
                    f"{which} are not HTTP ({_ports(ports)}): the condition never matches and the call "
                    "would be denied",
                    "drop `methods`/`paths` for calls to TCP ports, or call an HTTP port",
                )
