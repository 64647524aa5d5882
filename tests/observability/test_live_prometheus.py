"""The emitted rules and dashboards against a real Prometheus (Debian's `prometheus` 2.42).

One module-scoped run: the test starts `prometheus` on a free loopback port with temporary
storage, 1 s scrape and evaluation intervals and the rule file compiled from a small mesh, scraping
a stdlib exporter that serves synthetic Istio metrics. Each exporter counter grows by a fixed step
per scrape, so every ratio is exact whatever the timing. Then: every recorded SLI within 1e-6 of
its expected value, the alert states from /api/v1/alerts with exact label sets, every rule healthy
in /api/v1/rules, and every dashboard panel query non-empty (with the expected value where the
panel shows one). Skipped where `prometheus` is missing, a failure under CI=true.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from dashhelp import concrete, dashboards, targets
from obshelp import NS, compile_spec, mesh_spec, require_tool, rule_groups, write_rule_file

from meshc.compiler.lower import Manifest

DEADLINE = 120.0
WEB = "spiffe://cluster.local/ns/shop/sa/web"
INTRUDER = "spiffe://cluster.local/ns/other/sa/intruder"
SLO_SERVICES = ("tight", "loose", "dest", "split")

# (service, code, response_flags, grpc status, version, step per scrape)
RESPONSES: list[tuple[str, str, str, str, str, int]] = [
    ("tight", "200", "-", "", "v1", 98),
    ("tight", "404", "NR", "", "v1", 1),
    ("tight", "500", "URX", "", "v1", 1),  # 1% errors
    ("loose", "200", "-", "", "v1", 99),
    ("loose", "404", "NR", "", "v1", 1),  # no 5xx at all: ratio exactly 0
    ("dest", "200", "-", "0", "v1", 96),
    ("dest", "200", "-", "14", "v1", 1),  # gRPC UNAVAILABLE on HTTP 200 counts as an error
    ("dest", "503", "UH", "14", "v1", 2),  # 3% errors
    ("dest", "404", "NR", "5", "v1", 1),
    ("split", "200", "-", "", "v1", 50),
    ("split", "404", "NR", "", "v1", 1),
    ("split", "200", "-", "", "v2", 49),  # declared 90/10, observed 51/49
]
BUCKETS = (("100", 30), ("250", 50), ("500", 100), ("+Inf", 100))  # half the requests within 250 ms
EXPECTED_AVAILABILITY = {
    ("tight", "source"): 0.01,
    ("loose", "source"): 0.0,
    ("dest", "destination"): 3 / 101,
}
"""dest: 3 errors in 100 requests from web, plus the intruder's 403 its own sidecar also counts."""


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def exposition(scrapes: int) -> str:
    """The exporter's page after `scrapes` scrapes: every counter at scrapes x its step."""
    lines = []
    for reporter in ("source", "destination"):
        for svc, code, flags, grpc, version, step in RESPONSES:
            labels = _labels(
                reporter=reporter,
                destination_service_namespace=NS,
                destination_service_name=svc,
                destination_version=version,
                response_code=code,
                response_flags=flags,
                grpc_response_status=grpc,
                source_canonical_service="web",
                source_workload_namespace=NS,
                source_principal=WEB,
            )
            lines.append(f"istio_requests_total{labels} {scrapes * step}")
        for svc in SLO_SERVICES:
            base = {
                "reporter": reporter,
                "destination_service_namespace": NS,
                "destination_service_name": svc,
                "source_canonical_service": "web",
                "source_workload_namespace": NS,
            }
            for le, step in BUCKETS:
                lines.append(
                    f"istio_request_duration_milliseconds_bucket{_labels(**base, le=le)} {scrapes * step}"
                )
            lines.append(f"istio_request_duration_milliseconds_count{_labels(**base)} {scrapes * 100}")
            lines.append(f"istio_request_duration_milliseconds_sum{_labels(**base)} {scrapes * 30000}")
    for svc in SLO_SERVICES:
        denied = _labels(
            reporter="destination",
            destination_service_namespace=NS,
            destination_service_name=svc,
            response_code="403",
            source_principal=INTRUDER,
            source_canonical_service="intruder",
            source_workload_namespace="other",
        )
        lines.append(f"istio_requests_total{denied} {scrapes}")
        outbound = _labels(
            reporter="source",
            destination_service_namespace=NS,
            destination_service_name="web",
            response_code="200",
            source_canonical_service=svc,
            source_workload_namespace=NS,
        )
        lines.append(f"istio_requests_total{outbound} {scrapes}")
        tcp = _labels(reporter="destination", destination_service_namespace=NS, destination_service_name=svc)
        lines.append(f"istio_tcp_sent_bytes_total{tcp} {scrapes * 1000}")
        lines.append(f"istio_tcp_received_bytes_total{tcp} {scrapes * 500}")
    return "\n".join(lines) + "\n"


