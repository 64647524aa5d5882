"""A plaintext authorization source with no address range: any client without a sidecar gets in.

Why: plain text carries no identity. Only the client's address (`ipBlocks`), the port and the
request itself can limit a `plaintext: true` source, and without `ipBlocks` every pod without a
sidecar (in any namespace, including ones nobody injects) and every node that can reach the pod
is admitted. That may be what an mTLS migration needs for a day; it should not go unnoticed.

Example:
    security:
      mtls: PERMISSIVE
      allow:
        - source: { plaintext: true }      # from anywhere

Fix: add `ipBlocks` with the legacy clients' addresses (their pod or node ranges), and limit
`ports`, `methods` and `paths`; better, inject the callers and declare them as `calls`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .access_common import allow_entries
from .base import Finding, RuleContext

CODE = "MC197"
NAME = "open-plaintext-source"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.mesh.spec.security.authorization.default_deny:
        return  # MC196
    for info, _, rule, path in allow_entries(ctx):
        if rule.source.plaintext and not rule.source.ip_blocks:
            yield Finding(
                (*path, "source", "plaintext"),
                f"plaintext source of service '{info.key}' without `ipBlocks`: every client without a "
                "sidecar that reaches the pod is admitted, from any namespace or node",
                "add `ipBlocks` with the legacy clients' addresses",
            )
