"""Egress: external hosts, their callers and ports (anything new a caller may reach is a risk),
and every `Egress` field declared `FieldMeta(review="value")` (compared generically)."""

from __future__ import annotations

from meshc.spec.models import Egress

from .base import DiffContext, diff_values, paired
from .fmt import egress_json, egress_ports_text, listed


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
                f"for {listed(eg.callers, code=True)}",
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
