"""A Telemetry section names a provider of another kind (a tracer for access logs, say).

Why: each extension provider serves one purpose: `zipkin`, `opentelemetry`, `datadog` and
`skywalking` trace; `envoyFileAccessLog` and `envoyOtelAls` (and the built-in `envoy`) write
access logs; `prometheus` serves metrics. Istio ignores a provider in a section it does not serve,
so tracing names an access log and produces no spans, with no error anywhere.

Example:
    telemetry:
      tracing: { provider: envoy }

Fix: name a provider of the section's kind, e.g. a declared `zipkin` provider for tracing.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Telemetry, TelemetryOverride

from ..lower.providers import uses
from .base import Finding, RuleContext
from .mc203_undefined_telemetry_provider import mesh_telemetry, references, service_telemetry
from .walk import Path

CODE = "MC204"
NAME = "telemetry-provider-kind"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' telemetry."""
    yield from _check(ctx, service_telemetry(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.telemetry`."""
    yield from _check(ctx, mesh_telemetry(ctx))


def _check(
    ctx: RuleContext, blocks: Iterator[tuple[Path, Telemetry | TelemetryOverride]]
) -> Iterator[Finding]:
    known = uses(ctx.mesh)
    for path, telemetry in blocks:
        for section, provider in references(telemetry):
            if provider is None or provider not in known or known[provider] == section:
                continue
            serves = known[provider]
            fitting = sorted(name for name, use in known.items() if use == section)
            yield Finding(
                (*path, section, "provider"),
                f"{section} names provider '{provider}', which serves {serves}: Istio ignores it here",
                f"name a provider that serves {section}"
                + (f": {', '.join(fitting)}" if fitting else " (declare one under spec.telemetry.providers)"),
            )
