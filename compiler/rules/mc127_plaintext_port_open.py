"""A declared caller reaches a port whose mTLS is DISABLE, so authorization cannot limit it to callers.

Why: authorization identifies a caller by the principal of its mTLS certificate. A port with mTLS
DISABLE (the workload's mode, or `portMtls`) receives plain text, which carries no principal: an
ALLOW rule naming the declared callers would deny them too. meshc therefore admits any source on
such a port (still limited to the calls' methods and paths on HTTP ports), which means every
client that can open a connection to the pod gets in, declared or not.

Example:
    services:
      - name: web
        calls: [{ service: db }]
      - name: db
        ports: [{ port: 5432, protocol: tcp }]
        security:
          portMtls: [{ port: 5432, mode: DISABLE }]   # web arrives without an identity

Fix: keep mTLS on the port (drop the DISABLE, or use PERMISSIVE during a migration) so that only
the declared callers get in; if the port must take plain text, restrict who reaches it at the
network layer (a Kubernetes NetworkPolicy).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.source import PathItem

from ..index import MeshIndex, ServiceInfo, call_ports
from .base import Finding, RuleContext
from .walk import focused

CODE = "MC127"
NAME = "plaintext-port-open"
SEVERITY = "warning"
SCOPE = "namespace"


def _where(index: MeshIndex, info: ServiceInfo, target: int) -> tuple[PathItem, ...]:
    """The setting that disables mTLS on the port: its `portMtls` entry, the service's `mtls`, else
    the service (the namespace or the mesh disables it)."""
    security = info.model.security
    for k, entry in enumerate(security.port_mtls if security else []):
        port = info.port(entry.port)
        if (port.target if port else entry.port) == target:
            return (*info.path, "security", "portMtls", k, "mode")
    if security is not None and security.mtls == "DISABLE":
        return (*info.path, "security", "mtls")
    return (*info.path, "name")


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    if not ctx.mesh.spec.security.authorization.default_deny:
        return  # nothing is limited to callers anyway (MC128)
    for info in focused(ctx):
        plain = index.plaintext_ports(info)
        if not plain:
            continue
        reached: dict[int, set[str]] = {}
        for edge in info.callers:
            for port in call_ports(info, edge.call):
                if port.target in plain:
                    reached.setdefault(port.target, set()).add(f"'{edge.caller.key}'")
        for gateway, _, route in info.gateway_routes:
            routed = info.port(route.to.port) if route.to.port else None
            for port in [routed] if routed is not None else info.ports:
                if port.target in plain:
                    reached.setdefault(port.target, set()).add(f"gateway '{gateway.name}'")
        for target in sorted(reached):
            callers = sorted(reached[target])
            shown = ", ".join(callers[:3]) + (f" and {len(callers) - 3} more" if len(callers) > 3 else "")
            yield Finding(
                _where(index, info, target),
                f"port {target} of service '{info.key}' has mTLS DISABLE: calls from {shown} arrive in "
                "plain text with no identity, so authorization cannot limit the port to them and admits "
                "any client",
                "keep mTLS on the port so only declared callers get in, or limit who reaches it with a "
                "NetworkPolicy",
            )
