"""A service's telemetry override names no provider and the mesh's telemetry has none to inherit.

Why: a per-service block without `provider` keeps the mesh's provider: meshc writes no
`providers` and Istio takes the namespace's (or the root's) Telemetry's. When `spec.telemetry`
does not set that section, Istio falls back to `meshConfig.defaultProviders`, which meshc cannot
see and which, in Istio's default install, lists no tracing or access-log provider: the override
(a higher sampling rate, say) silently does nothing.

Example:
    services:
      - name: web
        telemetry:
          tracing: { sampling: 50 }      # and no spec.telemetry.tracing

Fix: name the provider in the override (`provider: zipkin`), or set the section in
`spec.telemetry` so the override inherits it.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .mc203_undefined_telemetry_provider import references
from .walk import focused_entries

CODE = "MC209"
NAME = "override-without-provider"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    mesh = ctx.mesh.spec.telemetry
    inherited = {section for section, _ in references(mesh)} if mesh is not None else set()
    for i, svc in focused_entries(ctx):
        if svc.telemetry is None:
            continue
        for section, provider in references(svc.telemetry):
            if provider is None and section not in inherited:
                yield Finding(
                    ("spec", "services", i, "telemetry", section),
                    f"service '{svc.name}' overrides {section} without a provider, and spec.telemetry "
                    f"sets no {section} to inherit: Istio's defaultProviders decide, if any",
                    f"name the provider here, or set spec.telemetry.{section}",
                )
