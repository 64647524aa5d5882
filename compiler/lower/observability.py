"""Prometheus from the graph: scraping scoped to the mesh, SLO recording rules, burn-rate alerts.

Rules are mesh-wide ("generic"): one SLI recording rule per window and SLI kind (per latency
threshold), whatever the number of services; each declared SLO adds one *row*
(`meshc:slo_error_budget:ratio`, its budget as a constant) that the alerts join on. So 10,000
SLOs cost 10,000 one-line rows, not 120,000 rules. See docs/observability.md for the PromQL.

Output (`spec.observability.prometheus.output`):
- `operator`: PrometheusRule `meshc-sli` (SLIs, period ratios, alerts) in the monitoring
  namespace; per namespace with SLOs, PrometheusRule `meshc-slo` (`meshc-slo-2`, ... past 200
  services) with the rows of its services, so they deploy with the namespace's team; PodMonitor
  `meshc-envoy-stats` and ServiceMonitor `meshc-istiod`, limited to the mesh's namespaces.
- `files`: the same rule groups as plain Prometheus rule files, and a scrape-config snippet, in
  ConfigMaps of the monitoring namespace (`meshc-prometheus-rules`, `meshc-prometheus-rules-<ns>`,
  `meshc-prometheus-scrape`) to mount into a Prometheus that reads `rule_files`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from meshc.spec.models import Observability

from ..index import MeshIndex, Scope, ServiceInfo
from ..slo import Objective, SloPlan, burn_rates, declared_split, number
from . import names
from .common import Manifest, manifest

MONITORING = "monitoring.coreos.com/v1"

BY = "reporter, destination_service_namespace, destination_service_name"
SERVICE = "destination_service_namespace, destination_service_name"
REQUESTS = 'istio_requests_total{reporter=~"source|destination"}'
GRPC_FAILURES = "2|4|8|12|13|14|15"
"""gRPC statuses that count as failures on a 200 response (UNKNOWN, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), as in Istio's dashboards."""
SPLIT_TOLERANCE = Decimal("0.1")
"""An observed version share further than 10 percentage points from its declared weight alerts."""

SLI_WINDOWS_SKETCH = "meshc:sli_{kind}_error:ratio_rate{window}"
BUDGET = "meshc:slo_error_budget:ratio"
DECLARED_EDGE = "meshc:declared_edge:info"
DECLARED_SPLIT = "meshc:declared_split:ratio"
ALERT_BURN = {"page": "MeshcSLOFastBurn", "ticket": "MeshcSLOSlowBurn"}
"""One alert name per severity, so a rule is identified by its name and `slo` label alone."""
ALERT_UNDECLARED = "MeshcUndeclaredCaller"
ALERT_SPLIT = "MeshcSplitDeparture"


def sli_record(kind: str, window: str) -> str:
    return f"meshc:sli_{kind}_error:ratio_rate{window}"


def le_selector(ms: Decimal) -> str:
    """`le` as Prometheus 2 (`250`) and 3 (`250.0`, normalised floats) store it."""
    text = number(ms).replace(".", "\\\\.")
    return f'le=~"{text}(\\\\.0)?"'


def availability_sli(window: str) -> str:
    errors = (
        f'rate(istio_requests_total{{reporter=~"source|destination", response_code=~"5.."}}[{window}])'
        f' or rate(istio_requests_total{{reporter=~"source|destination", response_code!~"5..",'
        f' grpc_response_status=~"{GRPC_FAILURES}"}}[{window}])'
    )
    total = f"sum by ({BY}) (rate({REQUESTS}[{window}]))"
    # `or 0 * total`: a service without a single failure has no error series; its ratio is 0, not absent.
    return f"(sum by ({BY}) ({errors}) or 0 * {total}) / {total}"


def latency_sli(window: str, ms: Decimal) -> str:
    bucket = (
        f'istio_request_duration_milliseconds_bucket{{reporter=~"source|destination", {le_selector(ms)}}}'
    )
    count = 'istio_request_duration_milliseconds_count{reporter=~"source|destination"}'
    return f"1 - sum by ({BY}) (rate({bucket}[{window}])) / sum by ({BY}) (rate({count}[{window}]))"


def _windows(observability: Observability) -> list[str]:
    from ..slo import _seconds

    found = {w for b in burn_rates(observability) for w in (b.long, b.short)}
    return sorted(found, key=_seconds)


