"""A call's path or method, or a route's path match, that no request can ever have.

Why: request paths always start with `/`, so `paths: ["charge"]` or `match: [{path: {prefix:
api}}]` never matches: the declared call is denied on every request (authorization allows only
the paths listed) and the route never takes a request. A gRPC request's path is
`/<package>.<Service>/<Method>` and its method is always POST, so an HTTP-style path
(`/v1/charges`, `/api/orders/*`) or a `GET` on a call to a gRPC port denies the call just the same.
AuthorizationPolicy paths are exact, `prefix*`, `*suffix` or `*`. A service without a package is
taken for one when capitalised (`/Greeter/SayHello`); `/v1/quote` reads as an HTTP path.

Example:
    calls:
      - { service: payments, paths: ["charge"] }                  # never matches: "/charge"
      - { service: pricing, paths: ["/v1/quote"] }                # pricing speaks gRPC
      - { service: pricing, paths: ["/shop.Pricing/Quote"] }      # matches

Fix: start every path with `/`; on gRPC calls name `/package.Service/Method` (or
`/package.Service/*`) and leave `methods` out (or POST).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshc.spec.models import StringMatch, Traffic

from ..index import call_ports
from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, focused, route_label, service_traffic

CODE = "MC182"
NAME = "unmatchable-path"
SEVERITY = "error"
SCOPE = "namespace"

GRPC = frozenset({"grpc", "grpc-web"})


def _never_http(path: str) -> bool:
    """No request path starts like this: exact and prefix paths must begin with `/`."""
    return path != "*" and not path.startswith("*") and not path.startswith("/")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PARTIAL = re.compile(r"^[A-Za-z0-9_.]*$")


def _grpc_service(name: str) -> bool:
    """A protobuf service's full name: `package.Service`; without a package, a capitalised name
    (`Greeter`), since a lower-case single word (`v1`, `api`) is an HTTP path's segment."""
    return bool(_SERVICE.match(name)) and ("." in name or name[0].isupper())


def _never_grpc(path: str) -> bool:
    """No gRPC path (`/<package>.<Service>/<Method>`) is, starts or ends like this."""
    if path == "*":
        return False
    if path.endswith("*"):  # a prefix: part of `/service/method`
        parts = path[:-1].split("/")
        if parts[0] != "" or len(parts) > 3 or not all(_PARTIAL.match(p) for p in parts):
            return True
        return len(parts) == 3 and not _grpc_service(parts[1])
    if path.startswith("*"):  # a suffix: the method, maybe after `/` and the end of the service
        parts = path[1:].split("/")
        return len(parts) > 2 or not all(_PARTIAL.match(p) for p in parts) or not parts[-1]
    parts = path.split("/")
    return len(parts) != 3 or parts[0] != "" or not _grpc_service(parts[1]) or not _IDENT.match(parts[2])


def _route_path(sm: StringMatch | None) -> str | None:
    """A route's exact or prefix path that does not start with `/`."""
    if sm is None:
        return None
    for value in (sm.exact, sm.prefix):
        if value and not value.startswith("/"):
            return value
    return None


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, label in blocks:
        for i, route in enumerate(traffic.routes):
            for k, m in enumerate(route.match):
                bad = _route_path(m.path)
                if bad is not None:
                    yield _route_finding(
                        (*base, "routes", i, "match", k, "path"),
                        f"{route_label(route.name, i)} of {label}",
                        bad,
                    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The calls and traffic blocks of the services."""
    index = ctx.index
    for caller in focused(ctx):
        for j, call in enumerate(caller.model.calls):
            base: Path = (*caller.path, "calls", j)
            callee = index.resolve(call.service)
            ports = call_ports(callee, call) if callee is not None else []
            grpc = bool(ports) and all(p.protocol in GRPC for p in ports)
            if call.protocol is not None:
                grpc = call.protocol in GRPC
            for k, path in enumerate(call.paths):
                if _never_http(path):
                    yield Finding(
                        (*base, "paths", k),
                        f"path {path!r} of the call from '{caller.key}' to '{call.service}' never "
                        "matches: request paths start with '/', so every request of this call is denied",
                        f"write '/{path}' (a suffix starts with '*': '*/{path}')",
                    )
                elif grpc and _never_grpc(path):
                    yield Finding(
                        (*base, "paths", k),
                        f"path {path!r} of the call from '{caller.key}' to '{call.service}' never "
                        "matches: the call speaks gRPC, whose paths are /<package>.<Service>/<Method>, "
                        "so every request of this call is denied",
                        "name the gRPC method, e.g. '/shop.Pricing/Quote', or the service, '/shop.Pricing/*'",
                    )
            if grpc:
                for k, method in enumerate(call.methods):
                    if method.upper() != "POST":
                        yield Finding(
                            (*base, "methods", k),
                            f"method {method!r} of the call from '{caller.key}' to '{call.service}' "
                            "never matches: every gRPC request is a POST, so the call is denied",
                            "leave `methods` out of gRPC calls (or write POST)",
                        )
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic` and the gateways."""
    yield from _blocks(defaults_traffic(ctx))
    for g, gateway in enumerate(ctx.mesh.spec.gateways):
        for i, groute in enumerate(gateway.routes):
            for k, m in enumerate(groute.match):
                bad = _route_path(m.path)
                if bad is not None:
                    yield _route_finding(
                        ("spec", "gateways", g, "routes", i, "match", k, "path"),
                        f"{route_label(groute.name, i)} of gateway '{gateway.name}'",
                        bad,
                    )


def _route_finding(path: Path, where: str, value: str) -> Finding:
    return Finding(
        path,
        f"the path match {value!r} of {where} never matches: request paths start with '/'",
        f"write '/{value}'",
    )
