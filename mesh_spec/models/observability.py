"""Telemetry: tracing, access logging and metrics, mesh-wide with per-service overrides."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import AlertLabelMap, Duration, Name, SpecModel


class CustomTag(SpecModel):
    """A tag on every span: exactly one of a `literal` value, a request `header` or an `environment`
    variable of the proxy (MC208), as in Istio's Telemetry `customTags`."""

    literal: str | None = None
    header: str | None = None
    """Name of the request header whose value becomes the tag."""
    environment: str | None = None
    """Name of the proxy's environment variable whose value becomes the tag."""
    default_value: str | None = None
    """The tag's value when the header or the variable is absent."""


class Tracing(SpecModel):
    provider: str = "zipkin"
    """An extension provider: one of `telemetry.providers` (MC203)."""
    sampling: Annotated[float, Field(ge=0, le=100)] = 1.0
    """Percentage of requests traced."""
    disabled: bool = False
    custom_tags: dict[str, CustomTag] = Field(default_factory=dict)
    """Tags added to every span, by tag name."""


LogDirection = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]


class AccessLogging(SpecModel):
    provider: str = "envoy"
    """An extension provider: `envoy` (Istio's built-in stdout log) or one of `telemetry.providers`."""
    filter: str | None = None
    """CEL expression choosing which requests are logged, e.g. `response.code >= 400`."""
    mode: LogDirection | None = None
    """Which side logs: `CLIENT` (the caller's proxy, outbound), `SERVER` (the callee's, inbound) or
    both (Istio's default)."""
    disabled: bool = False


class TracingOverride(Tracing):
    provider: str | None = None  # type: ignore[assignment]
    """The provider; by default the mesh's (`spec.telemetry.tracing.provider`)."""


class AccessLoggingOverride(AccessLogging):
    provider: str | None = None  # type: ignore[assignment]
    """The provider; by default the mesh's (`spec.telemetry.accessLogging.provider`)."""


MetricName = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class MetricOverride(SpecModel):
    metric: MetricName = "ALL_METRICS"
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] = "CLIENT_AND_SERVER"
    disabled: bool = False
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags to add or change, as CEL expressions (`request.host`)."""
    remove_tags: list[str] = Field(default_factory=list)


class Metrics(SpecModel):
    provider: str = "prometheus"
    overrides: list[MetricOverride] = Field(default_factory=list)


class MetricsOverride(Metrics):
    provider: str | None = None  # type: ignore[assignment]
    """The provider; by default the mesh's (`spec.telemetry.metrics.provider`)."""


class ProviderService(SpecModel):
    """A collector reached at a Kubernetes Service (`zipkin.istio-system.svc.cluster.local`)."""

    service: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]


class ZipkinProvider(ProviderService):
    max_tag_length: Annotated[int, Field(ge=1)] | None = None


class FileAccessLogProvider(SpecModel):
    path: Annotated[str, Field(min_length=1)] = "/dev/stdout"


class OtelAccessLogProvider(ProviderService):
    log_name: str | None = None


class PrometheusProvider(SpecModel):
    """Istio's Prometheus metrics (no settings)."""


class ExtensionProvider(SpecModel):
    """An extension provider the Telemetry resources name: exactly one kind (MC205). It must be in
    the cluster's `meshConfig.extensionProviders`; `meshc mesh-config` prints that fragment."""

    name: Annotated[str, Field(min_length=1)]
    zipkin: ZipkinProvider | None = None
    opentelemetry: ProviderService | None = None
    datadog: ProviderService | None = None
    skywalking: ProviderService | None = None
    envoy_file_access_log: FileAccessLogProvider | None = None
    envoy_otel_als: OtelAccessLogProvider | None = None
    prometheus: PrometheusProvider | None = None


class Telemetry(SpecModel):
    """Mesh-wide telemetry, emitted as a Telemetry per namespace of the spec (or, with `meshWide`,
    once in the root namespace)."""

    providers: list[ExtensionProvider] = Field(default_factory=list)
    """The extension providers the spec's telemetry names besides Istio's built-in `envoy` (access
    log to stdout) and `prometheus`."""
    tracing: Tracing | None = None
    access_logging: AccessLogging | None = None
    metrics: Metrics | None = None


class TelemetryOverride(SpecModel):
    """Per-service telemetry, emitted as a Telemetry selecting the service's pods. A block without
    a `provider` keeps the mesh's provider (Istio inherits it from the namespace's Telemetry)."""

    tracing: TracingOverride | None = None
    access_logging: AccessLoggingOverride | None = None
    metrics: MetricsOverride | None = None


# --- Prometheus, SLOs and Grafana (mesh-wide `observability`, per-service `slo`) ---------------

SloPeriod = Annotated[
    str,
    Field(
        pattern=r"^([7-9]|[1-8][0-9]|90)d$",
        description="An SLO period in days, from `7d` to `90d`.",
        examples=["30d", "28d"],
    ),
]

Objective = Annotated[
    float,
    Field(
        gt=0,
        lt=100,
        description="An objective in percent, above 0 and below 100 (`100` would leave no error budget).",
        examples=[99.9],
    ),
]

Severity = Literal["page", "ticket"]

Window = Annotated[
    str,
    Field(
        pattern=r"^[1-9][0-9]{0,5}(m|h|d)$",
        description="A burn-rate window in whole minutes, hours or days (`5m`, `1h`, `3d`).",
        examples=["1h", "5m"],
    ),
]