def sli_rules(plan: SloPlan, observability: Observability) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    windows = _windows(observability)
    if "availability" in plan.kinds:
        rules += [{"record": sli_record("availability", w), "expr": availability_sli(w)} for w in windows]
    for ms in plan.thresholds:
        rules += [
            {"record": sli_record("latency", w), "expr": latency_sli(w, ms), "labels": {"le_ms": number(ms)}}
            for w in windows
        ]
    return rules


def period_rules(plan: SloPlan, observability: Observability) -> list[dict[str, Any]]:
    """The SLI over the whole period, for dashboards ("budget remaining"): the mean of the 5m ratio,
    as sloth does, evaluated every 5 minutes rather than on every panel load."""
    period = observability.slo.period
    rules = []
    for kind in plan.kinds:
        five = sli_record(kind, "5m")
        rules.append(
            {
                "record": sli_record(kind, period),
                "expr": f"sum_over_time({five}[{period}]) / count_over_time({five}[{period}])",
            }
        )
    return rules


def _on(kind: str) -> str:
    return f"{BY}, le_ms" if kind == "latency" else BY


def burn_alert(kind: str, severity: str, observability: Observability) -> dict[str, Any] | None:
    conditions = [b for b in burn_rates(observability) if b.severity == severity]
    if not conditions:
        return None
    on = _on(kind)
    chosen = '"page.*"' if severity == "page" else '".*ticket"'
    budget = f'{BUDGET}{{slo="{kind}", alerting=~{chosen}}}'

    def burn(window: str, factor: Decimal) -> str:
        # The row is on the right (group_right): the alert carries the SLO's labels (team, slo,
        # reporter, the user's labels) and the burn rate as its value, never a window label.
        return f"({sli_record(kind, window)} / on({on}) group_right() {budget}) > {number(factor)}"

    pairs = [f"({burn(b.long, b.factor)} and on({on}) {burn(b.short, b.factor)})" for b in conditions]
    labels = {**getattr(observability.slo.alert_labels, severity), "slo": kind}
    return {
        "alert": ALERT_BURN[severity],
        "expr": f"\nor on({on})\n".join(pairs),
        "labels": labels,
        "annotations": {
            "summary": (
                f"{{{{ $labels.destination_service_name }}}}.{{{{ $labels.destination_service_namespace }}}}"
                f" burns its {kind} error budget {{{{ $value | humanize }}}}x too fast ({severity})"
            ),
            "description": (
                "Measured from the {{ $labels.reporter }} side. At this rate the budget of the "
                f"{observability.slo.period} period is gone early; see the meshc dashboard of the service."
            ),
        },
    }


def undeclared_caller_alert(observability: Observability) -> dict[str, Any]:
    traffic = (
        "sum by (source_principal, destination_service_namespace, destination_service_name)"
        ' (rate(istio_requests_total{reporter="destination"}[5m])) > 0'
    )
    monitored = f"group by ({SERVICE}) ({BUDGET})"
    return {
        "alert": ALERT_UNDECLARED,
        "expr": (
            f"{traffic}\nunless on(source_principal, {SERVICE}) {DECLARED_EDGE}"
            f"\nand on({SERVICE}) {monitored}"
        ),
        "for": "5m",
        "labels": dict(observability.slo.alert_labels.ticket),
        "annotations": {
            "summary": (
                "{{ $labels.source_principal }} calls {{ $labels.destination_service_name }}."
                "{{ $labels.destination_service_namespace }}, which the spec does not declare"
            ),
            "description": (
                "Requests from a caller that is not a declared edge (with default-deny authorization"
                " they are answered 403). Declare the call in the spec, or find out who is calling."
            ),
        },
    }


def split_alert(observability: Observability) -> dict[str, Any]:
    total = f'sum by ({SERVICE}) (rate(istio_requests_total{{reporter="source"}}[30m]))'
    per_version = (
        f'sum by ({SERVICE}, destination_version) (rate(istio_requests_total{{reporter="source"}}[30m]))'
    )
    declared_zero = f"on({SERVICE}, destination_version) 0 * {DECLARED_SPLIT}"
    observed = f"({per_version} / on({SERVICE}) group_left() {total} or {declared_zero})"
    return {
        "alert": ALERT_SPLIT,
        "expr": (
            f"abs({observed} - on({SERVICE}, destination_version) {DECLARED_SPLIT})"
            f" > {number(SPLIT_TOLERANCE)}"
            f"\nand on({SERVICE}) {total} > 0"
        ),
        "for": "15m",
        "labels": dict(observability.slo.alert_labels.ticket),
        "annotations": {
            "summary": (
                "{{ $labels.destination_service_name }}.{{ $labels.destination_service_namespace }}"
                " version {{ $labels.destination_version }} gets a share {{ $value | humanizePercentage }}"
                " away from its declared weight"
            ),
            "description": "The observed split departs from the spec's `traffic.split` by over 10 points.",
        },
    }


