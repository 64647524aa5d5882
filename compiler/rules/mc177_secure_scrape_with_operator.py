"""Secure scraping (`scrape: secure`) cannot be expressed with the prometheus-operator's monitors.

Why: scraping Envoy over Istio mTLS needs the client certificate files that an Istio sidecar in
the Prometheus pod writes (`OUTPUT_CERTS`, `/etc/prom-certs/`). PodMonitor and ServiceMonitor only
accept certificates from Secrets or ConfigMaps (the operator forbids file paths in monitors), so
meshc cannot emit a PodMonitor that would ever authenticate: every scrape would fail the TLS
handshake and every SLO would go blind.

Example:
    observability:
      prometheus: { output: operator, scrape: secure }

Fix: use `output: files` (the scrape snippet carries the certificate files), or `scrape: merged`
(Istio's default: the merged metrics port 15020 is plain HTTP even under STRICT mTLS).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC177"
NAME = "secure-scrape-with-operator"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    observability = ctx.mesh.spec.observability
    if observability is None:
        return
    prometheus = observability.prometheus
    if prometheus.output == "operator" and prometheus.scrape == "secure":
        yield Finding(
            ("spec", "observability", "prometheus", "scrape"),
            "`scrape: secure` needs Istio's certificate files, which a PodMonitor cannot reference"
            " (the prometheus-operator only takes certificates from Secrets)",
            "use `output: files` for secure scraping, or `scrape: merged` (plain HTTP on 15020)",
        )
