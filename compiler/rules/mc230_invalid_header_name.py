"""A header in `headers` or `cors` that is not an HTTP header name, or a value that splits it.

Why: Envoy only accepts header names that are HTTP tokens (letters, digits and
``!#$%&'*+-.^_`|~``): a name with a space, a colon or a non-ASCII letter is rejected by Istio, and
the whole VirtualService with it. Pseudo-headers (`:path`, `:authority`) and `host` are not
headers to set or remove: the path and the host are changed with `rewrite`. A value holding a
carriage return or a line feed would start a second header (header injection). Envoy reads `%`
in a value as the start of a variable (`%REQ(x-id)%`): a lone `%` makes Envoy reject the route,
so a literal percent is written `%%`. A CORS
`allowHeaders`/`exposeHeaders` entry that is not a token never matches a header the browser asks
about. `host` cannot be changed with `headers` either.

Example:
    traffic:
      headers:
        request:
          set: { "x user": "1" }              # a space: not a header name
          remove: [host]                       # use rewrite.authority

Fix: write the header's real name (`x-user`); change the path or host with `rewrite`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshc.spec.models import HeaderOperations, Headers, Route, Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC230"
NAME = "invalid-header-name"
SEVERITY = "error"
SCOPE = "namespace"

_ENVOY_VARIABLE = re.compile(r"%%|%[A-Z][A-Z0-9_]*(\([^)]*\))?(:[0-9]+)?%")
"""A literal percent (`%%`) or an Envoy command operator (`%REQ(x-id)%`, `%START_TIME%`)."""
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP field name (RFC 9110 `token`)."""
_NOT_BY_HEADERS = frozenset({"host"})
"""Headers that `rewrite` changes, not `headers` (pseudo-headers start with `:`, not a token)."""


def _name_problem(name: str) -> str | None:
    if not TOKEN.match(name):
        return "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    if name.lower() in _NOT_BY_HEADERS:
        return "cannot be changed with `headers`: use `rewrite.authority`"
    return None


def _operations(ops: HeaderOperations, base: Path, where: str) -> Iterator[Finding]:
    for op, names in (("set", list(ops.set)), ("add", list(ops.add)), ("remove", list(ops.remove))):
        for k, name in enumerate(names):
            path = (*base, op, name) if op != "remove" else (*base, op, k)
            problem = _name_problem(name)
            if problem is not None:
                yield Finding(
                    path,
                    f"header {name!r} in `{op}` of {where} {problem}",
                    "write the header's real name; change the path or host with `rewrite`",
                )
    for op, values in (("set", ops.set), ("add", ops.add)):
        for name, value in values.items():
            if any(c in value for c in "\r\n\0"):
                yield Finding(
                    (*base, op, name),
                    f"the value of header {name!r} in `{op}` of {where} holds a line break or NUL, "
                    "which would start another header",
                    "write the value on one line",
                )
            elif "%" in _ENVOY_VARIABLE.sub("", value):
                yield Finding(
                    (*base, op, name),
                    f"the value of header {name!r} in `{op}` of {where} has a `%` that starts no "
                    "Envoy variable: Envoy rejects the route",
                    "write a literal percent as `%%`",
                )


def _headers(headers: Headers | None, base: Path, where: str) -> Iterator[Finding]:
    if headers is None:
        return
    for side, ops in (("request", headers.request), ("response", headers.response)):
        if ops is not None:
            yield from _operations(ops, (*base, "headers", side), f"the {side} headers of {where}")


def _cors(block: Traffic | Route, base: Path, where: str) -> Iterator[Finding]:
    if block.cors is None:
        return
    for key, names in (
        ("allowHeaders", block.cors.allow_headers),
        ("exposeHeaders", block.cors.expose_headers),
    ):
        for k, name in enumerate(names):
            if name != "*" and not TOKEN.match(name):
                yield Finding(
                    (*base, "cors", key, k),
                    f"{name!r} in `cors.{key}` of {where} is not an HTTP header name",
                    "write the header's real name (or `*`)",
                )


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        yield from _headers(traffic.headers, base, owner)
        yield from _cors(traffic, base, owner)
        for i, route in enumerate(traffic.routes):
            path = (*base, "routes", i)
            where = f"{route_label(route.name, i)} of {owner}"
            yield from _headers(route.headers, path, where)
            yield from _cors(route, path, where)


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
