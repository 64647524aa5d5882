"""Reading the dashboards meshc emits: their JSON, their queries, the metric names in a query."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from meshc.compiler.lower import Manifest

ISTIO_STANDARD_METRICS = frozenset(
    {
        "istio_requests_total",
        *(f"istio_request_duration_milliseconds_{s}" for s in ("bucket", "count", "sum")),
        *(f"istio_request_bytes_{s}" for s in ("bucket", "count", "sum")),
        *(f"istio_response_bytes_{s}" for s in ("bucket", "count", "sum")),
        "istio_tcp_sent_bytes_total",
        "istio_tcp_received_bytes_total",
        "istio_tcp_connections_opened_total",
        "istio_tcp_connections_closed_total",
        "istio_request_messages_total",
        "istio_response_messages_total",
    }
)
"""Istio's standard metrics (istio.io/latest/docs/reference/config/metrics/), as Prometheus names them."""

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
)


def dashboards(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for m in manifests:
        if m.kind == "ConfigMap" and (
            m.name.startswith("meshc-dashboard") or m.name.endswith("-meshc-dashboard")
        ):
            for text in m.body["data"].values():
                yield m, json.loads(text)


def targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def concrete(expr: str) -> str:
    """The query as Grafana sends it (its built-in interval variables substituted)."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL query reads: identifiers that are not functions, keywords, label
    names (in selectors or grouping clauses) or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # selectors
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group() in KEYWORDS:
            continue
        names.add(m.group())
    return names
