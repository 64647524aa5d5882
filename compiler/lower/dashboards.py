"""Grafana dashboards from the graph: one per service with an SLO, and a mesh overview.

The mesh overview lives in `observability.grafana.namespace`; a service's dashboard lives in the
service's namespace, so that it deploys (and is owned) with the service's team like its
PrometheusRule: the Grafana sidecar must search every namespace (`searchNamespace: ALL`).

Classic dashboard JSON (what file provisioning and the Grafana sidecar read) in ConfigMaps
labelled `grafana_dashboard: "1"` (the kiwigrid/k8s-sidecar convention of the Grafana chart and
kube-prometheus-stack), with the folder in the `k8s-sidecar-target-directory` annotation. Generated
with plain Python rather than a dashboard SDK: grafana-foundation-sdk is alpha with epoch versions
and emits `"refId": ""` unless told otherwise, grafanalib is stale (see docs/observability.md).

Every query uses Istio's standard metrics or the series meshc's rules record, with fixed
selectors for the service (no `$service` picker) and `rate` over `$__rate_interval`. UIDs are a
hash of mesh, namespace and service, so they are stable across compiles and spec order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from meshc.spec.models import GrafanaOutput

from ..index import MeshIndex, Scope, ServiceInfo
from ..slo import Objective, SloPlan, declared_split, number
from . import names
from .common import Manifest
from .observability import (
    BUDGET,
    DECLARED_EDGE,
    DECLARED_SPLIT,
    config_map,
    sli_record,
)

SCHEMA_VERSION = 39
"""Grafana 10.4/11's dashboard schema; newer Grafanas migrate it on load."""
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
MAX_BYTES = 256 * 1024
"""A client-side `kubectl apply` copies the object into an annotation capped at 256 KiB."""
FOLDER_ANNOTATION = "k8s-sidecar-target-directory"


def dashboard_uid(*parts: str) -> str:
    return "meshc-" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def _target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(title: str, targets: list[tuple[str, str]], *, unit: str = "short", kind: str = "timeseries",
           description: str = "") -> dict[str, Any]:  # fmt: skip
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [_target(chr(ord("A") + i), expr, legend) for i, (expr, legend) in enumerate(targets)],
    }
    if description:
        panel["description"] = description
    return panel