class _Exporter(BaseHTTPRequestHandler):
    scrapes = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with _Exporter.lock:
            _Exporter.scrapes += 1
            body = exposition(_Exporter.scrapes).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, url: str, manifests: list[Manifest]) -> None:
        self.url = url
        self.manifests = manifests

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            data = json.load(response)
        assert data["status"] == "success", data
        return data["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result = self.get("/api/v1/query", query=expr)
        return list(result["result"])


def _ready(prom: Prometheus) -> bool:
    """Every SLI, the period ratio and every alert have been evaluated with data."""
    try:
        alerts = prom.get("/api/v1/alerts")["alerts"]
        groups = prom.get("/api/v1/rules")["groups"]
        period = prom.query('meshc:sli_availability_error:ratio_rate30d{destination_service_name="tight"}')
    except OSError:
        return False
    evaluated = all(r.get("lastEvaluation", "").startswith("20") for g in groups for r in g["rules"])
    names = {a["labels"]["alertname"] for a in alerts}
    return (
        evaluated
        and bool(period)
        and {"MeshcSLOFastBurn", "MeshcSLOSlowBurn", "MeshcSplitDeparture"} <= names
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    manifests = compile_spec(tmp, mesh_spec())
    groups = rule_groups(manifests)
    for group in groups:
        group.pop("interval", None)  # the 5-minute period group too: every second, for the test
    rules = write_rule_file(tmp / "rules.yaml", groups)
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "synthetic-istio",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    log = (tmp / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom = Prometheus(f"http://127.0.0.1:{port}", manifests)
    try:
        deadline = time.monotonic() + DEADLINE
        while not _ready(prom):
            assert process.poll() is None, (tmp / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus did not evaluate every rule in time"
            time.sleep(0.5)
        time.sleep(2)  # two more evaluations, so every rule has seen at least two scrapes
        yield prom
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        exporter.shutdown()
        exporter.server_close()


def test_every_rule_is_healthy(prometheus: Prometheus) -> None:
    groups = prometheus.get("/api/v1/rules")["groups"]
    emitted = sum(len(g["rules"]) for g in rule_groups(prometheus.manifests))
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == emitted
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy


def test_recorded_slis_are_exact(prometheus: Prometheus) -> None:
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    for (svc, reporter), expected in EXPECTED_AVAILABILITY.items():
        for w in windows:
            selector = f'{{destination_service_name="{svc}", reporter="{reporter}"}}'
            (sample,) = prometheus.query(f"meshc:sli_availability_error:ratio_rate{w}{selector}")
            assert abs(float(sample["value"][1]) - expected) < 1e-6, (svc, w, sample)
    for w in windows:
        selector = '{destination_service_name="tight", reporter="source", le_ms="250"}'
        (sample,) = prometheus.query(f"meshc:sli_latency_error:ratio_rate{w}{selector}")
        assert abs(float(sample["value"][1]) - 0.5) < 1e-6, (w, sample)
    (burn,) = prometheus.query(
        'meshc:sli_availability_error:ratio_rate1h{destination_service_name="tight", reporter="source"}'
        " / on(reporter, destination_service_namespace, destination_service_name) group_right()"
        ' meshc:slo_error_budget:ratio{slo="availability"}'
    )
    assert abs(float(burn["value"][1]) - 10) < 1e-6


def _row(svc: str, reporter: str, slo: str, **extra: str) -> dict[str, str]:
    return {
        "destination_service_namespace": NS,
        "destination_service_name": svc,
        "reporter": reporter,
        "slo": slo,
        "alerting": "page-ticket",
        **extra,
    }


def test_alert_states_and_exact_labels(prometheus: Prometheus) -> None:
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    found = sorted((a["state"], json.dumps(a["labels"], sort_keys=True)) for a in alerts)
    burning = [
        _row("tight", "source", "availability", team="checkout"),
        _row("tight", "source", "latency", team="checkout", le_ms="250"),
        _row("dest", "destination", "availability"),
    ]
    expected = [
        *(("firing", {"alertname": "MeshcSLOFastBurn", "severity": "critical", **b}) for b in burning),
        *(("firing", {"alertname": "MeshcSLOSlowBurn", "severity": "warning", **b}) for b in burning),
        *(
            (
                "pending",
                {
                    "alertname": "MeshcUndeclaredCaller",
                    "severity": "warning",
                    "source_principal": INTRUDER,
                    "destination_service_namespace": NS,
                    "destination_service_name": svc,
                },
            )
            for svc in SLO_SERVICES
        ),
        *(
            (
                "pending",
                {
                    "alertname": "MeshcSplitDeparture",
                    "severity": "warning",
                    "destination_service_namespace": NS,
                    "destination_service_name": "split",
                    "destination_version": v,
                },
            )
            for v in ("v1", "v2")
        ),
    ]
    assert found == sorted((state, json.dumps(labels, sort_keys=True)) for state, labels in expected)
    summaries = {
        a["annotations"]["summary"] for a in alerts if a["labels"]["alertname"] == "MeshcSLOFastBurn"
    }
    assert "tight.shop burns its availability error budget 10x too fast (page)" in summaries


def test_every_dashboard_query_returns_data(prometheus: Prometheus) -> None:
    checked = 0
    values: dict[tuple[str, str, str], float] = {}
    for m, board in dashboards(prometheus.manifests):
        for panel, target in targets(board):
            result = prometheus.query(concrete(target["expr"]))
            assert result, f"{m.name} {panel['title']!r} {target['refId']}: no data for {target['expr']}"
            if len(result) == 1:
                values[(m.name, panel["title"], target["refId"])] = float(result[0]["value"][1])
            checked += 1
    assert checked > 50
    tight = "meshc-dashboard-tight"
    assert abs(values[(tight, "Availability: SLI and objective", "A")] - 0.99) < 1e-6
    assert abs(values[(tight, "Availability: SLI and objective", "B")] - 0.999) < 1e-9
    assert abs(values[(tight, "Availability: error budget and burn rate", "B")] - 10) < 1e-6
    assert abs(values[(tight, "Requests within 250 ms: SLI and objective", "A")] - 0.5) < 1e-6
    assert abs(values[("meshc-dashboard-dest", "Availability: SLI and objective", "A")] - 98 / 101) < 1e-6
