"""The compiled rules, checked and unit-tested by Prometheus's own `promtool`.

`promtool check rules` parses every emitted rule file (examples and the test mesh, both output
modes). `promtool test rules` evaluates the emitted rules over input series that this module
generates from the compiled mesh (its namespaces, names and objectives), in the scenarios of
issue 16: 2% errors against 99.9%, traffic without 5xx, a 10-minute outage, a total outage seen
from both sides, two objectives at one error rate, exact alert label sets, latency, undeclared
callers and a split that departs from the spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from obshelp import NS, REPO, compile_spec, mesh_spec, promtool, rule_groups, write_rule_file

from meshc.compiler.pipeline import run

EXAMPLES_WITH_OBSERVABILITY = sorted(
    p for p in (REPO / "examples").glob("*/mesh.yaml") if "observability:" in p.read_text(encoding="utf-8")
)

# --- series ---------------------------------------------------------------------------------------

MINUTES = 4 * 60


def counter(per_minute: list[float | None]) -> str:
    """promtool's value list of a counter growing by `per_minute[i]` in minute i (None: no sample)."""
    values, total, started = [], 0.0, False
    for rate in per_minute:
        if rate is None:
            values.append("_")
            continue
        if started:
            total += rate
        started = True
        values.append(f"{total:g}")
    return " ".join(values)


def requests(
    name: str, reporter: str, code: str, per_minute: list[float | None], **extra: str
) -> dict[str, str]:
    labels = {
        "reporter": reporter,
        "destination_service_namespace": NS,
        "destination_service_name": name,
        "response_code": code,
        **extra,
    }
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"istio_requests_total{{{inner}}}", "values": counter(per_minute)}


def steady(rate: float, minutes: int = MINUTES) -> list[float | None]:
    return [rate] * (minutes + 1)


def row_labels(
    name: str, reporter: str, slo: str, alerting: str = "page-ticket", **extra: str
) -> dict[str, str]:
    return {
        "destination_service_namespace": NS,
        "destination_service_name": name,
        "reporter": reporter,
        "slo": slo,
        "alerting": alerting,
        **extra,
    }


def page(labels: dict[str, str]) -> dict[str, Any]:
    return {"exp_labels": {**labels, "severity": "critical"}}


def ticket(labels: dict[str, str]) -> dict[str, Any]:
    return {"exp_labels": {**labels, "severity": "warning"}}


TIGHT = row_labels("tight", "source", "availability", team="checkout")
LOOSE = row_labels("loose", "source", "availability", team="checkout", channel="slow")
DEST = row_labels("dest", "destination", "availability")
TIGHT_SOURCE = (
    f'{{destination_service_name="tight", destination_service_namespace="{NS}", reporter="source"}}'
)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("promtool")
    groups = rule_groups(compile_spec(tmp, mesh_spec()))
    rules = write_rule_file(tmp / "rules.yaml", groups, annotations=False)
    return rules, groups


def run_tests(tmp_path: Path, rules: Path, tests: list[dict[str, Any]]) -> None:
    spec = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": tests}
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- promtool check rules -------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES_WITH_OBSERVABILITY, ids=lambda p: p.parent.name)
def test_example_rule_files_pass_promtool_check(path: Path, tmp_path: Path) -> None:
    groups = rule_groups(run(path).manifests)
    assert groups, "the example declares observability but emits no rules"
    result = promtool("check", "rules", str(write_rule_file(tmp_path / "rules.yaml", groups)))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("output", ["operator", "files"])
def test_both_output_modes_emit_the_same_checked_rules(output: str, tmp_path: Path) -> None:
    spec = mesh_spec(prometheus={"output": output, "ruleLabels": {"release": "prom"}})
    groups = rule_groups(compile_spec(tmp_path, spec))
    result = promtool("check", "rules", str(write_rule_file(tmp_path / "rules.yaml", groups)))
    assert result.returncode == 0, result.stdout + result.stderr
    operator = rule_groups(compile_spec(tmp_path, mesh_spec(), "operator.yaml"))
    key = lambda g: g["name"]  # noqa: E731
    assert sorted(groups, key=key) == sorted(operator, key=key)


