"""A declared telemetry provider sets no kind or several, or two providers share a name.

Why: an entry of `telemetry.providers` becomes one `meshConfig.extensionProviders` entry, which
is exactly one kind of backend (`zipkin`, `opentelemetry`, `envoyFileAccessLog`...). Istio
refuses an entry with none or several, and with two entries of one name only one is used: the
Telemetry resources would send to a backend nobody reviewed.

Example:
    telemetry:
      providers:
        - name: traces
          zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 }
          opentelemetry: { service: otel.observability.svc.cluster.local, port: 4317 }

Fix: give each provider one kind and a name of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lower.providers import kinds
from .base import Finding, RuleContext

CODE = "MC205"
NAME = "invalid-extension-provider"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    telemetry = ctx.mesh.spec.telemetry
    if telemetry is None:
        return
    seen: set[str] = set()
    for i, provider in enumerate(telemetry.providers):
        path = ("spec", "telemetry", "providers", i)
        found = kinds(provider)
        if len(found) != 1:
            yield Finding(
                path,
                f"provider '{provider.name}' "
                + ("sets no kind" if not found else f"sets {len(found)} kinds"),
                "give it exactly one of zipkin, opentelemetry, datadog, skywalking, "
                "envoyFileAccessLog, envoyOtelAls or prometheus",
            )
        if provider.name in seen:
            yield Finding(
                (*path, "name"),
                f"provider '{provider.name}' is declared twice",
                "give each provider its own name",
            )
        seen.add(provider.name)
