"""What the compiler emits for each feature: least privilege, scoping, injection, multi-cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from meshc.compiler.pipeline import run


def compile_spec(
    tmp_path: Path, spec: dict[str, Any]
) -> dict[tuple[str | None, str, str | None, str], dict[str, Any]]:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    c = run(path)
    assert not [d for d in c.diagnostics if d.severity == "error"]
    return {(m.cluster, m.kind, m.namespace, m.name): m.body for m in c.manifests}


HTTP = [{"port": 8080, "protocol": "http"}]


def test_authorization_allows_exactly_the_declared_callers(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {
                    "name": "a",
                    "namespace": "x",
                    "ports": HTTP,
                    "calls": [{"service": "c", "methods": ["GET"]}],
                },
                {"name": "b", "namespace": "y", "account": "bee", "ports": HTTP, "calls": [{"service": "c"}]},
                {
                    "name": "c",
                    "namespace": "x",
                    "ports": [{"port": 80, "protocol": "http", "targetPort": 8080}],
                },
                {"name": "d", "namespace": "y", "ports": HTTP},
            ]
        },
    )
    policy = out[(None, "AuthorizationPolicy", "x", "c")]["spec"]
    assert policy["action"] == "ALLOW"
    assert policy["selector"] == {"matchLabels": {"app": "c"}}
    assert policy["rules"] == [
        {
            "from": [{"source": {"principals": ["cluster.local/ns/x/sa/a"]}}],
            "to": [{"operation": {"methods": ["GET"]}}],
        },
        {"from": [{"source": {"principals": ["cluster.local/ns/y/sa/bee"]}}]},
    ]
    assert out[(None, "AuthorizationPolicy", "x", "default-deny")]["spec"] == {}
    assert out[(None, "AuthorizationPolicy", "y", "default-deny")]["spec"] == {}
    # d and a have no callers: no ALLOW policy, so the namespace's deny-all applies to them.
    assert (None, "AuthorizationPolicy", "y", "d") not in out
    assert (None, "AuthorizationPolicy", "x", "a") not in out


def test_call_ports_become_workload_ports(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {"name": "a", "ports": HTTP, "calls": [{"service": "b", "ports": [80]}]},
                {
                    "name": "b",
                    "ports": [
                        {"port": 80, "protocol": "http", "targetPort": 9000},
                        {"port": 81, "protocol": "tcp"},
                    ],
                },
            ]
        },
    )
    (rule,) = out[(None, "AuthorizationPolicy", "default", "b")]["spec"]["rules"]
    assert rule["to"] == [{"operation": {"ports": ["9000"]}}]


def test_sidecar_scopes_egress_to_declared_dependencies(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {"name": "a", "namespace": "x", "ports": HTTP, "calls": [{"service": "b"}]},
                {"name": "b", "namespace": "y", "ports": HTTP},
            ],
            "egress": [{"name": "ext", "hosts": ["api.example.com"], "callers": ["a"]}],
        },
    )
    spec = out[(None, "Sidecar", "x", "a")]["spec"]
    assert spec["egress"] == [{"hosts": ["istio-system/*", "x/api.example.com", "y/b.y.svc.cluster.local"]}]
    assert spec["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    assert out[(None, "Sidecar", "y", "b")]["spec"]["egress"] == [{"hosts": ["istio-system/*"]}]
    # In the caller's namespace, for that namespace only: only Sidecars that list it import it.
    entry = out[(None, "ServiceEntry", "x", "t-ext")]["spec"]
    assert entry["exportTo"] == ["."] and entry["resolution"] == "DNS"
    assert [k for k in out if k[1] == "ServiceEntry"] == [(None, "ServiceEntry", "x", "t-ext")]


@pytest.mark.parametrize(
    ("injection", "labels"),
    [
        ({"enabled": True}, {"istio-injection": "enabled"}),
        ({"enabled": False}, {"istio-injection": "disabled"}),
        ({"revision": "canary"}, {"istio.io/rev": "canary"}),
    ],
)
def test_namespace_injection_labels(tmp_path, injection, labels):
    out = compile_spec(tmp_path, {"namespaces": [{"name": "x", "injection": injection}]})
    got = out[(None, "Namespace", None, "x")]["metadata"]["labels"]
    assert {k: v for k, v in got.items() if not k.startswith("app.kubernetes.io/")} == labels


def test_workload_injection_and_proxy_annotations(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "defaults": {"proxy": {"cpu": "100m", "memory": "128Mi"}},
            "services": [
                {
                    "name": "a",
                    "ports": HTTP,
                    "versions": [{"name": "v1", "image": "img:1"}],
                    "injection": {"enabled": False},
                    "proxy": {
                        "memory": "256Mi",
                        "holdApplicationUntilProxyStarts": True,
                        "excludeOutboundPorts": [5432, 3306],
                    },
                }
            ],
        },
    )
    template = out[(None, "Deployment", "default", "a-v1")]["spec"]["template"]
    assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert template["metadata"]["annotations"] == {
        "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}',
        "sidecar.istio.io/proxyCPU": "100m",
        "sidecar.istio.io/proxyMemory": "256Mi",
        "traffic.sidecar.istio.io/excludeOutboundPorts": "3306,5432",
    }


def test_mtls_levels(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "security": {"mtls": "STRICT"},
            "namespaces": [{"name": "legacy", "mtls": "PERMISSIVE"}],
            "services": [
                {
                    "name": "db",
                    "namespace": "data",
                    "ports": [{"port": 5432, "protocol": "tcp", "targetPort": 15432}],
                    "security": {"portMtls": [{"port": 5432, "mode": "DISABLE"}]},
                }
            ],
        },
    )
    # Namespace-scoped: the spec's mode in each namespace it owns, nothing mesh-wide (no meshWide).
    assert (None, "PeerAuthentication", "istio-system", "default") not in out
    assert out[(None, "PeerAuthentication", "data", "default")]["spec"] == {"mtls": {"mode": "STRICT"}}
    assert out[(None, "PeerAuthentication", "legacy", "default")]["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    pa = out[(None, "PeerAuthentication", "data", "db")]["spec"]
    assert pa["portLevelMtls"] == {"15432": {"mode": "DISABLE"}}
    dr = out[(None, "DestinationRule", "data", "db")]["spec"]["trafficPolicy"]
    assert dr["portLevelSettings"] == [{"port": {"number": 5432}, "tls": {"mode": "DISABLE"}}]


def test_http_defaults_do_not_reach_tcp_services(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "defaults": {"traffic": {"timeout": "5s", "retries": {"attempts": 1, "perTryTimeout": "2s"}}},
            "services": [
                {"name": "web", "ports": HTTP},
                {"name": "db", "ports": [{"port": 5432, "protocol": "tcp"}]},
            ],
        },
    )
    assert out[(None, "VirtualService", "default", "web")]["spec"]["http"][0]["timeout"] == "5s"
    assert (None, "VirtualService", "default", "db") not in out


def test_gateway_route_hosts_and_jwt(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [{"name": "web", "ports": HTTP}, {"name": "admin", "ports": HTTP}],
            "gateways": [
                {
                    "name": "pub",
                    "hosts": ["example.com", "admin.example.com"],
                    "servers": [{"port": 443, "protocol": "https", "tls": {"credentialName": "cert"}}],
                    "jwt": {"issuer": "https://idp", "jwksUri": "https://idp/jwks"},
                    "routes": [
                        {
                            "hosts": ["admin.example.com"],
                            "match": [{"path": {"prefix": "/"}}],
                            "to": {"service": "admin"},
                        },
                        {"requireJwt": False, "to": {"service": "web"}},
                    ],
                }
            ],
        },
    )
    http = out[(None, "VirtualService", "default", "t-pub")]["spec"]["http"]
    assert http[0]["match"] == [
        {"authority": {"regex": "^admin\\.example\\.com(:[0-9]+)?$"}, "uri": {"prefix": "/"}}
    ]
    assert "match" not in http[1]
    ra = out[(None, "RequestAuthentication", "istio-system", "t-pub-jwt")]["spec"]
    assert ra["jwtRules"] == [{"issuer": "https://idp", "jwksUri": "https://idp/jwks"}]
    deny = out[(None, "AuthorizationPolicy", "istio-system", "t-pub-require-jwt")]["spec"]
    assert deny["action"] == "DENY"
    assert deny["rules"] == [
        {
            "from": [{"source": {"notRequestPrincipals": ["*"]}}],
            "to": [{"operation": {"hosts": ["admin.example.com", "admin.example.com:*"], "paths": ["/*"]}}],
        }
    ]
    allow = out[(None, "AuthorizationPolicy", "default", "admin")]["spec"]["rules"]
    assert allow == [
        {
            "from": [
                {
                    "source": {
                        "principals": [
                            "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
                        ]
                    }
                }
            ]
        }
    ]


def test_egress_through_a_gateway(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [{"name": "pay", "namespace": "p", "ports": HTTP}],
            "egress": [{"name": "stripe", "hosts": ["api.stripe.com"], "callers": ["pay"], "gateway": {}}],
        },
    )
    gw_host = "istio-egressgateway.istio-system.svc.cluster.local"
    gw = out[(None, "Gateway", "istio-system", "t-stripe-egress")]["spec"]
    assert gw["servers"] == [
        {
            "port": {"number": 443, "name": "tls-443", "protocol": "TLS"},
            "hosts": ["api.stripe.com"],
            "tls": {"mode": "ISTIO_MUTUAL"},
        }
    ]
    mesh = out[(None, "VirtualService", "p", "t-stripe-egress-mesh")]["spec"]
    assert mesh["gateways"] == ["mesh"] and mesh["exportTo"] == ["."]
    assert mesh["tls"] == [
        {
            "match": [{"gateways": ["mesh"], "port": 443, "sniHosts": ["api.stripe.com"]}],
            "route": [{"destination": {"host": gw_host, "subset": "stripe", "port": {"number": 443}}}],
        }
    ]
    leg = out[(None, "VirtualService", "istio-system", "t-stripe-egress")]["spec"]
    assert leg["gateways"] == ["t-stripe-egress"] and leg["exportTo"] == ["."]
    assert leg["tcp"] == [
        {
            "match": [{"gateways": ["t-stripe-egress"], "port": 443}],
            "route": [{"destination": {"host": "api.stripe.com", "port": {"number": 443}}}],
        }
    ]
    dr = out[(None, "DestinationRule", "istio-system", "t-istio-egressgateway-subsets")]["spec"]
    assert dr["host"] == gw_host and dr["exportTo"] == [".", "p"]
    # The gateway resolves the host from its own copy of the ServiceEntry.
    assert out[(None, "ServiceEntry", "istio-system", "t-stripe")]["spec"]["exportTo"] == ["."]
    hosts = out[(None, "Sidecar", "p", "pay")]["spec"]["egress"][0]["hosts"]
    assert "istio-system/istio-egressgateway.istio-system.svc.cluster.local" in hosts


def test_multicluster_scopes():
    c = run(REPO / "examples" / "multicluster" / "mesh.yaml")
    by_cluster: dict[str, set[tuple[str, str | None, str]]] = {}
    for m in c.manifests:
        assert m.cluster in {"east", "west"}
        by_cluster.setdefault(m.cluster, set()).add((m.kind, m.namespace, m.name))
    east, west = by_cluster["east"], by_cluster["west"]
    # ratings runs only in west; east calls it, so east gets its client-side config, not its workload.
    assert ("Service", "travel", "ratings") in east and ("DestinationRule", "travel", "ratings") in east
    assert ("Deployment", "travel", "ratings-v1") not in east and (
        "Deployment",
        "travel",
        "ratings-v1",
    ) in west
    assert ("AuthorizationPolicy", "travel", "ratings") not in east
    # west serves callers from east's network: it has the east-west gateway; east serves nobody remote.
    assert ("Gateway", "istio-system", "travel-cross-network-gateway") in west
    assert ("Gateway", "istio-system", "travel-cross-network-gateway") not in east
    ns = {m.cluster: m.body for m in c.manifests if m.kind == "Namespace" and m.name == "istio-system"}
    assert ns["east"]["metadata"]["labels"] == {"topology.istio.io/network": "net-east"}
    dr = next(
        m.body
        for m in c.manifests
        if m.cluster == "east" and m.kind == "DestinationRule" and m.name == "reviews"
    )
    assert dr["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"] == [
        {"from": "us-east1", "to": "us-west1"},
        {"from": "us-west1", "to": "us-east1"},
    ]
    principals = next(
        m.body
        for m in c.manifests
        if m.cluster == "west" and m.kind == "AuthorizationPolicy" and m.name == "reviews"
    )["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert principals == ["travel.example.com/ns/travel/sa/frontend"]
