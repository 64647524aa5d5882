"""Egress: external hosts, their callers and ports (anything new a caller may reach is a risk),
TLS origination (less of it is a risk: the callers' plain HTTP would leave the mesh unencrypted or
less verified), the traffic policy towards the hosts, and every `Egress` field declared
`FieldMeta(review="value")` (compared generically)."""

from __future__ import annotations

from meshc.spec.models import Egress, EgressTraffic, TlsOrigination

from ..view import EgressView, reviewed_values
from .base import DiffContext, diff_values, paired
from .fmt import egress_json, egress_ports_text, listed

CUSTOM_FIELDS = {Egress: ("tls_origination", "traffic")}
"""Fields declared `FieldMeta(review="custom")` that this module reports by name."""


def _origination_text(eg: EgressView) -> str:
    tls = eg.tls_origination
    if tls is None:
        return "none"
    by = "the egress gateway" if eg.via_gateway else "the callers' sidecars"
    parts = [f"{tls.mode} to port {tls.port} by {by}"]
    if tls.credential_name:
        parts.append(f"credential `{tls.credential_name}`")
    if tls.sni:
        parts.append(f"SNI `{tls.sni}`")
    if tls.subject_alt_names:
        parts.append(f"SANs {listed(tls.subject_alt_names)}")
    return ", ".join(parts)


def _weakened(old: TlsOrigination, new: TlsOrigination) -> list[str]:
    """How `new` checks the host less than `old` does."""
    out = []
    if old.mode == "MUTUAL" and new.mode == "SIMPLE":
        out.append("no client certificate any more (MUTUAL → SIMPLE)")
    if old.credential_name and not new.credential_name:
        out.append(f"the host is verified with the system roots, not `{old.credential_name}`")
    if old.subject_alt_names and not new.subject_alt_names:
        out.append("the certificate's subject alternative names are no longer checked")
    return out


def origination(ctx: DiffContext, name: str, old: EgressView, eg: EgressView) -> None:
    before, after = _origination_text(old), _origination_text(eg)
    if before != after:
        ctx.change(
            "egress",
            "egress-tls-origination",
            name,
            f"egress `{name}` TLS origination: {before} → {after}",
            old.tls_origination,
            eg.tls_origination,
        )
    plaintext = [p for p, proto in eg.ports if proto in ("http", "http2", "grpc")]
    if old.tls_origination is not None and eg.tls_origination is None and plaintext:
        ctx.risk(
            "tls-relaxed",
            name,
            f"egress `{name}`: TLS origination removed: the callers' plain HTTP on port(s) "
            f"{', '.join(map(str, plaintext))} now leaves the mesh unencrypted to {listed(eg.hosts)}",
        )
    elif old.tls_origination is not None and eg.tls_origination is not None:
        for weaker in _weakened(old.tls_origination, eg.tls_origination):
            ctx.risk("tls-relaxed", name, f"egress `{name}`: TLS origination weakened: {weaker}")


def traffic(ctx: DiffContext, name: str, old: EgressTraffic | None, new: EgressTraffic | None) -> None:
    """Each traffic setting towards the hosts, generically (every field declares `FieldMeta`)."""
    diff_values(
        ctx,
        EgressTraffic,
        reviewed_values(old) if old is not None else {},
        reviewed_values(new) if new is not None else {},
        kind="egress",
        subject=name,
        label=f"egress `{name}`",
    )


def diff(ctx: DiffContext) -> None:
    for name, old, eg in paired(ctx.base.egress, ctx.head.egress):
        if eg is None:
            if old is not None:
                ctx.change(
                    "egress",
                    "egress-removed",
                    name,
                    f"egress `{name}` removed ({listed(old.hosts)})",
                    egress_json(old),
                    None,
                )
            continue
        old_hosts = set(old.hosts) if old else set()
        old_callers = set(old.callers) if old else set()
        if old is None:
            ctx.change(
                "egress",
                "egress-added",
                name,
                f"egress `{name}` added: {listed(eg.hosts)} ports {egress_ports_text(eg)} "
                f"for {listed(eg.callers, code=True)}"
                + (f", TLS originated ({_origination_text(eg)})" if eg.tls_origination else ""),
                None,
                egress_json(eg),
            )
        else:
            for host in eg.hosts:
                if host not in old_hosts:
                    ctx.change(
                        "egress",
                        "egress-host-added",
                        name,
                        f"egress `{name}`: host `{host}` added",
                        None,
                        host,
                    )
            for host in old.hosts:
                if host not in eg.hosts:
                    ctx.change(
                        "egress",
                        "egress-host-removed",
                        name,
                        f"egress `{name}`: host `{host}` removed",
                        host,
                        None,
                    )
            for caller in eg.callers:
                if caller not in old_callers:
                    ctx.change(
                        "egress",
                        "egress-caller-added",
                        name,
                        f"egress `{name}`: caller `{caller}` added",
                        None,
                        caller,
                    )
            for caller in old.callers:
                if caller not in eg.callers:
                    ctx.change(
                        "egress",
                        "egress-caller-removed",
                        name,
                        f"egress `{name}`: caller `{caller}` removed",
                        caller,
                        None,
                    )
            if old.ports != eg.ports:
                ctx.change(
                    "egress",
                    "egress-ports",
                    name,
                    f"egress `{name}` ports: {egress_ports_text(old)} → {egress_ports_text(eg)}",
                    egress_ports_text(old),
                    egress_ports_text(eg),
                )
            if old.via_gateway != eg.via_gateway:
                ctx.change(
                    "egress",
                    "egress-gateway",
                    name,
                    f"egress `{name}`: "
                    + (
                        "now through an egress gateway"
                        if eg.via_gateway
                        else "no longer through an egress gateway"
                    ),
                    old.via_gateway,
                    eg.via_gateway,
                )
            if old.namespace != eg.namespace:
                ctx.change(
                    "egress",
                    "egress-moved",
                    name,
                    f"egress `{name}` moved: namespace `{old.namespace}` → `{eg.namespace}`",
                    old.namespace,
                    eg.namespace,
                )
        new_hosts = [h for h in eg.hosts if h not in old_hosts]
        new_callers = [c for c in eg.callers if c not in old_callers]
        for host in new_hosts:
            if host.startswith("*") or host == "*":
                ctx.risk(
                    "egress-widened",
                    name,
                    f"wildcard egress host `{host}` "
                    f"(egress `{name}`, callers {listed(eg.callers, code=True)})",
                )
            else:
                ctx.risk(
                    "egress-widened",
                    name,
                    f"new egress host `{host}` (egress `{name}`, callers {listed(eg.callers, code=True)})",
                )
        if old is not None and new_callers:
            ctx.risk(
                "egress-widened",
                name,
                f"{listed(new_callers, code=True)} may now call {listed(eg.hosts)} (egress `{name}`)",
            )
        if old is not None:
            old_ports = set(old.ports)
            added_ports = [p for p in eg.ports if p not in old_ports]
            if added_ports:
                ctx.risk(
                    "egress-widened",
                    name,
                    f"egress `{name}` opens port(s) " + ", ".join(f"{p}/{proto}" for p, proto in added_ports),
                )
            diff_values(
                ctx, Egress, old.values, eg.values, kind="egress", subject=name, label=f"egress `{name}`"
            )
            origination(ctx, name, old, eg)
            traffic(ctx, name, old.traffic, eg.traffic)
