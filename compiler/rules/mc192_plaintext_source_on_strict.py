"""A plaintext authorization source on ports whose mTLS is STRICT: the callers it names never arrive.

Why: a client without a sidecar speaks plain text, and STRICT mTLS (the mesh's default) refuses
plain text before authorization runs. `plaintext: true` is meant for an mTLS migration, on a
service (or namespace, or port) relaxed to PERMISSIVE: there the ALLOW rule admits requests that
carry no peer identity. On a STRICT port it admits nobody, and the migration fails at run time.

Example:
    services:
      - name: billing                 # mesh mTLS STRICT
        security:
          allow:
            - source: { plaintext: true, ipBlocks: [10.8.0.0/16] }

Fix: set `security: { mtls: PERMISSIVE }` on the service (or `portMtls` for the ports, or `mtls`
on its namespace) for the time of the migration; once the callers have sidecars, declare them as
callers and drop the plaintext source.
"""

from __future__ import annotations

from collections.abc import Iterator

from .access_common import allow_entries, entry_ports, port_mode
from .base import Finding, RuleContext

CODE = "MC192"
NAME = "plaintext-source-on-strict"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for info, _, rule, path in allow_entries(ctx):
        if not rule.source.plaintext:
            continue
        ports = entry_ports(info, rule)
        strict = sorted(p.number for p in ports if port_mode(index, info, p) == "STRICT")
        if strict and len(strict) == len(ports):
            yield Finding(
                (*path, "source", "plaintext"),
                f"service '{info.key}' requires mTLS (STRICT) on port(s) {', '.join(map(str, strict))}: "
                "plain text is refused before authorization, so this plaintext source admits nobody",
                "relax the service (or its ports or namespace) to PERMISSIVE during the migration",
            )
