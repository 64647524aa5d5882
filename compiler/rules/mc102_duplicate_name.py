"""Two services of one namespace, or versions, ports, gateways, egress entries, clusters share a name.

Why: names become Kubernetes object names and subset names. Two services named `cart` in one
namespace would compile to one Service overwriting the other; two versions `v2` give a
DestinationRule with a duplicated subset, which Istio rejects. The same service name in two
namespaces is two services (`foo/httpbin`, `bar/httpbin`; references say which: MC240).

Example:
    services:
      - name: cart
      - name: cart             # second declaration in the same namespace

Fix: rename or merge the duplicates, or put the second one in its own namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .base import Finding, RuleContext
from .walk import focused_entries

CODE = "MC102"
NAME = "duplicate-name"
SEVERITY = "error"
SCOPE = "namespace"


def _dupes(items: Iterable[tuple[tuple[str | int, ...], str]], what: str) -> Iterator[Finding]:
    first: dict[str, tuple[str | int, ...]] = {}
    for path, name in items:
        if name in first:
            yield Finding(path, f"duplicate {what} '{name}'", "each name may be declared once")
        else:
            first[name] = path


def check(ctx: RuleContext) -> Iterator[Finding]:
    """Services, and the versions and ports of each: all within one namespace."""
    spec = ctx.mesh.spec
    default_ns = spec.defaults.namespace
    first_service: dict[tuple[str, str], int] = {}
    entries = list(focused_entries(ctx))
    for i, svc in entries:
        identity = (svc.namespace or default_ns, svc.name)
        if identity in first_service:
            yield Finding(
                ("spec", "services", i, "name"),
                f"duplicate service '{svc.name}' in namespace '{identity[0]}'",
                "a name may be declared once per namespace (the same name in another namespace is a"
                " different service)",
            )
        else:
            first_service[identity] = i
    for i, svc in entries:
        base = ("spec", "services", i)
        yield from _dupes(
            (((*base, "versions", j, "name"), v.name) for j, v in enumerate(svc.versions)),
            f"version of service '{svc.name}':",
        )
        yield from _dupes(
            (((*base, "ports", j, "port"), str(p.port)) for j, p in enumerate(svc.ports)),
            f"port of service '{svc.name}':",
        )
        named = [((*base, "ports", j, "name"), p.name) for j, p in enumerate(svc.ports) if p.name]
        yield from _dupes(named, f"port name of service '{svc.name}':")


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """Gateways, egress entries, clusters and namespaces: mesh-wide names."""
    spec = ctx.mesh.spec
    yield from _dupes(
        ((("spec", "gateways", i, "name"), g.name) for i, g in enumerate(spec.gateways)), "gateway"
    )
    yield from _dupes(((("spec", "egress", i, "name"), e.name) for i, e in enumerate(spec.egress)), "egress")
    yield from _dupes(
        ((("spec", "clusters", i, "name"), c.name) for i, c in enumerate(spec.clusters)), "cluster"
    )
    yield from _dupes(
        ((("spec", "namespaces", i, "name"), n.name) for i, n in enumerate(spec.namespaces)), "namespace"
    )
