"""Shared by the rules about authorization sources and JWT on services (MC190-MC197)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from meshc.spec.models import AllowRule
from meshc.spec.source import PathItem

from ..index import MeshIndex, ResolvedPort, ServiceInfo
from .base import RuleContext
from .walk import focused


def allow_entries(ctx: RuleContext) -> Iterator[tuple[ServiceInfo, int, AllowRule, tuple[PathItem, ...]]]:
    """Every `security.allow` entry of the focused services: (service, k, entry, its path)."""
    for info in focused(ctx):
        security = info.model.security
        for k, rule in enumerate(security.allow if security is not None else []):
            yield info, k, rule, (*info.path, "security", "allow", k)


def entry_ports(info: ServiceInfo, rule: AllowRule) -> list[ResolvedPort]:
    if not rule.ports:
        return list(info.ports)
    return [p for p in (info.port(n) for n in rule.ports) if p is not None]


def port_mode(index: MeshIndex, info: ServiceInfo, port: ResolvedPort) -> str:
    """The effective mTLS mode of a port: its `portMtls`, else the workload's, namespace's, mesh's."""
    security = info.model.security
    for entry in security.port_mtls if security is not None else []:
        if entry.port in (port.number, port.target):
            return entry.mode
    return index.mtls_mode(info)


def ip_block_problem(value: str) -> str | None:
    """Why `value` is not an Istio ipBlocks entry (a CIDR range or a single address), or None."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"'{value}' is not an IP address or CIDR range"
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            return f"'{value}' has host bits set after the prefix length"
    return None
