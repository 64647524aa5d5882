"""A call limits ports, methods or paths, but authorization does not deny by default.

Why: with `security.authorization.defaultDeny: false` meshc writes no ALLOW policy for services
(an ALLOW policy on a workload denies every request it does not list, which is default-deny for
that workload), so every workload may call every service on any port, method and path. The
conditions a call states then restrict nothing, while a reader of the spec believes they do.

Example:
    security:
      authorization: { defaultDeny: false }
    services:
      - name: web
        calls: [{ service: orders, methods: [GET] }]   # POST gets through too

Fix: set `defaultDeny: true` (the default) to enforce the declared calls, or drop the conditions
from the calls.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC128"
NAME = "call-conditions-not-enforced"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.mesh.spec.security.authorization.default_deny:
        return
    for info in focused(ctx):
        for j, call in enumerate(info.model.calls):
            stated = [name for name in ("ports", "methods", "paths") if getattr(call, name)]
            if not stated:
                continue
            conditions = " and ".join(f"`{name}`" for name in stated)
            yield Finding(
                (*info.path, "calls", j, stated[0]),
                f"service '{info.key}' calls '{call.service}' with {conditions}, "
                "but `defaultDeny: false` admits every call, so the conditions are not enforced",
                "set `security.authorization.defaultDeny: true` to enforce declared calls, "
                "or drop the conditions",
            )