def test_check_fails_on_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: promtool rejects a rule file with a PromQL error."""
    broken = [{"name": "x", "rules": [{"record": "a:b:c", "expr": "sum by (x (rate(y[5m]))"}]}]
    result = promtool("check", "rules", str(write_rule_file(tmp_path / "rules.yaml", broken)))
    assert result.returncode != 0


# --- promtool test rules --------------------------------------------------------------------------


def test_two_percent_errors_page_and_ticket_only_the_tighter_objective_pages(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    rules, _ = compiled
    series = []
    for name in ("tight", "loose"):
        series += [
            requests(name, "source", "200", steady(98)),
            requests(name, "source", "500", steady(2)),
            requests(name, "destination", "200", steady(100)),  # no errors on the destination side
        ]
    sli = "meshc:sli_availability_error:ratio_rate1h"
    exact = sli + '{{destination_service_name="{}", reporter="{}"}}'
    exact = "abs(" + exact + " - {}) < bool 1e-9"
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    # 2% errors burn 99.9% at 20x (> 14.4 and > 3) and 99% at 2x (> 1 only).
                    {"eval_time": "2h", "alertname": "MeshcSLOFastBurn", "exp_alerts": [page(TIGHT)]},
                    {
                        "eval_time": "3h",
                        "alertname": "MeshcSLOSlowBurn",
                        "exp_alerts": [ticket(TIGHT), ticket(LOOSE)],
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": exact.format("tight", "source", "0.02"),
                        "eval_time": "2h",
                        "exp_samples": [{"labels": TIGHT_SOURCE, "value": 1}],
                    },
                    {  # source-reported errors do not leak into the destination SLI
                        "expr": sli + '{destination_service_name="tight", reporter="destination"}',
                        "eval_time": "2h",
                        "exp_samples": [
                            {
                                "labels": sli + '{destination_service_name="tight",'
                                f' destination_service_namespace="{NS}", reporter="destination"}}',
                                "value": 0,
                            }
                        ],
                    },
                ],
            }
        ],
    )


def test_traffic_without_errors_has_a_ratio_of_exactly_zero(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    rules, _ = compiled
    expected = [
        {
            "labels": f'meshc:sli_availability_error:ratio_rate{w}{{destination_service_name="loose",'
            f' destination_service_namespace="{NS}", reporter="source"}}',
            "value": 0,
        }
        for w in ("5m",)
    ]
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": [requests("loose", "source", "200", steady(50, 60))],
                "promql_expr_test": [
                    {
                        "expr": 'meshc:sli_availability_error:ratio_rate5m{destination_service_name="loose"}',
                        "eval_time": "1h",
                        "exp_samples": expected,
                    }
                ],
                "alert_rule_test": [{"eval_time": "1h", "alertname": "MeshcSLOFastBurn", "exp_alerts": []}],
            }
        ],
    )


def test_ten_minute_outage_pages_within_five_minutes_and_the_ticket_outlives_the_page(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    rules, _ = compiled
    outage = range(181, 191)  # minutes 3h00m-3h10m: every request fails
    ok = [0.0 if m in outage else 100.0 for m in range(MINUTES + 1)]
    failed: list[float | None] = [
        None if m < 180 else (100.0 if m in outage else 0.0) for m in range(MINUTES + 1)
    ]
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": [
                    requests("tight", "source", "200", list(ok)),
                    requests("tight", "source", "503", failed, response_flags="UH"),
                ],
                "alert_rule_test": [
                    {"eval_time": "2h59m", "alertname": "MeshcSLOFastBurn", "exp_alerts": []},
                    {"eval_time": "3h5m", "alertname": "MeshcSLOFastBurn", "exp_alerts": [page(TIGHT)]},
                    {"eval_time": "4h", "alertname": "MeshcSLOFastBurn", "exp_alerts": []},
                    {"eval_time": "4h", "alertname": "MeshcSLOSlowBurn", "exp_alerts": [ticket(TIGHT)]},
                ],
            }
        ],
    )


def test_total_outage_pages_from_the_source_side_only(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Every pod of both services dies at 2h: their own sidecars stop reporting (the destination
    series end), the callers' sidecars report 503 UH. `tight` measures at the source and pages;
    `dest` measures at the destination and stays silent, which is what MC173 warns about."""
    rules, _ = compiled
    down = 120
    alive: list[float | None] = [100.0 if m <= down else None for m in range(MINUTES + 1)]
    source_ok = [100.0 if m <= down else 0.0 for m in range(MINUTES + 1)]
    source_503: list[float | None] = [
        None if m < down else (0.0 if m == down else 100.0) for m in range(MINUTES + 1)
    ]
    series = []
    for name in ("tight", "dest"):
        series += [
            requests(name, "destination", "200", list(alive)),
            requests(name, "source", "200", list(source_ok)),
            requests(name, "source", "503", list(source_503), response_flags="UH"),
        ]
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "2h5m", "alertname": "MeshcSLOFastBurn", "exp_alerts": [page(TIGHT)]},
                    {"eval_time": "2h30m", "alertname": "MeshcSLOFastBurn", "exp_alerts": [page(TIGHT)]},
                ],
                "promql_expr_test": [
                    {
                        "expr": 'meshc:sli_availability_error:ratio_rate5m{destination_service_name="dest",'
                        ' reporter="destination"}',
                        "eval_time": "2h30m",
                        "exp_samples": [],
                    }
                ],
            }
        ],
    )


