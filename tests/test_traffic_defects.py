"""Issue 14, "Traffic defects in today's output": one regression test per defect.

Defects 5 and 6 are rules (MC181, MC182): their regression tests are the rule fixtures
`tests/rules/fixtures/MC181/*` and `tests/rules/fixtures/MC182/*`, run by tests/test_rules.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import REPO

from meshc.compiler.pipeline import run
from meshc.spec.diagnostics import SpecError

Out = dict[tuple[str | None, str, str | None, str], dict[str, Any]]


def compile_spec(tmp_path: Path, spec: dict[str, Any]) -> Out:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    c = run(path)
    assert not [d for d in c.diagnostics if d.severity == "error"], [d.format() for d in c.diagnostics]
    return {(m.cluster, m.kind, m.namespace, m.name): m.body for m in c.manifests}


def diagnostics(tmp_path: Path, spec: dict[str, Any]) -> list[tuple[str, str]]:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        found = run(path).diagnostics
    except SpecError as e:
        found = e.diagnostics
    return [(d.code, d.severity) for d in found]


HTTP = [{"port": 8080, "protocol": "http"}]
CATALOG = "catalog.shop.svc.cluster.local"


# --- 1. gateway routes apply the service's own traffic policy ------------------------------------


def _catalog_spec(policy: str | None = None) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": "cat",
        "match": [{"path": {"prefix": "/catalog"}}],
        "to": {"service": "catalog"},
    }
    if policy is not None:
        route["policy"] = policy
    return {
        "defaults": {"namespace": "shop"},
        "services": [
            {
                "name": "catalog",
                "ports": HTTP,
                "versions": [{"name": "v1"}, {"name": "v2"}],
                "traffic": {
                    "routes": [
                        {"name": "beta", "match": [{"headers": {"x-beta": {"exact": "1"}}}], "to": "v2"}
                    ],
                    "split": {"v1": 100, "v2": 0},
                    "timeout": "3s",
                    "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": ["5xx"]},
                },
            }
        ],
        "gateways": [
            {"name": "public", "hosts": ["shop.example.com"], "servers": [{"port": 80}], "routes": [route]}
        ],
    }


def test_gateway_route_applies_the_services_header_routes_timeout_and_retries(tmp_path):
    out = compile_spec(tmp_path, _catalog_spec())
    http = out[(None, "VirtualService", "shop", "t-public")]["spec"]["http"]
    retries = {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx"}
    dest = {"host": CATALOG, "port": {"number": 8080}}
    assert http == [
        {
            "name": "cat-beta",
            "match": [{"uri": {"prefix": "/catalog"}, "headers": {"x-beta": {"exact": "1"}}}],
            "route": [{"destination": {**dest, "subset": "v2"}}],
            "timeout": "3s",
            "retries": retries,
        },
        {
            "name": "cat",
            "match": [{"uri": {"prefix": "/catalog"}}],
            "route": [{"destination": {**dest, "subset": "v1"}}],
            "timeout": "3s",
            "retries": retries,
        },
    ]


def test_gateway_route_policy_none_keeps_only_the_split(tmp_path):
    out = compile_spec(tmp_path, _catalog_spec("none"))
    http = out[(None, "VirtualService", "shop", "t-public")]["spec"]["http"]
    assert http == [
        {
            "name": "cat",
            "match": [{"uri": {"prefix": "/catalog"}}],
            "route": [{"destination": {"host": CATALOG, "subset": "v1", "port": {"number": 8080}}}],
        }
    ]


def test_shop_public_gateway_carries_the_api_timeout():
    c = run(REPO / "examples" / "shop" / "mesh.yaml")
    vs = next(m.body for m in c.manifests if m.kind == "VirtualService" and m.name == "shop-public")
    by_name = {rule.get("name"): rule for rule in vs["spec"]["http"]}
    assert by_name["api"]["timeout"] == "30s"  # api's own `traffic.timeout`
    assert by_name["api"]["retries"] == {"attempts": 0}
    assert by_name["site"]["timeout"] == "30s"  # storefront's


# --- 2. multi-cluster: a gateway route to a service on another network ---------------------------


def test_gateway_route_to_a_remote_network_gets_an_east_west_gateway(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "clusters": [
                {"name": "east", "network": "net-east", "region": "us-east1"},
                {"name": "west", "network": "net-west", "region": "us-west1"},
            ],
            "services": [{"name": "api", "namespace": "x", "ports": HTTP, "placement": ["west"]}],
            "gateways": [
                {
                    "name": "public",
                    "placement": ["east"],
                    "hosts": ["api.example.com"],
                    "servers": [{"port": 80}],
                    "routes": [{"to": {"service": "api"}}],
                }
            ],
        },
    )
    east_west = ("Gateway", "istio-system", "t-cross-network-gateway")
    assert ("west", *east_west) in out  # west serves the east gateway's requests
    assert ("east", *east_west) not in out


# --- 3. egress through a gateway: each host goes to itself -------------------------------------


def test_egress_gateway_sends_each_host_to_itself(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [{"name": "pay", "namespace": "p", "ports": HTTP}],
            "egress": [
                {
                    "name": "ext",
                    "hosts": ["a.example.com", "b.example.com"],
                    "ports": [{"port": 443, "protocol": "tls"}, {"port": 80, "protocol": "http"}],
                    "callers": ["pay"],
                    "gateway": {},
                }
            ],
        },
    )
    for i, host in enumerate(["a.example.com", "b.example.com"], start=1):
        leg = out[(None, "VirtualService", "istio-system", f"t-ext-egress-{i}")]["spec"]
        assert leg["hosts"] == [host]
        destinations = {
            r["destination"]["host"] for kind in ("http", "tcp") for rule in leg[kind] for r in rule["route"]
        }
        assert destinations == {host}
        mesh = out[(None, "VirtualService", "p", f"t-ext-egress-mesh-{i}")]["spec"]
        assert mesh["hosts"] == [host]
        assert mesh["tls"][0]["match"][0]["sniHosts"] == [host]
        subsets = {
            r["destination"]["subset"]
            for kind in ("http", "tls")
            for rule in mesh[kind]
            for r in rule["route"]
        }
        assert subsets == {f"ext-{i}"}
    dr = out[(None, "DestinationRule", "istio-system", "t-istio-egressgateway-subsets")]["spec"]
    snis = {
        s["name"]: {p["tls"]["sni"] for p in s["trafficPolicy"]["portLevelSettings"]} for s in dr["subsets"]
    }
    assert snis == {"ext-1": {"a.example.com"}, "ext-2": {"b.example.com"}}


# --- 4. TCP egress through a gateway: tcp routes, addresses on the ServiceEntry -----------------


def _tcp_egress(addresses: list[str] | None) -> dict[str, Any]:
    egress: dict[str, Any] = {
        "name": "db",
        "hosts": ["db.example.com"],
        "ports": [{"port": 5432, "protocol": "tcp"}],
        "callers": ["pay"],
        "gateway": {},
    }
    if addresses is not None:
        egress["addresses"] = addresses
    return {"services": [{"name": "pay", "namespace": "p", "ports": HTTP}], "egress": [egress]}


def test_tcp_egress_through_a_gateway_is_tcp_with_addresses(tmp_path):
    out = compile_spec(tmp_path, _tcp_egress(["203.0.113.10"]))
    for ns in ("p", "istio-system"):
        assert out[(None, "ServiceEntry", ns, "t-db")]["spec"]["addresses"] == ["203.0.113.10"]
    mesh = out[(None, "VirtualService", "p", "t-db-egress-mesh")]["spec"]
    assert "http" not in mesh and "tls" not in mesh
    assert mesh["tcp"][0]["match"] == [{"gateways": ["mesh"], "port": 5432}]
    leg = out[(None, "VirtualService", "istio-system", "t-db-egress")]["spec"]
    assert "http" not in leg
    assert leg["tcp"][0]["route"] == [{"destination": {"host": "db.example.com", "port": {"number": 5432}}}]


def test_tcp_egress_without_addresses_is_an_error(tmp_path):
    assert ("MC180", "error") in diagnostics(tmp_path, _tcp_egress(None))


def test_egress_entries_through_one_gateway_share_its_destination_rule(tmp_path):
    """Found with the shop's second entry through its gateway: a DestinationRule per entry for the
    one gateway host, of which Istio reads one, so the other entry's subsets did not exist."""
    spec = _tcp_egress(["203.0.113.10"])
    spec["egress"].append({"name": "stripe", "hosts": ["api.stripe.com"], "callers": ["pay"], "gateway": {}})
    out = compile_spec(tmp_path, spec)
    rules = [k for k in out if k[1] == "DestinationRule" and k[2] == "istio-system"]
    assert rules == [(None, "DestinationRule", "istio-system", "t-istio-egressgateway-subsets")]
    dr = out[rules[0]]["spec"]
    assert dr["host"] == "istio-egressgateway.istio-system.svc.cluster.local"
    assert [s["name"] for s in dr["subsets"]] == ["db", "stripe"]


# --- 7. gRPC retries retry on gRPC status codes ---------------------------------------------------


def test_grpc_service_retries_on_grpc_conditions(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "defaults": {
                "namespace": "shop",
                "traffic": {"retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": ["5xx", "reset"]}},
            },
            "services": [
                {"name": "web", "ports": HTTP, "calls": [{"service": "pricing"}]},
                {"name": "pricing", "ports": [{"port": 9090, "protocol": "grpc"}]},
            ],
        },
    )
    grpc = out[(None, "VirtualService", "shop", "pricing")]["spec"]["http"][0]["retries"]["retryOn"]
    assert grpc == "cancelled,deadline-exceeded,internal,resource-exhausted,unavailable,reset"
    http = out[(None, "VirtualService", "shop", "web")]["spec"]["http"][0]["retries"]["retryOn"]
    assert http == "5xx,reset"
