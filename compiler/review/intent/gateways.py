"""Gateways: added, removed, public hosts, ports and TLS, JWT issuer, namespace, placement, and every
`Gateway` field declared `FieldMeta(review="value")` (compared generically)."""

from __future__ import annotations

from meshc.spec.models import Gateway

from ..view import GatewayView
from .base import DiffContext, diff_values, list_diff, paired
from .fmt import gateway_json, listed, servers_text


def diff(ctx: DiffContext) -> None:
    for name, old, gw in paired(ctx.base.gateways, ctx.head.gateways):
        if old is None and gw is not None:
            ctx.change(
                "public",
                "gateway-added",
                name,
                f"gateway `{name}` added in namespace `{gw.namespace}`: hosts {listed(gw.hosts)}; "
                f"ports {servers_text(gw)}",
                None,
                gateway_json(gw),
            )
            for host in gw.hosts:
                if "*" in host:
                    ctx.risk("authz-widened", name, f"gateway `{name}` accepts wildcard host `{host}`")
        elif gw is None and old is not None:
            ctx.change(
                "public",
                "gateway-removed",
                name,
                f"gateway `{name}` removed (hosts {listed(old.hosts)})",
                gateway_json(old),
                None,
            )
        elif old is not None and gw is not None:
            changed(ctx, old, gw)


def changed(ctx: DiffContext, old: GatewayView, new: GatewayView) -> None:
    name = new.name
    added_hosts, removed_hosts = list_diff(old.hosts, new.hosts)
    for host in added_hosts:
        ctx.change(
            "public", "host-added", name, f"public host `{host}` added on gateway `{name}`", None, host
        )
        if "*" in host:
            ctx.risk("authz-widened", name, f"gateway `{name}` accepts wildcard host `{host}`")
    for host in removed_hosts:
        ctx.change(
            "public", "host-removed", name, f"public host `{host}` removed from gateway `{name}`", host, None
        )
    if old.servers != new.servers:
        ctx.change(
            "public",
            "gateway-ports",
            name,
            f"gateway `{name}` ports: {servers_text(old)} → {servers_text(new)}",
            servers_text(old),
            servers_text(new),
        )
        old_tls = {port: tls for port, _, tls in old.servers if tls}
        for port, _, tls in new.servers:
            if port in old_tls and not tls:
                ctx.risk("tls-relaxed", name, f"gateway `{name}` port {port}: TLS {old_tls[port]} → none")
    if old.jwt_issuer != new.jwt_issuer:
        ctx.change(
            "public",
            "gateway-jwt",
            name,
            f"gateway `{name}` JWT issuer: {old.jwt_issuer or 'none'} → {new.jwt_issuer or 'none'}",
            old.jwt_issuer,
            new.jwt_issuer,
        )
    if old.namespace != new.namespace:
        ctx.change(
            "public",
            "gateway-moved",
            name,
            f"gateway `{name}` moved: namespace `{old.namespace}` → `{new.namespace}`",
            old.namespace,
            new.namespace,
        )
    if old.clusters != new.clusters:
        ctx.change(
            "public",
            "gateway-placement",
            name,
            f"gateway `{name}` clusters: {listed(old.clusters)} → {listed(new.clusters)}",
            list(old.clusters),
            list(new.clusters),
        )
    diff_values(ctx, Gateway, old.values, new.values, kind="gateway", subject=name, label=f"gateway `{name}`")
