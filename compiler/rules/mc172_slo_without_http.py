"""An SLO on a service with no HTTP or gRPC port: its request indicators have nothing to measure.

Why: availability and latency SLOs are computed from Istio's request metrics, which only an
HTTP-aware proxy (http, http2, grpc, grpc-web ports) produces. For TCP, TLS, MySQL, Redis or Mongo
ports Envoy reports bytes and connections only, so the SLI is empty forever and the SLO can never
alert.

Example:
    services:
      - name: db
        ports: [{ port: 5432, protocol: tcp }]
        slo: { availability: 99.9 }

Fix: drop the SLO (watch the TCP panels of the dashboard instead), or declare the port's real
protocol if it speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC172"
NAME = "slo-without-http"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        slo = info.model.slo
        if slo is None or info.http_ports or any(p.protocol is None for p in info.ports):
            continue  # an undeterminable protocol is MC104's
        speaks = ", ".join(sorted({str(p.protocol) for p in info.ports})) or "no port at all"
        for kind in ("availability", "latency"):
            if getattr(slo, kind) is not None:
                yield Finding(
                    (*info.path, "slo", kind),
                    f"service '{info.key}' has a {kind} SLO but speaks {speaks}: Istio reports no"
                    " request metrics for it, so the SLO would never measure anything",
                    "drop the SLO, or declare the port's real protocol (http, http2, grpc) if it speaks HTTP",
                )