def _layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two panels a row, 12 columns x 8 rows each: the grid never overlaps or exceeds 24 columns."""
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}
    return panels


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": _layout(panels),
    }


def _selector(info: ServiceInfo, reporter: str, **extra: str) -> str:
    labels = {
        "reporter": reporter,
        "destination_service_namespace": info.namespace,
        "destination_service_name": info.name,
        **extra,
    }
    return (
        "{"
        + ", ".join(f'{k}="{v}"' if not v.startswith("~") else f'{k}=~"{v[1:]}"' for k, v in labels.items())
        + "}"
    )


def _service_only(info: ServiceInfo, **extra: str) -> str:
    labels = {"destination_service_namespace": info.namespace, "destination_service_name": info.name, **extra}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def service_panels(index: MeshIndex, info: ServiceInfo, objectives: list[Objective]) -> list[dict[str, Any]]:
    reporter = objectives[0].reporter
    requests = f"istio_requests_total{_selector(info, reporter)}"
    rate = f"rate({requests}[$__rate_interval])"
    panels = [
        _panel(
            "Requests by version",
            [(f"sum by (destination_version) ({rate})", "{{destination_version}}")],
            unit="reqps",
            description=f"Requests to {info.fqdn}, measured by the {reporter} proxies.",
        ),
        _panel(
            "Responses by code",
            [(f"sum by (response_code) ({rate})", "{{response_code}}")],
            unit="reqps",
        ),
    ]
    split = declared_split(info)
    if split:
        observed = (
            f"sum by (destination_version) ({rate}) / ignoring(destination_version) group_left() sum({rate})"
        )
        panels.append(
            _panel(
                "Split: observed vs declared",
                [
                    (observed, "observed {{destination_version}}"),
                    (f"{DECLARED_SPLIT}{_service_only(info)}", "declared {{destination_version}}"),
                ],
                unit="percentunit",
                description="Declared weights from the spec's traffic.split, beside the observed shares.",
            )
        )
    bucket = f"istio_request_duration_milliseconds_bucket{_selector(info, reporter)}"
    panels.append(
        _panel(
            "Latency percentiles",
            [
                (f"histogram_quantile({q}, sum by (le) (rate({bucket}[$__rate_interval])))", f"p{label}")
                for q, label in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))
            ],
            unit="ms",
            description="Interpolated within Envoy's buckets; the SLOs count bucket ratios instead.",
        )
    )
    by = {"reporter": reporter}
    for o in objectives:
        labels = _service_only(info, slo=o.kind)
        sli_labels = _service_only(info, **by, **({"le_ms": number(o.le_ms)} if o.le_ms is not None else {}))
        what = "Availability" if o.le_ms is None else f"Requests within {number(o.le_ms)} ms"
        panels.append(
            _panel(
                f"{what}: SLI and objective",
                [
                    (f"1 - sum({sli_record(o.kind, '5m')}{sli_labels})", "SLI (5m)"),
                    (f"1 - sum({BUDGET}{labels})", "objective"),
                ],
                unit="percentunit",
            )
        )
        period = index.mesh.spec.observability.slo.period  # type: ignore[union-attr]
        panels.append(
            _panel(
                f"{what}: error budget and burn rate",
                [
                    (
                        f"1 - sum({sli_record(o.kind, period)}{sli_labels}) / sum({BUDGET}{labels})",
                        f"budget left ({period})",
                    ),
                    (
                        f"sum({sli_record(o.kind, '1h')}{sli_labels}) / sum({BUDGET}{labels})",
                        "burn rate (1h)",
                    ),
                ],
                description="Burn rate 1 spends exactly the budget over the period; the page fires at 14.4 "
                "(30 days) over 1h and 5m.",
            )
        )
    declared = sorted({e.caller.key for e in info.callers} | {gw.name for gw, _, _ in info.gateway_routes})
    inbound = f"istio_requests_total{_selector(info, 'destination')}"
    panels.append(
        _panel(
            "Callers",
            [
                (
                    "sum by (source_canonical_service, source_workload_namespace)"
                    f" (rate({inbound}[$__rate_interval]))",
                    "{{source_canonical_service}}.{{source_workload_namespace}}",
                )
            ],
            unit="reqps",
            description="Declared callers: " + (", ".join(declared) or "none") + ".",
        )
    )
    denied = f"istio_requests_total{_selector(info, 'destination')}"
    panels.append(
        _panel(
            "Calls from undeclared callers",
            [
                (
                    f"sum by (source_principal, response_code) (rate({denied}[$__rate_interval]))"
                    f" unless on(source_principal) {DECLARED_EDGE}{_service_only(info)}",
                    "{{source_principal}} {{response_code}}",
                )
            ],
            unit="reqps",
            description="Identities that are not declared edges; with default-deny they get 403.",
        )
    )
    outbound = (
        f'istio_requests_total{{reporter="source", source_canonical_service="{info.name}",'
        f' source_workload_namespace="{info.namespace}"}}'
    )
    callees = sorted({callee.key for callee in index.callees(info)})
    panels.append(
        _panel(
            "Callees",
            [
                (
                    "sum by (destination_service_name, destination_service_namespace)"
                    f" (rate({outbound}[$__rate_interval]))",
                    "{{destination_service_name}}.{{destination_service_namespace}}",
                )
            ],
            unit="reqps",
            description="Declared callees: " + (", ".join(callees) or "none") + ".",
        )
    )
    flags = f"istio_requests_total{_selector(info, reporter, response_flags='~[^-].*')}"
    panels.append(
        _panel(
            "Retries, circuit breaking and faults (response flags)",
            [(f"sum by (response_flags) (rate({flags}[$__rate_interval]))", "{{response_flags}}")],
            unit="reqps",
            description="URX: retries exhausted, UO: circuit breaker overflow, UH: no healthy upstream,"
            " UT: timeout, FI/DI: injected fault or delay.",
        )
    )
    tcp = _selector(info, "destination")
    panels.append(
        _panel(
            "TCP bytes",
            [
                (f"sum(rate(istio_tcp_sent_bytes_total{tcp}[$__rate_interval]))", "sent"),
                (f"sum(rate(istio_tcp_received_bytes_total{tcp}[$__rate_interval]))", "received"),
            ],
            unit="Bps",
        )
    )
    return panels


def mesh_panels(plan: SloPlan) -> list[dict[str, Any]]:
    total = 'sum(rate(istio_requests_total{reporter="source"}[$__rate_interval]))'
    panels = [
        _panel("Global request rate", [(f"round({total}, 0.001)", "requests/s")], unit="reqps", kind="stat"),
        _panel(
            "Global success rate (non-5xx)",
            [
                (
                    'sum(rate(istio_requests_total{reporter="source", response_code!~"5.."}'
                    "[$__rate_interval]))"
                    f" / ({total} or on() vector(1))",
                    "success",
                )
            ],
            unit="percentunit",
            kind="stat",
        ),
        _panel(
            "4xx and 5xx",
            [
                (
                    'sum(rate(istio_requests_total{reporter="source", response_code=~"4.."}'
                    "[$__rate_interval]))"
                    " or vector(0)",
                    "4xx",
                ),
                (
                    'sum(rate(istio_requests_total{reporter="source", response_code=~"5.."}'
                    "[$__rate_interval]))"
                    " or vector(0)",
                    "5xx",
                ),
            ],
            unit="reqps",
        ),
    ]
    for kind in plan.kinds:
        on = "reporter, destination_service_namespace, destination_service_name" + (
            ", le_ms" if kind == "latency" else ""
        )
        panels.append(
            _panel(
                f"SLOs ({kind}): burn rate over 1h",
                [
                    (
                        f'{sli_record(kind, "1h")} / on({on}) group_right() {BUDGET}{{slo="{kind}"}}',
                        "{{destination_service_name}}.{{destination_service_namespace}}",
                    )
                ],
                kind="table",
                description="One row per declared SLO; above 1 the budget runs out before the period ends.",
            )
        )
    return panels


def _config_map(index: MeshIndex, grafana: GrafanaOutput, name: str, namespace: str, key: str,
                dashboard: dict[str, Any], owner: str | None) -> Manifest:  # fmt: skip
    text = json.dumps(dashboard, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    return config_map(
        index,
        name,
        namespace,
        {key: text},
        labels=dict(grafana.label),
        annotations={FOLDER_ANNOTATION: grafana.folder},
        owner=owner,
    )


def grafana_dashboards(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    observability = index.mesh.spec.observability
    if observability is None or observability.grafana.dashboards == "none":
        return
    if observability.prometheus.output == "none":
        return  # the panels read meshc's recorded series
    grafana = observability.grafana
    plan = SloPlan(index)
    by_service: dict[str, list[Objective]] = {}
    for o in plan.objectives:
        by_service.setdefault(o.info.key, []).append(o)
    if plan.objectives:
        uid = dashboard_uid(index.name)
        board = _dashboard(uid, f"{index.name} mesh (meshc)", ["meshc", index.name], mesh_panels(plan))
        yield _config_map(
            index,
            grafana,
            names.monitoring(index.name, "meshc-dashboard"),
            grafana.namespace,
            f"meshc-{index.name}-mesh.json",
            board,
            None,
        )
    for name in sorted(by_service):
        info = index.services[name]
        if info.key not in scope.visible:
            continue
        uid = dashboard_uid(index.name, info.namespace, info.name)
        title = f"{info.name}.{info.namespace} (meshc)"
        board = _dashboard(
            uid, title, ["meshc", index.name, info.namespace], service_panels(index, info, by_service[name])
        )
        yield _config_map(
            index,
            grafana,
            f"meshc-dashboard-{info.name}",  # unique: a service name is unique in its namespace
            info.namespace,  # beside the service: it deploys with the service's team (stack shard)
            f"meshc-{info.namespace}-{info.name}.json",
            board,
            info.owner,
        )