def mesh_rule_groups(plan: SloPlan, observability: Observability) -> list[dict[str, Any]]:
    """The mesh-wide groups: their number of rules does not depend on the number of services."""
    if not plan.objectives:
        return []
    alerts = [
        a
        for kind in plan.kinds
        for severity in ("page", "ticket")
        if (a := burn_alert(kind, severity, observability)) is not None
    ]
    alerts.append(undeclared_caller_alert(observability))
    if plan.has_declared_split:
        alerts.append(split_alert(observability))
    return [
        {"name": "meshc-sli", "rules": sli_rules(plan, observability)},
        {"name": "meshc-slo-period", "interval": "5m", "rules": period_rules(plan, observability)},
        {"name": "meshc-slo-alerts", "rules": alerts},
    ]


def _row_labels(info: ServiceInfo) -> dict[str, str]:
    """The labels every objective row of a service carries: the user's alert labels, `team`
    (defaulting to the service's), the service, and which alerts it wants (`alerting`)."""
    slo = info.model.slo
    assert slo is not None
    labels = dict(slo.alert.labels)
    if info.model.team and "team" not in labels:
        labels["team"] = info.model.team
    chosen = [s for s, on in (("page", slo.alert.page), ("ticket", slo.alert.ticket)) if on]
    labels["alerting"] = "-".join(chosen) or "none"
    labels["destination_service_namespace"] = info.namespace
    labels["destination_service_name"] = info.name
    return labels


def objective_row(o: Objective, base: dict[str, str]) -> dict[str, Any]:
    labels = {**base, "reporter": o.reporter, "slo": o.kind}
    if o.le_ms is not None:
        labels["le_ms"] = number(o.le_ms)
    return {"record": BUDGET, "expr": f"vector({number(o.budget)})", "labels": labels}


def _principals(index: MeshIndex, info: ServiceInfo) -> list[str]:
    """The SPIFFE identities allowed to call the service: its declared callers and the gateways
    routing to it (what its AuthorizationPolicy names), as `source_principal` reports them."""
    found = {index.principal(e.caller.namespace, e.caller.account) for e in info.callers}
    found |= {index.principal(gw.workload.namespace, gw.workload.account) for gw, _, _ in info.gateway_routes}
    return sorted(f"spiffe://{p}" for p in found)


def service_rules(
    index: MeshIndex, plan_rows: list[Objective], info: ServiceInfo, split: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """The rows of one service: its objectives, its declared callers, its declared split
    (`split`: `declared_split(info)` when the caller has it already)."""
    base = _row_labels(info)
    rows = [objective_row(o, base) for o in plan_rows]
    namespace, name = info.namespace, info.model.name
    rows += [
        {
            "record": DECLARED_EDGE,
            "expr": "vector(1)",
            "labels": {
                "destination_service_namespace": namespace,
                "destination_service_name": name,
                "source_principal": p,
            },
        }
        for p in _principals(index, info)
    ]
    rows += [
        {
            "record": DECLARED_SPLIT,
            "expr": f"vector({number(Decimal(weight) / 100)})",
            "labels": {
                "destination_service_namespace": namespace,
                "destination_service_name": name,
                "destination_version": version,
            },
        }
        for version, weight in (declared_split(info) if split is None else split).items()
    ]
    return rows


# --- scraping ------------------------------------------------------------------------------------


def _scrape_namespaces(index: MeshIndex) -> list[str]:
    """The mesh's namespaces and those of its gateways' pods: nothing else is scraped."""
    names = set(index.app_namespaces)
    names |= {gw.workload.namespace for _, gw in index.gateways.values()}
    return sorted(names)


_ADDRESS_RELABEL = [
    {
        "action": "replace",
        "regex": "(\\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})",
        "replacement": "[$2]:$1",
        "sourceLabels": ["__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"],
        "targetLabel": "__address__",
    },
    {
        "action": "replace",
        "regex": "(\\d+);((([0-9]+?)(\\.|$)){4})",
        "replacement": "$2:$1",
        "sourceLabels": ["__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"],
        "targetLabel": "__address__",
    },
]
"""Istio's `envoy-stats-monitor` (samples/addons/extras/prometheus-operator.yaml): scrape the
merged-metrics port the injector writes into `prometheus.io/port` (15020)."""

SECURE_TLS = {
    "caFile": "/etc/prom-certs/root-cert.pem",
    "certFile": "/etc/prom-certs/cert-chain.pem",
    "keyFile": "/etc/prom-certs/key.pem",
    "insecureSkipVerify": True,
}
"""Istio's documented client certificates for a Prometheus with an OUTPUT_CERTS sidecar;
`insecureSkipVerify` because Prometheus cannot check SPIFFE SANs (Istio's own advice)."""


def _pod_endpoint(scrape: str) -> dict[str, Any]:
    """The Envoy stats endpoint; `secure` only ever reaches the files-mode snippet (MC177)."""
    keep = [
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "istio-proxy"},
        {
            "action": "keep",
            "sourceLabels": ["__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"],
            "regex": "true",
        },
    ]
    if scrape == "secure":
        address = [
            {
                "action": "replace",
                "regex": "(.+)",
                "replacement": "$1:15091",
                "sourceLabels": ["__meta_kubernetes_pod_ip"],
                "targetLabel": "__address__",
            }
        ]
        return {
            "path": "/stats/prometheus",
            "interval": "15s",
            "scheme": "https",
            "tlsConfig": SECURE_TLS,
            "relabelings": keep + address,
        }
    return {"path": "/stats/prometheus", "interval": "15s", "relabelings": keep + _ADDRESS_RELABEL}


