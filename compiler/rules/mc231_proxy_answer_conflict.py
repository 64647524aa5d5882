"""A route answers with a `redirect` or `directResponse` but also says how to call the service.

Why: a redirect or a direct response is answered by the caller's proxy; the service is never
called. `to`, `split`, `rewrite`, `timeout`, `retries`, `fault` and `mirror` describe that call,
so next to a redirect they are meaningless, and Istio rejects the VirtualService for some of them
(a route and a redirect, a fault and a redirect, a rewrite and a redirect). A route with both a
redirect and a direct response cannot do both. (The service's own `timeout`, `retries`, `fault`
and `mirror` are not applied to such a route; its `headers` and `cors` are.)

Example:
    routes:
      - match: [{ path: { prefix: /old } }]
        redirect: { uri: /new }
        to: v2                                 # the proxy answers: nothing goes to v2

Fix: keep the redirect (or the direct response) alone, or drop it to route the request.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Route, Traffic, wire_name

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC231"
NAME = "proxy-answer-conflict"
SEVERITY = "error"
SCOPE = "namespace"

CALL_FIELDS = ("to", "split", "rewrite", "timeout", "retries", "fault", "mirror")
"""Route fields that describe calling the service."""


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        for i, route in enumerate(traffic.routes):
            answers = [name for name in ("redirect", "direct_response") if getattr(route, name) is not None]
            if not answers:
                continue
            path = (*base, "routes", i)
            label = f"{route_label(route.name, i)} of {owner}"
            first = wire_name(Route, answers[0])
            if len(answers) > 1:
                yield Finding(
                    (*path, "directResponse"),
                    f"{label} sets both `redirect` and `directResponse`",
                    "keep one of them",
                )
            for name in CALL_FIELDS:
                if getattr(route, name) is not None:
                    key = wire_name(Route, name)
                    yield Finding(
                        (*path, key),
                        f"{label} answers with `{first}` (the service is not called), so its `{key}` "
                        "has no effect",
                        f"remove `{key}`, or remove `{first}` to route the request",
                    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
