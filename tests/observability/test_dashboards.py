"""Structure of the Grafana dashboards meshc emits (Grafana itself cannot run here).

Each dashboard: a stable uid of 8-40 characters, unique panel ids, a non-empty refId unique per
panel, a 24-column grid without overlap, every variable defined, a templated datasource, a pinned
schemaVersion, under 256 KiB as a ConfigMap; every query parses (Prometheus's own parser, through
`promtool check rules` on a synthetic rule per query) and reads only Istio's standard metrics or
series meshc's rules record. Their values are checked against a real Prometheus in
test_live_prometheus.py.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml
from dashhelp import ISTIO_STANDARD_METRICS, concrete, dashboards, metric_names, targets
from obshelp import REPO, compile_spec, mesh_spec, promtool, rule_groups, write_rule_file

from meshc.compiler.emit import dump
from meshc.compiler.lower import Manifest
from meshc.compiler.lower.dashboards import MAX_BYTES, SCHEMA_VERSION
from meshc.compiler.pipeline import run

SHOP = REPO / "examples" / "shop" / "mesh.yaml"
BUILTIN = {"__rate_interval", "__interval", "__range"}


@pytest.fixture(scope="module")
def shop() -> list[Manifest]:
    return run(SHOP).manifests


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    return compile_spec(tmp_path_factory.mktemp("dash"), mesh_spec())


def test_one_dashboard_per_service_with_an_slo_and_one_for_the_mesh(shop: list[Manifest]) -> None:
    with_slo = sorted(s["name"] for s in yaml.safe_load(SHOP.read_text())["spec"]["services"] if "slo" in s)
    services = yaml.safe_load(SHOP.read_text())["spec"]["services"]
    namespaces = {s["name"]: s.get("namespace", "shop") for s in services}
    names = sorted(m.name for m, _ in dashboards(shop))
    assert names == sorted(["shop-meshc-dashboard", *(f"meshc-dashboard-{s}" for s in with_slo)])
    for m, _ in dashboards(shop):
        labels = m.body["metadata"]["labels"]
        assert labels["grafana_dashboard"] == "1"
        assert m.body["metadata"]["annotations"] == {"k8s-sidecar-target-directory": "shop"}
        # the mesh overview in grafana's namespace; a service's beside the service (its team's stack)
        expected = "monitoring" if m.owner is None else namespaces[m.owner.removeprefix("service/")]
        assert m.namespace == expected, m.ref
        assert len(dump(m.body).encode()) < MAX_BYTES


@pytest.mark.parametrize("which", ["shop", "small"])
def test_structure(which: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(which)
    uids = set()
    for m, board in dashboards(manifests):
        assert 8 <= len(board["uid"]) <= 40 and re.fullmatch(r"[a-z0-9-]+", board["uid"]), board["uid"]
        uids.add(board["uid"])
        assert board["schemaVersion"] == SCHEMA_VERSION
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), m.name
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (m.name, panel["title"])
            mine = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & mine, f"{m.name}: panel {panel['title']!r} overlaps another"
            cells |= mine
            refs = [t["refId"] for t in panel["targets"]]
            assert all(refs) and len(refs) == len(set(refs)), (m.name, panel["title"])
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        defined = {v["name"] for v in board["templating"]["list"]} | BUILTIN
        used = set(re.findall(r"\$\{?(\w+)", yaml.safe_dump(board["panels"])))
        assert used <= defined, used - defined
    assert len(uids) == len(list(dashboards(manifests))), "uids are unique"


def test_every_query_parses_and_reads_known_metrics(
    small: list[Manifest], shop: list[Manifest], tmp_path: Path
) -> None:
    for manifests in (small, shop):
        recorded = {r["record"] for g in rule_groups(manifests) for r in g["rules"] if "record" in r}
        rules = []
        for m, board in dashboards(manifests):
            for panel, target in targets(board):
                expr = concrete(target["expr"])
                unknown = metric_names(expr) - ISTIO_STANDARD_METRICS - recorded
                assert not unknown, f"{m.name} {panel['title']!r}: {sorted(unknown)} in {expr}"
                rules.append({"record": f"dashboard:query:{len(rules)}", "expr": expr})
        assert rules
        result = promtool(
            "check", "rules", str(write_rule_file(tmp_path / "q.yaml", [{"name": "q", "rules": rules}]))
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A renamed metric is caught; a broken query is rejected by the parser."""
    assert metric_names('sum by (le) (rate(istio_request_duration_bucket{a="b"}[1m])) / on(x) meshc:y') == {
        "istio_request_duration_bucket",
        "meshc:y",
    }
    bad = [{"name": "q", "rules": [{"record": "a:b", "expr": 'sum(rate(x{a="b"}[1m])'}]}]
    assert promtool("check", "rules", str(write_rule_file(tmp_path / "q.yaml", bad))).returncode != 0


def test_uids_and_output_are_stable_under_spec_reordering(tmp_path: Path) -> None:
    spec = mesh_spec()
    first = compile_spec(tmp_path, spec, "a.yaml")
    shuffled = mesh_spec()
    random.Random(7).shuffle(shuffled["spec"]["services"])
    second = compile_spec(tmp_path, shuffled, "b.yaml")
    observed = lambda ms: [(m.ref, dump(m.body)) for m in ms if m.kind in ("ConfigMap", "PrometheusRule")]  # noqa: E731
    assert observed(first) == observed(second)
    uids = {b["title"]: b["uid"] for _, b in dashboards(first)}
    assert (
        uids["tight.shop (meshc)"]
        == "meshc-" + __import__("hashlib").sha256(b"slotest/shop/tight").hexdigest()[:16]
    )


def test_a_service_without_slo_gets_no_dashboard_and_no_rules(small: list[Manifest]) -> None:
    owners = {m.owner for m in small if m.kind == "ConfigMap"}
    assert owners == {None, "service/tight", "service/loose", "service/dest", "service/split"}
    rows = [r for m in small if m.name == "meshc-slo" for g in m.body["spec"]["groups"] for r in g["rules"]]
    assert {r["labels"]["destination_service_name"] for r in rows} == {"tight", "loose", "dest", "split"}
