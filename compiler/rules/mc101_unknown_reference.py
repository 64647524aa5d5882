"""A reference names a service, version, port or gateway that the spec does not declare.

Why: Istio accepts dangling names silently. A VirtualService routing to a subset that no
DestinationRule defines answers 503 at run time; an AuthorizationPolicy or Sidecar naming a
service that does not exist allows nothing useful. Catching the typo at review time is cheaper.
Versions named in `spec.defaults.traffic` must exist in every service that inherits them.

Example:
    calls:
      - service: detail        # the service is called `details`
      - service: baz/httpbin   # no namespace `baz` holds a service `httpbin`

Fix: correct the name, or declare the missing service, version or port.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from meshc.spec.models import Traffic, split_reference
from meshc.spec.suggest import Suggester, did_you_mean

from ..index import ServiceInfo
from .base import Finding, RuleContext
from .walk import DEFAULTS_TRAFFIC, focused

CODE = "MC101"
NAME = "unknown-reference"
SEVERITY = "error"
SCOPE = "namespace"


DECLARE = "declare it, or correct the name"


def _suggest(name: str, known: Iterable[str], otherwise: str = DECLARE) -> str:
    """For a small set (a service's versions): one bounded search."""
    return did_you_mean(Suggester(known).suggest(name), otherwise) or otherwise


def _versions(info: ServiceInfo) -> set[str]:
    return {v.name for v in info.versions}


def _version_refs(info: ServiceInfo) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every version name the service's effective traffic refers to, with the path where it is
    written: the service's own traffic block, or `spec.defaults.traffic` for inherited fields."""
    traffic = info.traffic
    own = info.model.traffic
    mine = own.model_fields_set if own is not None else set()

    def base(name: str) -> tuple[str | int, ...]:
        return (*info.path, "traffic", name) if name in mine else (*DEFAULTS_TRAFFIC, name)

    for version in traffic.split or {}:
        yield ((*base("split"), version), version)
    if traffic.mirror is not None:
        yield ((*base("mirror"), "version"), traffic.mirror.version)
    for i, route in enumerate(traffic.routes):
        if route.to is not None:
            yield ((*base("routes"), i, "to"), route.to)
        for version in route.split or {}:
            yield ((*base("routes"), i, "split", version), version)
        if route.mirror is not None:
            yield ((*base("routes"), i, "mirror", "version"), route.mirror.version)


def _inherited(missing: dict[tuple[tuple[str | int, ...], str], list[str]]) -> Iterator[Finding]:
    """One finding per version named in `spec.defaults.traffic` that some services do not declare."""
    for (path, version), names in missing.items():
        shown = ", ".join(f"'{n}'" for n in names[:5]) + (
            f" and {len(names) - 5} more" if len(names) > 5 else ""
        )
        what = (
            f"service {shown}, which inherits"
            if len(names) == 1
            else f"{len(names)} services ({shown}), which inherit"
        )
        yield Finding(
            path,
            f"version '{version}' from spec.defaults.traffic is not declared by {what} it",
            "declare the version in those services, or set their own `traffic` to override the default",
        )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """What the services write about known services: the ports of their calls, the versions of their
    own traffic, the ports of their `portMtls`. (Unknown services get their did-you-mean from one
    budget for the whole mesh, so they are `check_mesh`'s.)"""
    index = ctx.index
    for info in focused(ctx):
        for j, call in enumerate(info.model.calls):
            callee = index.resolve(call.service)
            if callee is None:
                continue  # unknown (check_mesh) or ambiguous (MC240)
            known_ports = {p.number for p in callee.ports}
            for k, port in enumerate(call.ports):
                if port not in known_ports:
                    yield Finding(
                        (*info.path, "calls", j, "ports", k),
                        f"service '{callee.key}' has no port {port}",
                        f"its ports are {sorted(known_ports)}" if known_ports else "it declares no ports",
                    )
        versions = _versions(info)
        for path, version in _version_refs(info):
            if version in versions or path[:3] == DEFAULTS_TRAFFIC:
                continue  # inherited from the defaults: check_mesh reports them together
            yield Finding(
                path,
                f"service '{info.key}' has no version '{version}'",
                _suggest(
                    version,
                    versions,
                    f"declared versions: {sorted(versions)}" if versions else "declare it under versions",
                ),
            )
        security = info.model.security
        if security is not None:
            known_ports = {p.number for p in info.ports}
            for k, entry in enumerate(security.port_mtls):
                if entry.port not in known_ports:
                    yield Finding(
                        (*info.path, "security", "portMtls", k, "port"),
                        f"service '{info.key}' has no port {entry.port}",
                        f"its ports are {sorted(known_ports)}" if known_ports else "it declares no ports",
                    )


def _names_versions(traffic: Traffic | None) -> bool:
    """Whether a traffic block names versions (a split, a mirror, routes)."""
    return traffic is not None and bool(traffic.split or traffic.mirror or traffic.routes)


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """Unknown services, wherever they are named, and the versions of `spec.defaults.traffic`."""
    index = ctx.index
    services = index.services
    # one index and one budget for every unknown service: bare names, and `namespace/name`; each
    # built on its first unknown reference (most specs have none)
    suggesters: dict[bool, Suggester] = {}

    def unknown_service(ref: str) -> str:
        namespace, _ = split_reference(ref)
        qualified = namespace is not None
        if qualified not in suggesters:
            suggesters[qualified] = Suggester(index.qualified_names if qualified else index.by_name)
        found = suggesters[qualified].suggest(ref)
        return did_you_mean(found, DECLARE) or DECLARE

    def unknown(ref: str) -> bool:
        """No service answers the reference (an ambiguous bare name is MC240's, not unknown)."""
        return index.resolve(ref) is None and not index.namespaces_holding(ref)

    for edge in index.unresolved_calls:  # the calls of every service that resolve to none, in order
        info, j, call = edge.caller, edge.call_index, edge.call
        if unknown(call.service):
            yield Finding(
                (*info.path, "calls", j, "service"),
                f"service '{info.key}' calls unknown service '{call.service}'",
                unknown_service(call.service),
            )
    missing: dict[tuple[tuple[str | int, ...], str], list[str]] = {}
    if _names_versions(ctx.mesh.spec.defaults.traffic):
        for info in services.values():
            versions = _versions(info)
            for path, version in _version_refs(info):
                if version not in versions and path[:3] == DEFAULTS_TRAFFIC:
                    missing.setdefault((path, version), []).append(info.name)
    yield from _inherited(missing)
    for gi, gateway in enumerate(ctx.mesh.spec.gateways):
        for ri, route in enumerate(gateway.routes):
            path = ("spec", "gateways", gi, "routes", ri, "to")
            target = index.resolve(route.to.service)
            if target is None and unknown(route.to.service):
                yield Finding(
                    (*path, "service"),
                    f"gateway '{gateway.name}' routes to unknown service '{route.to.service}'",
                    unknown_service(route.to.service),
                )
            elif (
                target is not None
                and route.to.port is not None
                # `target.port(...) is None`, on the declared ports: nothing to resolve
                and all(p.port != route.to.port for p in target.model.ports)
            ):
                yield Finding(
                    (*path, "port"),
                    f"service '{target.key}' has no port {route.to.port}",
                    f"its ports are {sorted(p.number for p in target.ports)}",
                )
    for ei, egress in enumerate(ctx.mesh.spec.egress):
        for ci, caller in enumerate(egress.callers):
            if unknown(caller):
                yield Finding(
                    ("spec", "egress", ei, "callers", ci),
                    f"egress '{egress.name}' allows unknown service '{caller}'",
                    unknown_service(caller),
                )
