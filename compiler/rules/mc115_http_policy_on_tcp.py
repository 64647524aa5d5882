"""HTTP-only traffic settings on a service whose ports all speak non-HTTP protocols.

Why: retries, timeouts, fault injection, mirroring and matches on paths, methods, headers, query
parameters or JWT claims exist only for HTTP routes. On a service whose ports are all TCP (or TLS,
MySQL, Redis, ...) Istio builds TCP routes and ignores them without a word: the retry budget or
timeout you reviewed does not exist in production. Matches on `port` and weighted splits do work
for TCP and are not flagged.

Example:
    services:
      - name: db
        ports: [{ port: 5432, protocol: tcp }]
        traffic:
          timeout: 2s                     # ignored for TCP

Fix: remove the settings, or declare the port's real protocol if it does speak HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import HTTP_PROTOCOLS, Match, Route, Traffic, http_only_fields, wire_name

from .base import Finding, RuleContext
from .walk import Path, focused, route_label

CODE = "MC115"
NAME = "http-policy-on-tcp"
SEVERITY = "warning"
SCOPE = "namespace"

# The fields declared `FieldMeta(http_only=True)` on the models, as (attribute, YAML key).
POLICIES = {
    model: tuple((name, wire_name(model, name)) for name in http_only_fields(model))
    for model in (Traffic, Route)
}
MATCHES = tuple((name, wire_name(Match, name)) for name in http_only_fields(Match))


def _policies(block: Traffic | Route, base: Path, where: str) -> Iterator[tuple[Path, str]]:
    for attr, key in POLICIES[type(block)]:
        if getattr(block, attr):
            yield (*base, key), f"`{key}`{where}"


def _matches(match: Match, base: Path, where: str) -> Iterator[tuple[Path, str]]:
    for attr, key in MATCHES:
        if getattr(match, attr):
            yield (*base, key), f"a match on `{key}`{where}"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        traffic = info.model.traffic
        protocols = {p.protocol for p in info.ports}
        if traffic is None or not protocols or None in protocols or protocols & HTTP_PROTOCOLS:
            continue
        base: Path = (*info.path, "traffic")
        found = list(_policies(traffic, base, ""))
        for i, route in enumerate(traffic.routes):
            where = f" in {route_label(route.name, i)}"
            found += _policies(route, (*base, "routes", i), where)
            for j, match in enumerate(route.match):
                found += _matches(match, (*base, "routes", i, "match", j), where)
        speaks = ", ".join(sorted(p for p in protocols if p))
        for path, what in found:
            yield Finding(
                path,
                f"{what} of service '{info.key}' has no effect: its ports speak only {speaks}, "
                "and Istio applies it to HTTP routes only",
                "remove it, or declare the port's real protocol if it speaks HTTP",
            )
