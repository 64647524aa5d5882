"""A telemetry provider name is empty or not a plain name.

Why: tracing, access-logging and metrics providers become the `providers[].name` of Istio
Telemetry resources, which must name an extension provider of the mesh config. Istio's CRD refuses
an empty name (the Telemetry would not apply), and a name with spaces or control characters can
never match a provider, so the telemetry would silently go nowhere.

Example:
    telemetry:
      accessLogging: { provider: "" }

Fix: name a provider of the mesh config (`envoy`, `otel`, `zipkin`, `prometheus`...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mesh_spec.models import Telemetry

from .base import Finding, RuleContext
from .walk import Path

CODE = "MC145"
NAME = "invalid-telemetry-provider"
SEVERITY = "error"

_PROVIDER = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def _telemetry(ctx: RuleContext) -> Iterator[tuple[Path, Telemetry]]:
    spec = ctx.mesh.spec
    if spec.telemetry is not None:
        yield ("spec", "telemetry"), spec.telemetry
    for i, svc in enumerate(spec.services):
        if svc.telemetry is not None:
            yield ("spec", "services", i, "telemetry"), svc.telemetry


def check(ctx: RuleContext) -> Iterator[Finding]:
    for path, telemetry in _telemetry(ctx):
        for field, block in (
            ("tracing", telemetry.tracing),
            ("accessLogging", telemetry.access_logging),
            ("metrics", telemetry.metrics),
        ):
            if block is None or _PROVIDER.fullmatch(block.provider):
                continue
            shown = repr(block.provider if len(block.provider) <= 80 else block.provider[:80] + "…")
            yield Finding(
                (*path, field, "provider"),
                f"{field} provider {shown} is not a provider name",
                "name an extension provider of the mesh config, e.g. envoy, otel, zipkin or prometheus",
            )
