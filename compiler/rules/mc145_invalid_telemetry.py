"""A telemetry provider name is not a plain name, or a metric tag override has no value.

Why: tracing, access-logging and metrics providers become the `providers[].name` of Istio
Telemetry resources, which must name an extension provider of the mesh config. Istio's CRD refuses
an empty name (the Telemetry would not apply), and a name with spaces or control characters can
never match a provider, so the telemetry would silently go nowhere. A metric tag override is an
UPSERT of the tag with the given expression: Istio refuses one without a value.

Example:
    telemetry:
      accessLogging: { provider: "" }
      metrics:
        overrides: [{ tags: { team: "" } }]

Fix: name a provider of the mesh config (`envoy`, `otel`, `zipkin`, `prometheus`...); give each
tag override an expression (`"'payments'"`), or list the tag under `removeTags` to drop it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshc.spec.models import Telemetry, TelemetryOverride

from .base import Finding, RuleContext
from .walk import Path, focused_entries

CODE = "MC145"
NAME = "invalid-telemetry"
SEVERITY = "error"
SCOPE = "namespace"

PROVIDER_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' telemetry."""
    for i, svc in focused_entries(ctx):
        if svc.telemetry is not None:
            yield from _check(("spec", "services", i, "telemetry"), svc.telemetry)


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.telemetry`."""
    if ctx.mesh.spec.telemetry is not None:
        yield from _check(("spec", "telemetry"), ctx.mesh.spec.telemetry)


def _check(path: Path, telemetry: Telemetry | TelemetryOverride) -> Iterator[Finding]:
    for field, block in (
        ("tracing", telemetry.tracing),
        ("accessLogging", telemetry.access_logging),
        ("metrics", telemetry.metrics),
    ):
        if block is None or block.provider is None or PROVIDER_NAME.fullmatch(block.provider):
            continue
        shown = repr(block.provider if len(block.provider) <= 80 else block.provider[:80] + "…")
        yield Finding(
            (*path, field, "provider"),
            f"{field} provider {shown} is not a provider name",
            "name an extension provider of the mesh config, e.g. envoy, otel, zipkin or prometheus",
        )
    overrides = telemetry.metrics.overrides if telemetry.metrics is not None else []
    for k, override in enumerate(overrides):
        for tag in sorted(override.tags):
            if not override.tags[tag].strip():
                yield Finding(
                    (*path, "metrics", "overrides", k, "tags", tag),
                    f"metric tag override '{tag}' has no value",
                    "give it an expression, e.g. \"'payments'\", or list the tag under removeTags",
                )
        for r, tag in enumerate(override.remove_tags):
            if not tag.strip():
                yield Finding(
                    (*path, "metrics", "overrides", k, "removeTags", r),
                    "an empty tag name under removeTags",
                    "name the tag to remove, e.g. request_protocol",
                )
