"""A tracing custom tag sets none or several of `literal`, `header` and `environment`, or is empty.

Why: a custom tag becomes an entry of the Telemetry's `tracing.customTags`, which takes exactly
one source: a literal value, a request header or a proxy environment variable. Istio's CRD
refuses an entry with several, or with an empty value or name; `defaultValue` only means something
for a header or a variable that may be absent.

Example:
    tracing:
      customTags:
        team: { literal: payments, header: x-team }

Fix: keep one source per tag, e.g. `team: { literal: payments }` or
`user: { header: x-user, defaultValue: anonymous }`.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Telemetry, TelemetryOverride

from .base import Finding, RuleContext
from .mc203_undefined_telemetry_provider import mesh_telemetry, service_telemetry
from .walk import Path

CODE = "MC208"
NAME = "invalid-custom-tag"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' telemetry."""
    yield from _check(service_telemetry(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.telemetry`."""
    yield from _check(mesh_telemetry(ctx))


def _check(blocks: Iterator[tuple[Path, Telemetry | TelemetryOverride]]) -> Iterator[Finding]:
    for path, telemetry in blocks:
        if telemetry.tracing is None:
            continue
        for name, tag in sorted(telemetry.tracing.custom_tags.items()):
            where = (*path, "tracing", "customTags", name)
            sources = {
                k: v
                for k, v in (
                    ("literal", tag.literal),
                    ("header", tag.header),
                    ("environment", tag.environment),
                )
                if v is not None
            }
            if len(sources) != 1:
                yield Finding(
                    where,
                    f"custom tag '{name}' "
                    + (
                        "has no source"
                        if not sources
                        else f"has {len(sources)} sources ({', '.join(sources)})"
                    ),
                    "give it exactly one of literal, header or environment",
                )
                continue
            ((kind, value),) = sources.items()
            if not value.strip():
                yield Finding((*where, kind), f"custom tag '{name}' has an empty {kind}", f"write the {kind}")
            if kind == "literal" and tag.default_value is not None:
                yield Finding(
                    (*where, "defaultValue"),
                    f"custom tag '{name}' is a literal: a defaultValue is never used",
                    "remove defaultValue, or take the value from a header or an environment variable",
                )
            if not name.strip():
                yield Finding(where, "a custom tag without a name", "name the tag")
