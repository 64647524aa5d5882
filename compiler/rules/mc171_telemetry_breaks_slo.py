"""A Telemetry override disables a metric or removes a tag that a service's SLO is computed from.

Why: availability SLOs read `istio_requests_total` (REQUEST_COUNT) and latency SLOs
`istio_request_duration_milliseconds` (REQUEST_DURATION), grouped by `reporter`,
`destination_service_namespace` and `destination_service_name`, availability also by
`response_code`. Disabling the metric, or removing a tag, on the proxies that measure the SLO
(the callers' sidecars for `reporter: source`, the service's own for `destination`) leaves the SLI
empty: no data, no alert, and the SLO looks green while the service burns.

Example:
    telemetry:
      metrics:
        overrides:
          - { metric: REQUEST_COUNT, disabled: true }
    services:
      - name: reviews
        ports: [{ port: 9080, protocol: http }]
        slo: { availability: 99.9 }

Fix: keep the metric and tags on the measuring side (narrow the override's `mode`, or move it to
services without an SLO), or drop the SLO.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.compiler.index import ServiceInfo
from meshc.compiler.slo import SLI_METRICS, reporter_choice
from meshc.spec.models import MetricOverride, Telemetry, TelemetryOverride

from .base import Finding, RuleContext
from .walk import Path

CODE = "MC171"
NAME = "telemetry-breaks-slo"
SEVERITY = "error"
SCOPE = "mesh"

NEEDED_TAGS = {
    "availability": ("destination_service_namespace", "destination_service_name", "response_code"),
    "latency": ("destination_service_namespace", "destination_service_name"),
}
MODES = {"source": ("CLIENT_AND_SERVER", "CLIENT"), "destination": ("CLIENT_AND_SERVER", "SERVER")}


def _overrides(
    base: Path, telemetry: Telemetry | TelemetryOverride | None
) -> Iterator[tuple[Path, MetricOverride]]:
    if telemetry is None or telemetry.metrics is None:
        return
    for i, override in enumerate(telemetry.metrics.overrides):
        yield (*base, "metrics", "overrides", i), override


def _measuring(ctx: RuleContext, info: ServiceInfo, reporter: str) -> list[tuple[Path, MetricOverride, str]]:
    """Overrides on the proxies that report the SLI, with where they are written."""
    found = [
        (p, o, "the mesh-wide telemetry")
        for p, o in _overrides(("spec", "telemetry"), ctx.mesh.spec.telemetry)
    ]
    owners = [e.caller for e in info.callers] if reporter == "source" else [info]
    for owner in sorted({o.name: o for o in owners}.values(), key=lambda s: s.index):
        found += [
            (p, o, f"the telemetry of '{owner.name}'")
            for p, o in _overrides((*owner.path, "telemetry"), owner.model.telemetry)
        ]
    return found


def _has_overrides(telemetry: Telemetry | TelemetryOverride | None) -> bool:
    return telemetry is not None and telemetry.metrics is not None and bool(telemetry.metrics.overrides)


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not _has_overrides(ctx.mesh.spec.telemetry) and not any(
        _has_overrides(info.model.telemetry) for info in ctx.index.services.values()
    ):
        return  # no metric override anywhere (the common case): nothing can break an SLO
    for info in ctx.index.services.values():
        slo = info.model.slo
        if slo is None:
            continue
        reporter = reporter_choice(ctx.index, info, slo).reporter
        kinds = [k for k in ("availability", "latency") if getattr(slo, k) is not None]
        for path, override, where in _measuring(ctx, info, reporter):
            if override.mode not in MODES[reporter]:
                continue
            for kind in kinds:
                metric = SLI_METRICS[kind]
                if override.metric not in ("ALL_METRICS", metric):
                    continue
                if override.disabled:
                    yield Finding(
                        (*path, "disabled"),
                        f"{where} disables {metric}, which the {kind} SLO of service '{info.key}'"
                        f" ({reporter}-reported) is computed from",
                        "narrow the override's `mode` or metric so the measuring proxies keep it,"
                        " or drop the SLO",
                    )
                    continue
                for j, tag in enumerate(override.remove_tags):
                    if tag in NEEDED_TAGS[kind]:
                        yield Finding(
                            (*path, "removeTags", j),
                            f"{where} removes the tag `{tag}` from {metric}, which the {kind} SLO of"
                            f" service '{info.key}' ({reporter}-reported) groups by",
                            "keep the tag on the measuring proxies, or drop the SLO",
                        )
