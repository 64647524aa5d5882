"""meshc's output means what Istio's own samples mean.

Compiled Gateways, VirtualServices and DestinationRules are compared with the samples after
normalisation: short hosts become FQDNs in the example's namespace, and only what decides
behaviour is compared (hosts, gateways, matches, destinations with subset/port/weight, faults,
subsets with their labels, TLS modes). Names and extra fields (labels, retries...) may differ.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, istio_sample

from meshc.compiler.pipeline import run

CLUSTER_DOMAIN = "svc.cluster.local"


def compile_example(spec: Path) -> list[dict[str, Any]]:
    return [m.body for m in run(spec).manifests]


def compile_variant(tmp_path: Path, example: str, edit) -> list[dict[str, Any]]:
    data = yaml.safe_load((REPO / "examples" / example / "mesh.yaml").read_text())
    edit(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return compile_example(path)


def sample(relative: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(istio_sample(relative).read_text()) if d]


def fqdn(host: str, namespace: str) -> str:
    return host if "." in host or host == "*" else f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def destinations(route: list[dict[str, Any]], ns: str) -> list[tuple[Any, ...]]:
    out = []
    for r in route:
        d = r["destination"]
        out.append(
            (fqdn(d["host"], ns), d.get("subset"), d.get("port", {}).get("number"), r.get("weight", 100))
        )
    return sorted(out, key=repr)


def canon_vs(vs: dict[str, Any], ns: str) -> dict[str, Any]:
    spec = vs["spec"]
    out: dict[str, Any] = {
        "hosts": sorted(fqdn(h, ns) for h in spec["hosts"]),
        "gateways": sorted(spec.get("gateways", [])),
    }
    for kind in ("http", "tcp"):
        rules = []
        for rule in spec.get(kind, []):
            rules.append(
                {
                    "match": [m for m in rule.get("match", [])],
                    "route": destinations(rule["route"], ns),
                    "fault": rule.get("fault"),
                }
            )
        if rules:
            out[kind] = rules
    return out


def canon_dr(dr: dict[str, Any], ns: str) -> dict[str, Any]:
    spec = dr["spec"]
    return {
        "host": fqdn(spec["host"], ns),
        "subsets": {s["name"]: s.get("labels") for s in spec.get("subsets", [])},
        "tls": spec.get("trafficPolicy", {}).get("tls", {}).get("mode"),
    }


def canon_gw(gw: dict[str, Any]) -> dict[str, Any]:
    spec = gw["spec"]
    return {
        "selector": spec["selector"],
        "servers": sorted(
            (s["port"]["number"], s["port"]["protocol"], tuple(sorted(s["hosts"]))) for s in spec["servers"]
        ),
    }


def find(resources: list[dict[str, Any]], kind: str, pred) -> dict[str, Any]:
    found = [r for r in resources if r["kind"] == kind and pred(r)]
    assert len(found) == 1, f"expected one {kind}, found {[r['metadata']['name'] for r in found]}"
    return found[0]


def mesh_vs(resources: list[dict[str, Any]], host: str, ns: str) -> dict[str, Any]:
    return find(
        resources,
        "VirtualService",
        lambda r: r["spec"]["hosts"] == [fqdn(host, ns)] and "gateways" not in r["spec"],
    )


def gateway_vs(resources: list[dict[str, Any]], gateway: str) -> dict[str, Any]:
    return find(resources, "VirtualService", lambda r: r["spec"].get("gateways") == [gateway])


@pytest.fixture(scope="module")
def bookinfo() -> list[dict[str, Any]]:
    return compile_example(REPO / "examples" / "bookinfo" / "mesh.yaml")


def test_bookinfo_gateway(bookinfo):
    gw_sample, vs_sample = sample("bookinfo/networking/bookinfo-gateway.yaml")
    ours = find(bookinfo, "Gateway", lambda r: r["metadata"]["name"] == "bookinfo-gateway")
    assert canon_gw(ours) == canon_gw(gw_sample)
    assert canon_vs(gateway_vs(bookinfo, "bookinfo-gateway"), "bookinfo") == canon_vs(vs_sample, "bookinfo")


def test_bookinfo_reviews_50_v3(bookinfo):
    (expected,) = sample("bookinfo/networking/virtual-service-reviews-50-v3.yaml")
    assert canon_vs(mesh_vs(bookinfo, "reviews", "bookinfo"), "bookinfo") == canon_vs(expected, "bookinfo")


def client_tls(resources: list[dict[str, Any]], dr: dict[str, Any]) -> str:
    """The TLS a client sidecar uses towards the DestinationRule's host.

    A `tls` mode in the rule is used as written. Without one, Istio's auto mTLS decides: mTLS to
    endpoints that have a sidecar, plain text to the others. meshc leaves client TLS to auto mTLS
    (a forced ISTIO_MUTUAL would break calls to pods without a sidecar), so whether the callee has a
    sidecar is read from the compiled Namespace's injection label and the pods' own override.
    """
    tls = dr["spec"].get("trafficPolicy", {}).get("tls", {}).get("mode")
    if tls is not None:
        return str(tls)
    name, ns = dr["spec"]["host"].split(".")[:2]
    namespace = find(resources, "Namespace", lambda r: r["metadata"]["name"] == ns)["metadata"]["labels"]
    injected = namespace.get("istio-injection") == "enabled" or "istio.io/rev" in namespace
    for pod in (r for r in resources if r["kind"] == "Deployment" and r["metadata"]["namespace"] == ns):
        labels = pod["spec"]["template"]["metadata"]["labels"]
        if labels.get("app") == name and "sidecar.istio.io/inject" in labels:
            injected = labels["sidecar.istio.io/inject"] == "true"
    return "ISTIO_MUTUAL" if injected else "DISABLE"


def test_bookinfo_destination_rules_all_mtls(bookinfo):
    """Same subsets as destination-rule-all-mtls.yaml, and the same mTLS on the wire: the sample
    writes ISTIO_MUTUAL, meshc leaves it to auto mTLS, which gives ISTIO_MUTUAL to injected pods."""
    expected = sample("bookinfo/networking/destination-rule-all-mtls.yaml")
    ours = {
        r["spec"]["host"]: {**canon_dr(r, "bookinfo"), "tls": client_tls(bookinfo, r)}
        for r in bookinfo
        if r["kind"] == "DestinationRule"
    }
    assert ours == {fqdn(d["spec"]["host"], "bookinfo"): canon_dr(d, "bookinfo") for d in expected}
    assert all(
        r["kind"] != "DestinationRule" or "tls" not in r["spec"].get("trafficPolicy", {}) for r in bookinfo
    )


def test_client_tls_is_not_vacuous(tmp_path):
    """Without injection, auto mTLS sends plain text, which no longer matches the all-mtls sample."""

    def no_injection(data: dict[str, Any]) -> None:
        data["spec"]["defaults"]["injection"] = {"enabled": False}
        data["spec"]["security"] = {"mtls": "PERMISSIVE", "authorization": {"defaultDeny": False}}

    ours = compile_variant(tmp_path, "bookinfo", no_injection)
    drs = [r for r in ours if r["kind"] == "DestinationRule"]
    assert drs and all("tls" not in r["spec"].get("trafficPolicy", {}) for r in drs)
    assert {client_tls(ours, r) for r in drs} == {"DISABLE"}


def _jason(data: dict[str, Any]) -> None:
    reviews = next(s for s in data["spec"]["services"] if s["name"] == "reviews")
    reviews["traffic"] = {
        "routes": [{"match": [{"headers": {"end-user": {"exact": "jason"}}}], "to": "v2"}],
        "split": {"v3": 100},
    }


def test_bookinfo_header_routing_jason_v2_v3(tmp_path):
    (expected,) = sample("bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml")
    ours = compile_variant(tmp_path, "bookinfo", _jason)
    assert canon_vs(mesh_vs(ours, "reviews", "bookinfo"), "bookinfo") == canon_vs(expected, "bookinfo")


def _ratings_fault(fault: dict[str, Any]):
    def edit(data: dict[str, Any]) -> None:
        ratings = next(s for s in data["spec"]["services"] if s["name"] == "ratings")
        ratings["traffic"] = {
            "routes": [
                {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "to": "v1", "fault": fault}
            ],
            "split": {"v1": 100},
        }

    return edit


@pytest.mark.parametrize(
    ("sample_file", "fault"),
    [
        ("virtual-service-ratings-test-delay.yaml", {"delay": {"fixed": "7s", "percent": 100}}),
        ("virtual-service-ratings-test-abort.yaml", {"abort": {"status": 500, "percent": 100}}),
    ],
)
def test_bookinfo_ratings_fault_injection(tmp_path, sample_file, fault):
    (expected,) = sample(f"bookinfo/networking/{sample_file}")
    ours = compile_variant(tmp_path, "bookinfo", _ratings_fault(fault))
    assert canon_vs(mesh_vs(ours, "ratings", "bookinfo"), "bookinfo") == canon_vs(expected, "bookinfo")


def test_httpbin_gateway():
    gw_sample, vs_sample = sample("httpbin/httpbin-gateway.yaml")
    ours = compile_example(REPO / "examples" / "httpbin" / "mesh.yaml")
    assert canon_gw(find(ours, "Gateway", lambda r: True)) == canon_gw(gw_sample)
    assert canon_vs(gateway_vs(ours, "httpbin-gateway"), "httpbin") == canon_vs(vs_sample, "httpbin")


def test_tcp_echo_20_v2():
    gateway, rule, _ = sample("tcp-echo/tcp-echo-all-v1.yaml")
    (vs_expected,) = sample("tcp-echo/tcp-echo-20-v2.yaml")
    ours = compile_example(REPO / "examples" / "tcp-echo" / "mesh.yaml")
    assert canon_gw(find(ours, "Gateway", lambda r: True)) == canon_gw(gateway)
    assert canon_vs(gateway_vs(ours, "tcp-echo-gateway"), "tcp-echo") == canon_vs(vs_expected, "tcp-echo")
    ours_dr = canon_dr(find(ours, "DestinationRule", lambda r: True), "tcp-echo")
    assert {k: v for k, v in ours_dr.items() if k != "tls"} == {
        k: v for k, v in canon_dr(rule, "tcp-echo").items() if k != "tls"
    }


def test_normalisation_is_not_vacuous(bookinfo):
    """The comparison must notice a change in weights, subsets or matches."""
    (expected,) = sample("bookinfo/networking/virtual-service-reviews-50-v3.yaml")
    changed = copy.deepcopy(expected)
    changed["spec"]["http"][0]["route"][0]["weight"] = 40
    assert canon_vs(mesh_vs(bookinfo, "reviews", "bookinfo"), "bookinfo") != canon_vs(changed, "bookinfo")
    (other,) = sample("bookinfo/networking/virtual-service-reviews-80-20.yaml")
    assert canon_vs(mesh_vs(bookinfo, "reviews", "bookinfo"), "bookinfo") != canon_vs(other, "bookinfo")
