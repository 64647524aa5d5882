"""A rule that injects a fault and also sets a timeout or retries: Istio applies only the fault.

Why: fault injection runs in the caller's proxy before routing, and Istio documents that
"timeouts or retries will not be enabled when faults are enabled on the client side"
(HTTPRoute.fault; istio/istio#13705): an injected abort is never retried and an injected delay is
not cut short by the timeout. A resilience test written this way shows the failures the retries
were meant to hide, and proves nothing about them. Flagged where both are written together: in one
traffic block (`spec.defaults.traffic` or a service's `traffic`), or in one route (its own settings,
or its own timeout or retries beside the block's fault). Settings a route only inherits from a
wider level are meant for the other rules and are not flagged.

Example:
    traffic:
      fault: { abort: { status: 503, percent: 50 } }
      retries: { attempts: 3, perTryTimeout: 1s }     # never retries the injected 503s

Fix: inject the fault in the callee's own service (a route the caller's retries then see), or
test the retries without fault injection; remove the timeout or retries from the faulty rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Fault, Retries, Route, Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, route_label, service_traffic

CODE = "MC181"
NAME = "fault-disables-retries"
SEVERITY = "warning"
SCOPE = "namespace"


def _active(fault: Fault | None) -> bool:
    return fault is not None and (fault.delay is not None or fault.abort is not None)


def _settings(block: Traffic | Route) -> list[str]:
    """The timeout and retries a block writes itself (`attempts: 0` retries nothing)."""
    out = []
    if block.timeout:
        out.append("timeout")
    retries: Retries | None = block.retries
    if retries is not None and retries.attempts > 0:
        out.append("retries")
    return out


def _finding(path: Path, where: str, settings: list[str]) -> Finding:
    what = " and ".join(f"`{s}`" for s in settings)
    return Finding(
        path,
        f"{where} injects a fault and sets {what}: Istio does not apply {what} to a rule with "
        "fault injection (an injected abort is not retried, an injected delay is not timed out)",
        f"inject the fault where the retries can see it (in the callee), or remove {what} from this rule",
    )


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, label in blocks:
        own = _settings(traffic)
        if _active(traffic.fault) and own:
            yield _finding((*base, "fault"), label, own)
        for i, route in enumerate(traffic.routes):
            here: Path = (*base, "routes", i)
            where = f"{route_label(route.name, i)} of {label}"
            settings = _settings(route)
            if _active(route.fault) and settings:
                yield _finding((*here, "fault"), where, settings)
            elif route.fault is None and _active(traffic.fault) and settings:
                yield _finding((*here, settings[0]), where, settings)


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic`."""
    yield from _blocks(defaults_traffic(ctx))
