"""Authorization sources on a mesh without default-deny: they change nothing.

Why: without `security.authorization.defaultDeny` meshc writes no ALLOW policy for services (any
ALLOW policy would deny every caller it does not list), so every workload may call every service
already. A `security.allow` entry then neither widens nor limits anything, and a reader would take
its conditions (`methods`, `ipBlocks`, `claims`) for enforced.

Example:
    security: { authorization: { defaultDeny: false } }
    services:
      - name: api
        security:
          allow: [{ source: { namespaces: [ops] }, methods: [GET] }]   # not enforced

Fix: turn `defaultDeny` on, or drop the entries. (A service's own `security.jwt` is enforced
either way.)
"""

from __future__ import annotations

from collections.abc import Iterator

from .access_common import allow_entries
from .base import Finding, RuleContext

CODE = "MC196"
NAME = "allow-without-default-deny"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.mesh.spec.security.authorization.default_deny:
        return
    for info, k, _, path in allow_entries(ctx):
        yield Finding(
            path,
            f"security.allow[{k}] of service '{info.key}' has no effect: without defaultDeny every "
            "workload may call every service, and none of its conditions is enforced",
            "set `security.authorization.defaultDeny: true`, or drop the entry",
        )
