"""A service takes part in nothing: nothing calls it, no gateway routes to it, and it calls nothing.

Why: with default-deny authorization a service is reachable only over declared edges and
gateway routes. A service that no other service calls, that no gateway route targets, and that
neither calls a service nor uses egress is an island: it is deployed and secured, but no request
can reach it. It is usually a leftover of a removed feature, or a missing `calls` entry in the
service that was meant to use it. (A service with calls or egress of its own but no callers is a
client, such as a job or a worker, and is not reported.)

Example:
    services:
      - name: legacy-reports        # no one calls it, it calls nothing
        ports: [{ port: 8080, protocol: http }]

Fix: add the missing `calls` entry or gateway route, or remove the service.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC119"
NAME = "unreachable-service"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        if info.callers or info.gateway_routes or info.model.calls or info.egress:
            continue
        yield Finding(
            (*info.path, "name"),
            f"service '{info.key}' is unreachable: nothing calls it, no gateway routes to it, "
            "and it calls nothing",
            f"add a `calls: [{{ service: {info.key} }}]` entry to its caller or a gateway route to it, "
            "or remove it",
        )
