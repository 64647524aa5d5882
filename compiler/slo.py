"""SLO facts derived from the spec, shared by the rules (MC170-MC174) and the lowering.

Everything numeric is a `Decimal` built from the spec's text, so a budget of 99.9% is exactly
`0.001` and a 30-day page factor exactly `14.4` (sloth prints `0.0009999999999999432`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property

from meshc.spec.models import BurnWindow, Observability, Slo, duration_seconds

from .index import MeshIndex, ServiceInfo

ENVOY_BUCKETS_MS: tuple[Decimal, ...] = tuple(
    Decimal(b)
    for b in (
        "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
        "30000", "60000", "300000", "600000", "1800000", "3600000",
    )
)  # fmt: skip
"""Envoy's default histogram buckets in milliseconds (`source/common/stats/histogram_impl.cc`): the
only latency thresholds `istio_request_duration_milliseconds_bucket` can measure."""

DEFAULT_WINDOWS: tuple[tuple[str, str, str, str], ...] = (
    ("page", "1h", "5m", "2"),
    ("page", "6h", "30m", "5"),
    ("ticket", "1d", "2h", "10"),
    ("ticket", "3d", "6h", "10"),
)
"""(severity, long, short, % of budget): the SRE workbook's windows plus sloth's and pyrra's 1d/2h."""

SLI_METRICS = {"availability": "REQUEST_COUNT", "latency": "REQUEST_DURATION"}
"""The Istio standard metric each SLI kind is computed from (Telemetry override names)."""
SLI_TAGS = ("reporter", "destination_service_namespace", "destination_service_name")
"""Labels every SLI groups or selects by; `response_code` too for availability."""


@cache
def number(value: Decimal) -> str:
    """The shortest exact decimal text (`0.001`, `14.4`, `1`), never an exponent."""
    text = format(value.normalize(), "f")
    return text


def duration_text(seconds: Decimal) -> str:
    """A Prometheus duration for whole seconds: the largest unit that divides it (`3d`, `30m`)."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _seconds(duration: str) -> Decimal:
    if duration.endswith("d"):  # burn-rate windows and periods; spec durations stop at hours
        return Decimal(duration[:-1]) * 86400
    return Decimal(str(duration_seconds(duration))).normalize()


@dataclass(frozen=True, slots=True)
class BurnRate:
    severity: str
    long: str
    short: str
    factor: Decimal
    """Burn-rate factor: `budget% / 100 x period / long`."""


def burn_rates(observability: Observability) -> list[BurnRate]:
    """The multi-window conditions, factors derived from the period (14.4/6/3/1 for 30 days)."""
    settings = observability.slo
    period = Decimal(settings.period.removesuffix("d")) * 86400
    if settings.windows == "default":
        windows = [
            BurnWindow.model_validate({"severity": s, "long": lo, "short": sh, "budgetPercent": float(p)})
            for s, lo, sh, p in DEFAULT_WINDOWS
        ]
    else:
        windows = list(settings.windows)
    out = []
    for w in windows:
        long_s = _seconds(w.long)
        factor = Decimal(str(w.budget_percent)) / 100 * period / long_s
        factor = factor.quantize(Decimal("0.000001"))  # 28 days: 0.933333, not 28 digits of 3
        out.append(
            BurnRate(w.severity, duration_text(long_s), duration_text(_seconds(w.short)), factor.normalize())
        )
    return out


@cache
def budget(objective: float) -> Decimal:
    """The error budget of an objective in percent: `1 - objective/100`, exactly (99.9 -> 0.001)."""
    return ((Decimal(100) - Decimal(str(objective))) / 100).normalize()


@cache
def threshold_ms(duration: str) -> Decimal:
    """A latency threshold in milliseconds, exactly (`250ms` -> 250, `1s` -> 1000)."""
    return (_seconds(duration) * 1000).normalize()


def neighbour_buckets(ms: Decimal) -> tuple[Decimal | None, Decimal | None]:
    below = max((b for b in ENVOY_BUCKETS_MS if b < ms), default=None)
    above = min((b for b in ENVOY_BUCKETS_MS if b > ms), default=None)
    return below, above


@dataclass(frozen=True, slots=True)
class Objective:
    """One declared SLO objective: one row `meshc:slo_error_budget:ratio` in the output."""

    info: ServiceInfo
    kind: str  # availability | latency
    budget: Decimal
    reporter: str  # source | destination
    le_ms: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ReporterChoice:
    reporter: str
    auto: bool
    """Chosen by `auto` (rather than written in the spec)."""
    outsiders: tuple[str, ...] = ()
    """Why auto chose destination: declared callers that are not mesh workloads (or 'no declared caller')."""


def in_mesh(index: MeshIndex, info: ServiceInfo) -> bool:
    """Whether the service's pods run a sidecar (so they report `reporter="source"` for their calls)."""
    injection = info.model.injection or index.namespace_injection(info.namespace)
    return injection.enabled


def reporter_choice(index: MeshIndex, info: ServiceInfo, slo: Slo) -> ReporterChoice:
    """`source` when every declared caller is a mesh workload or a gateway (their sidecars keep
    reporting 503s when every pod of the service is down); else `destination`."""
    chosen = slo.reporter or index.mesh.spec.defaults.slo.reporter
    if chosen != "auto":
        return ReporterChoice(chosen, False)
    outsiders = sorted({e.caller.key for e in info.callers if not in_mesh(index, e.caller)})
    if not info.callers and not info.gateway_routes:
        return ReporterChoice("destination", True, ("no declared caller",))
    if outsiders:
        return ReporterChoice("destination", True, tuple(outsiders))
    return ReporterChoice("source", True)


def declared_split(info: ServiceInfo) -> dict[str, int]:
    """Declared weights per `destination_version` when they alone decide the split: no routes
    (matched traffic goes elsewhere) and no mirror; versions must carry a `version` label."""
    traffic = info.traffic
    if not traffic.split or traffic.routes or traffic.mirror:
        return {}
    versions = {v.name: info.version_labels(v).get("version") for v in info.versions}
    if any(versions.get(name) is None for name in traffic.split):
        return {}
    return {str(versions[name]): weight for name, weight in sorted(traffic.split.items())}


class SloPlan:
    """Every objective of the mesh, in spec order, with the reporter each one uses."""

    def __init__(self, index: MeshIndex) -> None:
        self.index = index

    @cached_property
    def objectives(self) -> list[Objective]:
        out: list[Objective] = []
        for info in self.index.services.values():
            slo = info.model.slo
            if slo is None:
                continue
            reporter = reporter_choice(self.index, info, slo).reporter
            if slo.availability is not None:
                out.append(Objective(info, "availability", budget(slo.availability), reporter))
            if slo.latency is not None:
                resolved = slo.latency.resolved()
                if resolved is not None:
                    threshold, objective = resolved
                    out.append(
                        Objective(info, "latency", budget(objective), reporter, threshold_ms(threshold))
                    )
        return out

    @cached_property
    def splits(self) -> dict[str, dict[str, int]]:
        """`declared_split` of each service with an SLO, by key (computed once per plan)."""
        infos = {id(o.info): o.info for o in self.objectives}
        return {info.key: declared_split(info) for info in infos.values()}

    @cached_property
    def has_declared_split(self) -> bool:
        """Some service with an SLO declares a split that alone decides its versions' shares."""
        return any(self.splits.values())

    @cached_property
    def thresholds(self) -> list[Decimal]:
        return sorted({o.le_ms for o in self.objectives if o.le_ms is not None})

    @cached_property
    def kinds(self) -> list[str]:
        return sorted({o.kind for o in self.objectives})
