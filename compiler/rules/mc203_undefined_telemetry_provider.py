"""A Telemetry names a provider that is neither Istio's built-in nor declared in `telemetry.providers`.

Why: Istio looks every Telemetry provider up in `meshConfig.extensionProviders`. A name that is
not there is accepted by the API server and then does nothing: tracing silently stops, access
logs are not written. Only `envoy` (access log to stdout) and `prometheus` exist without
configuration; `zipkin`, `otel` and the like must be declared. Declaring them in the spec lets
meshc check every reference and print the fragment the cluster needs (`meshc mesh-config`).

Example:
    telemetry:
      tracing: { provider: zipkin }      # zipkin is nowhere declared

Fix: declare it, e.g.
`providers: [{ name: zipkin, zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 } }]`
under `spec.telemetry`, and install the fragment `meshc mesh-config SPEC` prints; or name a
declared provider.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Telemetry, TelemetryOverride

from ..lower.providers import uses
from .base import Finding, RuleContext
from .mc145_invalid_telemetry import PROVIDER_NAME
from .walk import Path, focused_entries

_ATTR = {"tracing": "tracing", "accessLogging": "access_logging", "metrics": "metrics"}

CODE = "MC203"
NAME = "undefined-telemetry-provider"
SEVERITY = "error"
SCOPE = "namespace"


def mesh_telemetry(ctx: RuleContext) -> Iterator[tuple[Path, Telemetry | TelemetryOverride]]:
    """`spec.telemetry`, with its path."""
    if ctx.mesh.spec.telemetry is not None:
        yield ("spec", "telemetry"), ctx.mesh.spec.telemetry


def service_telemetry(ctx: RuleContext) -> Iterator[tuple[Path, Telemetry | TelemetryOverride]]:
    """The telemetry of each focused service entry, with its path."""
    for i, svc in focused_entries(ctx):
        if svc.telemetry is not None:
            yield ("spec", "services", i, "telemetry"), svc.telemetry


def references(
    telemetry: Telemetry | TelemetryOverride,
) -> Iterator[tuple[str, str | None]]:
    """(section, provider) of each section the block sets, with its provider (None: inherited)."""
    for section, block in (
        ("tracing", telemetry.tracing),
        ("accessLogging", telemetry.access_logging),
        ("metrics", telemetry.metrics),
    ):
        if block is not None:
            yield section, block.provider


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
    declared = sorted(known)
    for path, telemetry in blocks:
        for section, provider in references(telemetry):
            if provider is None or provider in known or not PROVIDER_NAME.fullmatch(provider):
                continue  # inherited; known; MC145 reports a malformed name
            block = getattr(telemetry, _ATTR[section])
            written = "provider" in block.model_fields_set
            what = f"provider '{provider}'" if written else f"default provider '{provider}' (not written)"
            yield Finding(
                (*path, section, "provider") if written else (*path, section),
                f"{section} {what} is not declared: Istio would find no such extension "
                "provider and this telemetry would silently do nothing",
                f"declare it under spec.telemetry.providers, or use one of: {', '.join(declared)}",
            )
