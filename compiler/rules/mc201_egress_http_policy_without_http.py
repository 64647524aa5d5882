"""An egress entry sets a timeout or retries but none of its ports carries HTTP.

Why: timeouts and retries are HTTP route settings: the proxy applies them to requests it parses.
An entry whose ports are `tls`, `https` or `tcp` is forwarded as opaque bytes, so Istio has no
request to time out or retry, and the settings would silently do nothing (Istio accepts a
VirtualService with them and ignores them for TLS and TCP traffic).

Example:
    egress:
      - name: db
        hosts: [db.example.com]
        ports: [{ port: 5432, protocol: tcp }]
        traffic: { timeout: 5s, retries: { attempts: 3 } }

Fix: remove `timeout` and `retries` (limit connections with `connectionPool` and
`connectTimeout` instead), or call the host over HTTP (with `tlsOrigination` if it wants TLS).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .mc200_tls_origination_without_http import PLAIN_HTTP

CODE = "MC201"
NAME = "egress-http-policy-without-http"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        traffic = egress.traffic
        if traffic is None or any(p.protocol in PLAIN_HTTP for p in egress.ports):
            continue
        for field, value in (("timeout", traffic.timeout), ("retries", traffic.retries)):
            if value is None:
                continue
            yield Finding(
                ("spec", "egress", i, "traffic", field),
                f"egress '{egress.name}' sets {field}, but its ports carry no HTTP: "
                "TLS and TCP are forwarded as bytes and never retried or timed out per request",
                "remove it (connectionPool.connectTimeout limits connection set-up), "
                "or call the host over HTTP",
            )