def _snake(relabel: dict[str, Any]) -> dict[str, Any]:
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return {names.get(k, k): v for k, v in relabel.items()}


def scrape_snippet(index: MeshIndex, observability: Observability) -> list[dict[str, Any]]:
    """Files mode: `scrape_configs` entries equivalent to the PodMonitor and ServiceMonitor."""
    scrape = observability.prometheus.scrape
    endpoint = _pod_endpoint(scrape)
    job: dict[str, Any] = {
        "job_name": names.monitoring(index.name, "meshc-envoy-stats"),
        "metrics_path": "/stats/prometheus",
        "scrape_interval": "15s",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": _scrape_namespaces(index)}}],
        "relabel_configs": [_snake(r) for r in endpoint["relabelings"]],
    }
    if scrape == "secure":
        job["scheme"] = "https"
        job["tls_config"] = {
            "ca_file": SECURE_TLS["caFile"],
            "cert_file": SECURE_TLS["certFile"],
            "key_file": SECURE_TLS["keyFile"],
            "insecure_skip_verify": True,
        }
    istiod = {
        "job_name": names.monitoring(index.name, "meshc-istiod"),
        "kubernetes_sd_configs": [
            {"role": "endpoints", "namespaces": {"names": [index.mesh.spec.control_plane.namespace]}}
        ],
        "relabel_configs": [
            {
                "action": "keep",
                "source_labels": [
                    "__meta_kubernetes_service_label_istio",
                    "__meta_kubernetes_endpoint_port_name",
                ],
                "regex": "pilot;http-monitoring",
            }
        ],
    }
    return [job, istiod]


# --- resources -----------------------------------------------------------------------------------


def dump_yaml(value: dict[str, Any]) -> str:
    """The canonical YAML text of a rule file (imported here: `emit` imports the lowering)."""
    from ..emit import dump

    return dump(value)


def _rule_body(groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"groups": groups}