def test_latency_objective_counts_requests_above_the_bucket(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    rules, _ = compiled

    def bucket(le: str, rate: float) -> dict[str, str]:
        labels = f'destination_service_name="tight", destination_service_namespace="{NS}",'
        labels += f' le="{le}", reporter="source"'
        return {
            "series": f"istio_request_duration_milliseconds_bucket{{{labels}}}",
            "values": counter(steady(rate, 120)),
        }

    count_labels = (
        f'destination_service_name="tight", destination_service_namespace="{NS}", reporter="source"'
    )
    series = [
        bucket("100", 30),
        bucket("250", 50),  # half the requests within 250 ms
        bucket("500", 100),
        bucket("+Inf", 100),
        {
            "series": f"istio_request_duration_milliseconds_count{{{count_labels}}}",
            "values": counter(steady(100, 120)),
        },
    ]
    latency = row_labels("tight", "source", "latency", team="checkout", le_ms="250")
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": 'abs(meshc:sli_latency_error:ratio_rate5m{le_ms="250"} - 0.5) < bool 1e-9',
                        "eval_time": "1h",
                        "exp_samples": [{"labels": f'{{{count_labels}, le_ms="250"}}', "value": 1}],
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "1h", "alertname": "MeshcSLOFastBurn", "exp_alerts": [page(latency)]}
                ],
            }
        ],
    )


def test_spec_aware_alerts_undeclared_caller_and_split_departure(
    compiled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    rules, _ = compiled
    web = "spiffe://cluster.local/ns/shop/sa/web"
    intruder = "spiffe://cluster.local/ns/other/sa/intruder"
    series = [
        requests("tight", "destination", "200", steady(100, 60), source_principal=web),
        requests("tight", "destination", "403", steady(5, 60), source_principal=intruder),
        # declared 90/10, observed 50/50
        requests("split", "source", "200", steady(50, 60), destination_version="v1"),
        requests("split", "source", "200", steady(50, 60), destination_version="v2"),
    ]
    split = {"destination_service_namespace": NS, "destination_service_name": "split", "severity": "warning"}
    run_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "30m",
                        "alertname": "MeshcUndeclaredCaller",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "destination_service_namespace": NS,
                                    "destination_service_name": "tight",
                                    "source_principal": intruder,
                                    "severity": "warning",
                                }
                            }
                        ],
                    },
                    {
                        "eval_time": "1h",
                        "alertname": "MeshcSplitDeparture",
                        "exp_alerts": [
                            {"exp_labels": {**split, "destination_version": "v1"}},
                            {"exp_labels": {**split, "destination_version": "v2"}},
                        ],
                    },
                ],
            }
        ],
    )


def test_rule_count_does_not_grow_with_services(tmp_path: Path) -> None:
    """One objective row per SLO; everything else is mesh-wide."""

    def counts(n: int) -> tuple[int, int]:
        spec = mesh_spec()
        services = spec["spec"]["services"]
        services[0]["calls"] += [{"service": f"extra{i}"} for i in range(n)]
        services += [
            {
                "name": f"extra{i}",
                "ports": [{"port": 8080, "protocol": "http"}],
                "slo": {"availability": 99.9},
            }
            for i in range(n)
        ]
        manifests = compile_spec(tmp_path, spec, f"mesh{n}.yaml")
        mesh_wide = sum(
            len(g["rules"])
            for m in manifests
            if m.name == "slotest-meshc-sli"
            for g in m.body["spec"]["groups"]
        )
        rows = sum(
            1
            for g in rule_groups(manifests)
            for r in g["rules"]
            if r.get("record") == "meshc:slo_error_budget:ratio"
        )
        return mesh_wide, rows

    small, big = counts(1), counts(50)
    assert small[0] == big[0]
    assert big[1] - small[1] == 49
