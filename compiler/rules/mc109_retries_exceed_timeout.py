"""Retries cannot all run: (attempts + 1) x perTryTimeout exceeds the timeout of the same rule.

Why: Istio's `timeout` bounds the whole request, retries included. With `timeout: 5s`,
`attempts: 3` and `perTryTimeout: 2s`, the first try and the three retries could take 8s, so the
request is cut off after the second retry: the retry budget you configured does not exist, and the
caller sees a timeout where you expected a retry. Each rule is checked with its effective settings:
a route's own `retries`/`timeout`, else the service's (merged with `spec.defaults.traffic`).

Example:
    traffic:
      timeout: 5s
      retries: { attempts: 3, perTryTimeout: 2s }   # 4 tries x 2s = 8s > 5s

Fix: lower `attempts` or `perTryTimeout`, or raise `timeout` to at least (attempts + 1) x
perTryTimeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshc.spec.models import Retries, Route, Traffic, duration_seconds

from ..index import ServiceInfo
from .base import Finding, RuleContext
from .walk import DEFAULTS_TRAFFIC, Path, focused, route_label, seconds

CODE = "MC109"
NAME = "retries-exceed-timeout"
SEVERITY = "warning"
SCOPE = "namespace"

Setting = tuple[Any, Path, int]
"""(value, where it is written, level: 0 defaults, 1 service, 2 route)."""


def _finding(label: str, retries: Setting, timeout: Setting) -> Finding | None:
    r: Retries | None = retries[0]
    if r is None or timeout[0] is None or r.per_try_timeout is None or r.attempts == 0:
        return None
    per_try = duration_seconds(r.per_try_timeout)
    total = per_try * (r.attempts + 1)
    limit = duration_seconds(timeout[0])
    if total <= limit + 1e-9:
        return None
    if retries[2] >= timeout[2]:
        path: Path = (*retries[1], "perTryTimeout")
    else:
        path = timeout[1]
    return Finding(
        path,
        f"{label}: {r.attempts + 1} tries (1 + {r.attempts} retries) x {r.per_try_timeout} = "
        f"{seconds(total)} exceed the {timeout[0]} timeout, so the last retries never run",
        f"lower `attempts` or `perTryTimeout`, or raise `timeout` to at least {seconds(total)}",
    )


def _rules(
    label: str, traffic: Traffic, routes_path: Path, retries: Setting, timeout: Setting, level: int
) -> Iterator[tuple[str, Setting, Setting]]:
    """(label, retries, timeout) of the default rule and of each route of one traffic block."""
    yield label, retries, timeout
    for i, route in enumerate(traffic.routes):
        here = (*routes_path, i)
        yield (
            f"{route_label(route.name, i)} of {label}",
            _own(route, "retries", here, level) or retries,
            _own(route, "timeout", here, level) or timeout,
        )


def _own(route: Route, name: str, path: Path, level: int) -> Setting | None:
    value = getattr(route, name)
    return (value, (*path, name), level) if value is not None else None


def _setting(info: ServiceInfo, name: str) -> Setting:
    """A field of the service's merged traffic, and whether the service or the defaults wrote it."""
    own = info.model.traffic
    if own is not None and name in own.model_fields_set:
        return (getattr(info.traffic, name), (*info.path, "traffic", name), 1)
    return (getattr(info.traffic, name), (*DEFAULTS_TRAFFIC, name), 0)


def _once(rules: Iterator[tuple[str, Setting, Setting]]) -> Iterator[Finding]:
    """One finding per place: a route without its own settings repeats its block's finding."""
    reported: set[Path] = set()
    for label, retries, timeout in rules:
        finding = _finding(label, retries, timeout)
        if finding is not None and finding.path not in reported:
            reported.add(finding.path)
            yield finding


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services with traffic of their own. A finding of theirs where both settings come from
    `spec.defaults.traffic` is the same, at the same place, as `check_mesh`'s for the defaults
    (the merged values are the defaults' ones), so only findings at the service's own settings are
    theirs."""
    for info in focused(ctx):
        own = info.model.traffic
        if own is None or not info.http_ports:
            continue  # all from the defaults (check_mesh), or TCP only (MC115)
        routes_path = _setting(info, "routes")[1]
        route_level = 2 if "routes" in own.model_fields_set else 0
        retries, timeout = _setting(info, "retries"), _setting(info, "timeout")
        rules = _rules(f"service '{info.key}'", info.traffic, routes_path, retries, timeout, route_level)
        for finding in _once(rules):
            if finding.path[:3] == info.path:
                yield finding


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic` itself."""
    defaults = ctx.mesh.spec.defaults.traffic
    if defaults is not None:
        yield from _once(
            _rules(
                "the default traffic",
                defaults,
                (*DEFAULTS_TRAFFIC, "routes"),
                (defaults.retries, (*DEFAULTS_TRAFFIC, "retries"), 0),
                (defaults.timeout, (*DEFAULTS_TRAFFIC, "timeout"), 0),
                0,
            )
        )