def prometheus_resources(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    observability = index.mesh.spec.observability
    if observability is None or observability.prometheus.output == "none":
        return
    prometheus = observability.prometheus
    plan = SloPlan(index)
    ns = prometheus.namespace
    # Multi-cluster: each cluster's Prometheus sees the proxies of that cluster, so each gets the
    # mesh-wide rules and monitors, and the rows of every service visible there (running there,
    # or called from there: the callers' sidecars report source-side SLIs where they run).
    rows_by_service: dict[str, list[Objective]] = {}
    visible = scope.visible
    for o in plan.objectives:
        key = o.info.key
        if key in visible:
            rows_by_service.setdefault(key, []).append(o)
    groups = mesh_rule_groups(plan, observability)
    if prometheus.output == "operator":
        labels = dict(prometheus.rule_labels)
        if groups:
            yield manifest(
                index,
                MONITORING,
                "PrometheusRule",
                names.monitoring(index.name, "meshc-sli"),
                ns,
                _rule_body(groups),
                labels=labels,
            )
        for namespace, suffix, chunk in _row_chunks(index, plan, rows_by_service):
            group = {"name": f"meshc-slo-{namespace}{suffix}", "rules": chunk}
            yield manifest(
                index,
                MONITORING,
                "PrometheusRule",
                f"meshc-slo{suffix}",
                namespace,
                _rule_body([group]),
                labels=labels,
            )
        if prometheus.scrape != "none":
            yield manifest(
                index,
                MONITORING,
                "PodMonitor",
                names.monitoring(index.name, "meshc-envoy-stats"),
                ns,
                pod_monitor(index, observability),
            )
            yield manifest(
                index,
                MONITORING,
                "ServiceMonitor",
                names.monitoring(index.name, "meshc-istiod"),
                ns,
                istiod_monitor(index),
            )
        return
    # files mode: plain rule files and a scrape snippet in ConfigMaps, one rule file per namespace
    if groups:
        yield config_map(
            index,
            names.monitoring(index.name, "meshc-prometheus-rules"),
            ns,
            {"meshc-sli.rules.yaml": dump_yaml(_rule_body(groups))},
        )
    for namespace, suffix, chunk in _row_chunks(index, plan, rows_by_service):
        group = {"name": f"meshc-slo-{namespace}{suffix}", "rules": chunk}
        yield config_map(
            index,
            names.monitoring(index.name, f"meshc-prometheus-rules-{namespace}{suffix}"),
            ns,
            {f"meshc-slo-{namespace}{suffix}.rules.yaml": dump_yaml(_rule_body([group]))},
        )
    if prometheus.scrape != "none":
        snippet = {"scrape_configs": scrape_snippet(index, observability)}
        yield config_map(
            index,
            names.monitoring(index.name, "meshc-prometheus-scrape"),
            ns,
            {"meshc-scrape.yaml": dump_yaml(snippet)},
        )


SERVICES_PER_RULE_OBJECT = 200
"""Rows of at most this many services per PrometheusRule (or rule ConfigMap): a few hundred bytes a
service keeps each object far below the API server's 1.5 MiB (ConfigMap: 1 MiB) limit."""


def _row_chunks(
    index: MeshIndex, plan: SloPlan, rows_by_service: dict[str, list[Objective]]
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(namespace, name suffix, rows): per namespace, the rows of its services with an SLO, in
    chunks of SERVICES_PER_RULE_OBJECT services (`meshc-slo`, `meshc-slo-2`, ...). A namespace
    is what stacks shard by, so a team's rows deploy with its team."""
    by_namespace: dict[str, list[str]] = {}
    for key, objectives in rows_by_service.items():
        by_namespace.setdefault(objectives[0].info.namespace, []).append(key)
    for namespace, services in sorted(by_namespace.items()):
        # by name, which is unique in the namespace: a service of that name elsewhere changes nothing
        services.sort(key=lambda key: rows_by_service[key][0].info.name)
        for k in range(0, len(services), SERVICES_PER_RULE_OBJECT):
            chunk = services[k : k + SERVICES_PER_RULE_OBJECT]
            rows = [
                r
                for n in chunk
                for r in service_rules(index, rows_by_service[n], rows_by_service[n][0].info, plan.splits[n])
            ]
            yield namespace, (f"-{k // SERVICES_PER_RULE_OBJECT + 1}" if k else ""), rows


def config_map(index: MeshIndex, name: str, namespace: str, data: dict[str, str], **extra: Any) -> Manifest:
    return manifest(index, "v1", "ConfigMap", name, namespace, data, spec_key="data", **extra)


def pod_monitor(index: MeshIndex, observability: Observability) -> dict[str, Any]:
    return {
        "selector": {"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]},
        "namespaceSelector": {"matchNames": _scrape_namespaces(index)},
        "jobLabel": "envoy-stats",
        "podMetricsEndpoints": [_pod_endpoint(observability.prometheus.scrape)],
    }


def istiod_monitor(index: MeshIndex) -> dict[str, Any]:
    return {
        "jobLabel": "istio",
        "targetLabels": ["app"],
        "selector": {"matchExpressions": [{"key": "istio", "operator": "In", "values": ["pilot"]}]},
        "namespaceSelector": {"matchNames": [index.mesh.spec.control_plane.namespace]},
        "endpoints": [{"port": "http-monitoring", "interval": "15s"}],
    }