class PrometheusOutput(SpecModel):
    output: Literal["operator", "files", "none"] = "operator"
    """`operator`: PrometheusRule, PodMonitor and ServiceMonitor (prometheus-operator); `files`: a
    plain rule file and a scrape-config snippet in ConfigMaps; `none`: nothing for Prometheus."""
    namespace: Name = "monitoring"
    """Where the mesh-wide rules, the monitors and the files-mode ConfigMaps live."""
    rule_labels: dict[str, str] = Field(default_factory=dict)
    """Labels on every PrometheusRule, for the Prometheus `ruleSelector`
    (`release: kube-prometheus-stack`)."""
    scrape: Literal["merged", "secure", "none"] = "merged"
    """`merged`: Istio's merged metrics on :15020 (plain HTTP, the default); `secure`: Envoy's stats
    over Istio mTLS on :15091 (Prometheus needs Istio certificates); `none`: already scraped."""


class GrafanaOutput(SpecModel):
    dashboards: Literal["configmap", "none"] = "configmap"
    """`configmap`: Classic dashboard JSON in ConfigMaps for the Grafana sidecar; `none`: no dashboards."""
    namespace: Name = "monitoring"
    """Where the dashboard ConfigMaps live (the namespace the Grafana sidecar watches)."""
    folder: str = "meshc"
    """Grafana folder, through the sidecar's `k8s-sidecar-target-directory` annotation."""
    label: dict[str, str] = Field(default_factory=lambda: {"grafana_dashboard": "1"})
    """The label the Grafana sidecar selects ConfigMaps by."""


class BurnWindow(SpecModel):
    """One multi-window burn-rate condition: both windows must burn faster than the factor."""

    severity: Severity
    long: Window
    short: Window
    budget_percent: Annotated[float, Field(gt=0, le=100)]
    """Share of the period's error budget this condition spends before it fires; the burn factor
    is `budgetPercent / 100 x period / long`."""


class AlertLabels(SpecModel):
    page: AlertLabelMap = Field(default_factory=lambda: {"severity": "critical"})
    ticket: AlertLabelMap = Field(default_factory=lambda: {"severity": "warning"})


class SloSettings(SpecModel):
    period: SloPeriod = "30d"
    """The SLO period; the burn-rate factors are derived from it."""
    windows: Literal["default"] | list[BurnWindow] = "default"
    """`default`: page at 2% of the budget over 1h/5m and 5% over 6h/30m, ticket at 10% over 1d/2h
    and 10% over 3d/6h (14.4x, 6x, 3x and 1x for 30 days), as in the SRE workbook, sloth and pyrra."""
    alert_labels: AlertLabels = Field(default_factory=lambda: AlertLabels())
    """Labels of the page and ticket alerts (Alertmanager routes on them)."""


class Observability(SpecModel):
    """Monitoring generated from the graph: Prometheus scraping, SLO rules and alerts, dashboards."""

    prometheus: PrometheusOutput = Field(default_factory=PrometheusOutput)
    grafana: GrafanaOutput = Field(default_factory=GrafanaOutput)
    slo: SloSettings = Field(default_factory=SloSettings)


Reporter = Literal["auto", "source", "destination"]

LATENCY_PERCENTILES: dict[str, float] = {"p50": 50, "p75": 75, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9}
"""The `pNN` sugar of a latency objective: `p99: 250ms` means 99% of requests within 250 ms."""


class LatencySlo(SpecModel):
    """Either one `pNN: duration` (`p99: 250ms`) or `threshold` with `objective`; the threshold must
    be an Envoy histogram bucket edge (rule MC170)."""

    p50: Duration | None = None
    p75: Duration | None = None
    p90: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    p999: Duration | None = None
    threshold: Duration | None = None
    """Requests slower than this count against the objective."""
    objective: Objective | None = None
    """Percent of requests that must be faster than `threshold`."""

    def resolved(self) -> tuple[str, float] | None:
        """(threshold, objective in percent), or None when the form is not exactly one of the two."""
        sugar = [(getattr(self, key), pct) for key, pct in LATENCY_PERCENTILES.items() if getattr(self, key)]
        explicit = self.threshold is not None or self.objective is not None
        if len(sugar) == 1 and not explicit:
            return sugar[0]
        if not sugar and self.threshold is not None and self.objective is not None:
            return self.threshold, self.objective
        return None


class SloAlert(SpecModel):
    page: bool = True
    """Page on fast burns (1h/5m and 6h/30m with the default windows)."""
    ticket: bool = True
    """Open a ticket on slow burns (1d/2h and 3d/6h with the default windows)."""
    labels: AlertLabelMap = Field(default_factory=dict)
    """Extra labels on this SLO's alerts; `team` defaults to the service's team."""


class Slo(SpecModel):
    """Service level objectives measured from Istio's standard metrics."""

    availability: Objective | None = None
    """Percent of requests that must not fail (5xx; on gRPC ports also the gRPC failure statuses)."""
    latency: LatencySlo | None = None
    reporter: Reporter | None = None
    """Which proxy measures: `source` (the callers' sidecars and gateways: still reports when every
    pod of the service is down), `destination` (the service's own sidecar: blind to a total outage),
    or `auto` (source when every declared caller is in the mesh). Defaults to `spec.defaults.slo`."""
    alert: SloAlert = Field(default_factory=SloAlert)


class SloDefaults(SpecModel):
    reporter: Reporter = "auto"
