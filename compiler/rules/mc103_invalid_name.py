"""A name is not a valid Kubernetes name (DNS-1123 label) or a port name is not an IANA service name.

Why: service, version, namespace, account, gateway, egress, cluster and network names become
Kubernetes object names, namespaces, label values, subset names and output folders. The API
server rejects anything that is not a DNS-1123 label (at most 63 characters of lower-case
letters, digits and '-', starting and ending with a letter or digit), so `kubectl apply` would
fail half-way through a rollout. A service name also names a Kubernetes Service, which must start
with a letter (a DNS-1035 label). Port names must be IANA service names (at most 15 characters,
lower-case letters, digits and '-', at least one letter, no leading, trailing or doubled '-').

Example:
    services:
      - name: Cart_Service     # upper case and '_'
        ports:
          - { port: 8080, name: http-web-frontend-api }   # 21 characters

Fix: rename to a DNS-1123 label (`cart-service`) and shorten the port name (`http-web`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import Path, focused_entries

CODE = "MC103"
NAME = "invalid-name"
SEVERITY = "error"
SCOPE = "namespace"

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
IANA_SERVICE_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _label_problem(name: str) -> str | None:
    if len(name) > 63:
        return f"is {len(name)} characters long (at most 63)"
    if DNS1123_LABEL.fullmatch(name):
        return None
    if any(c.isupper() for c in name):
        return "has upper-case letters"
    bad = sorted({c for c in name if not (c.islower() or c.isdigit() or c == "-") or not c.isascii()})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad)
    return "must start and end with a letter or digit"


def _port_name_problem(name: str) -> str | None:
    if len(name) > 15:
        return f"is {len(name)} characters long (port names have at most 15)"
    if not IANA_SERVICE_NAME.fullmatch(name):
        return "must be lower-case letters, digits and single '-' between them"
    if not any("a" <= c <= "z" for c in name):
        return "must contain a letter"
    return None


def _suggestion(name: str, limit: int) -> str | None:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # édge -> edge
    fixed = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower())[:limit].strip("-")
    if limit == 15 and not re.search("[a-z]", fixed):
        return None
    return f"try '{fixed}'" if fixed and fixed != name else None


def _mesh_names(ctx: RuleContext) -> Iterator[tuple[Path, str, str]]:
    """(path, value, what) of every name outside `spec.services` that becomes a Kubernetes name."""
    spec = ctx.mesh.spec
    fields = spec.model_fields_set
    yield ("metadata", "name"), ctx.mesh.metadata.name, "mesh name"
    if "control_plane" in fields:
        cp = spec.control_plane
        yield ("spec", "controlPlane", "namespace"), cp.namespace, "namespace"
        yield ("spec", "controlPlane", "rootNamespace"), cp.root_namespace, "namespace"
    yield ("spec", "defaults", "namespace"), spec.defaults.namespace, "namespace"
    for i, cluster in enumerate(spec.clusters):
        yield ("spec", "clusters", i, "name"), cluster.name, "cluster name"
        yield ("spec", "clusters", i, "network"), cluster.network, "network name"
    for i, ns in enumerate(spec.namespaces):
        yield ("spec", "namespaces", i, "name"), ns.name, "namespace"
    for i, gw in enumerate(spec.gateways):
        base: Path = ("spec", "gateways", i)
        yield (*base, "name"), gw.name, "gateway name"
        if gw.namespace is not None:
            yield (*base, "namespace"), gw.namespace, "namespace"
        yield (*base, "workload", "namespace"), gw.workload.namespace, "namespace"
        yield (*base, "workload", "account"), gw.workload.account, "service account"
    for i, eg in enumerate(spec.egress):
        base = ("spec", "egress", i)
        yield (*base, "name"), eg.name, "egress name"
        if eg.namespace is not None:
            yield (*base, "namespace"), eg.namespace, "namespace"
        if eg.gateway is not None:
            yield (*base, "gateway", "namespace"), eg.gateway.namespace, "namespace"
            yield (*base, "gateway", "service"), eg.gateway.service, "service name"


def _service_names(ctx: RuleContext) -> Iterator[tuple[Path, str, str]]:
    """(path, value, what) of the names each focused service entry writes."""
    for i, svc in focused_entries(ctx):
        base: Path = ("spec", "services", i)
        yield (*base, "name"), svc.name, "service name"
        if svc.namespace is not None:
            yield (*base, "namespace"), svc.namespace, "namespace"
        if svc.account is not None:
            yield (*base, "account"), svc.account, "service account"
        for j, version in enumerate(svc.versions):
            yield (*base, "versions", j, "name"), version.name, "version name"


def _check_names(names: Iterator[tuple[Path, str, str]]) -> Iterator[Finding]:
    for path, name, what in names:
        problem = _label_problem(name)
        if problem is None and what == "service name" and not name[0].isalpha():
            # It also names a Kubernetes Service, whose names are DNS-1035 labels.
            yield Finding(
                path,
                f"{what} '{name}' is not a valid Kubernetes Service name: it starts with a digit",
                "start the name with a letter (a DNS-1035 label), e.g. 'svc-" + name + "'",
            )
        if problem is not None:
            hint = "use lower-case letters, digits and '-', starting and ending with a letter or digit"
            suggestion = _suggestion(name, 63)
            yield Finding(
                path,
                f"{what} '{name}' is not a valid DNS-1123 label: it {problem}",
                f"{suggestion}; {hint}" if suggestion else hint,
            )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The names and port names of the services."""
    yield from _check_names(_service_names(ctx))
    for i, svc in focused_entries(ctx):
        for j, port in enumerate(svc.ports):
            if port.name is None:
                continue
            problem = _port_name_problem(port.name)
            if problem is not None:
                suggestion = _suggestion(port.name, 15)
                yield Finding(
                    ("spec", "services", i, "ports", j, "name"),
                    f"port name '{port.name}' of service '{svc.name}' is not an IANA service name: "
                    f"it {problem}",
                    (f"{suggestion}; " if suggestion else "")
                    + "at most 15 lower-case letters, digits and '-', with at least one letter",
                )


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The names outside `spec.services`."""
    yield from _check_names(_mesh_names(ctx))
