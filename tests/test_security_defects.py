"""Regression tests for the security defects of issue 12: each test reads the compiled resources
the way Istio evaluates them and fails on the output meshc produced before the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import REPO

from compiler.pipeline import run

Resources = dict[tuple[str, str | None, str], dict[str, Any]]


def _resources(path: Path) -> Resources:
    c = run(path)
    assert not [d for d in c.diagnostics if d.severity == "error"], [d.format() for d in c.diagnostics]
    return {(m.kind, m.namespace, m.name): m.body for m in c.manifests}


def compile_spec(tmp_path: Path, spec: dict[str, Any]) -> Resources:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return _resources(path)


def shop() -> Resources:
    return _resources(REPO / "examples" / "shop" / "mesh.yaml")


def istio_string_match(pattern: str, value: str) -> bool:
    """Istio's authorization string match: exact, `prefix*`, `*suffix`, or `*` (any non-empty)."""
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _hosts_match(patterns: list[str], host: str) -> bool:
    # Authorization `hosts` are matched case-insensitively (AuthorizationPolicy Operation.hosts).
    return any(istio_string_match(p.lower(), host.lower()) for p in patterns)


def operation_matches(op: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether an AuthorizationPolicy `operation` matches a request (the fields meshc emits)."""
    if "hosts" in op and not _hosts_match(op["hosts"], request["host"]):
        return False
    if "paths" in op and not any(istio_string_match(p, request["path"]) for p in op["paths"]):
        return False
    if "methods" in op and request.get("method") not in op["methods"]:
        return False
    return "ports" not in op or str(request.get("port")) in op["ports"]


def rule_to_matches(rule: dict[str, Any], request: dict[str, Any]) -> bool:
    ops = rule.get("to")
    return ops is None or any(operation_matches(t["operation"], request) for t in ops)


# --- defect 1: a port in the Host header bypasses the JWT requirement ---------------------------


def test_jwt_deny_covers_host_with_port() -> None:
    deny = shop()[("AuthorizationPolicy", "istio-system", "public-require-jwt")]["spec"]
    assert deny["action"] == "DENY"
    (rule,) = deny["rules"]
    assert rule["from"] == [{"source": {"notRequestPrincipals": ["*"]}}]
    # The gateway's VirtualService routes `shop.example.com` and `shop.example.com:<any port>`
    # (Envoy adds `host:*` domains): a request without a token must be denied on every form.
    for host in ("shop.example.com", "shop.example.com:443", "SHOP.example.com:8443"):
        for path in ("/api/orders", "/api/admin/users"):
            request = {"host": host, "path": path}
            assert rule_to_matches(rule, request), f"no token, Host: {host}, {path} is not denied"
    # The unprotected site stays reachable without a token.
    assert not rule_to_matches(rule, {"host": "shop.example.com:443", "path": "/index.html"})


def test_jwt_deny_on_wildcard_host_is_not_limited_by_host(tmp_path: Path) -> None:
    out = compile_spec(
        tmp_path,
        {
            "services": [{"name": "web", "ports": [{"port": 8080, "protocol": "http"}]}],
            "gateways": [
                {
                    "name": "pub",
                    "hosts": ["*.example.com"],
                    "servers": [{"port": 443, "protocol": "https", "tls": {"credentialName": "c"}}],
                    "jwt": {"issuer": "https://idp", "jwksUri": "https://idp/jwks"},
                    "routes": [{"match": [{"path": {"prefix": "/api/"}}], "to": {"service": "web"}}],
                }
            ],
        },
    )
    (rule,) = out[("AuthorizationPolicy", "istio-system", "pub-require-jwt")]["spec"]["rules"]
    for host in ("a.example.com", "a.example.com:443"):
        assert rule_to_matches(rule, {"host": host, "path": "/api/x"}), host


# --- defect 8: every DestinationRule forced ISTIO_MUTUAL, switching auto-mTLS off ---------------


def test_destination_rules_leave_client_tls_to_auto_mtls(tmp_path: Path) -> None:
    out = compile_spec(
        tmp_path,
        {
            "namespaces": [{"name": "legacy", "injection": {"enabled": False}, "mtls": "PERMISSIVE"}],
            "services": [
                {"name": "web", "ports": [{"port": 8080, "protocol": "http"}], "calls": [{"service": "old"}]},
                # a workload meshc does not own, without a sidecar: it cannot terminate mTLS
                {
                    "name": "old",
                    "namespace": "legacy",
                    "ports": [{"port": 8080, "protocol": "http"}],
                    "versions": [{"name": "v1"}],
                },
                {
                    "name": "db",
                    "ports": [{"port": 5432, "protocol": "tcp"}, {"port": 9104, "protocol": "http"}],
                    "versions": [{"name": "v1"}],
                    "security": {"portMtls": [{"port": 9104, "mode": "DISABLE"}]},
                },
                {
                    "name": "plain",
                    "ports": [{"port": 8080, "protocol": "http"}],
                    "versions": [{"name": "v1"}],
                    "security": {"mtls": "DISABLE"},
                },
            ],
        },
    )
    old = out[("DestinationRule", "legacy", "old")]["spec"]
    # Forcing ISTIO_MUTUAL here makes web's sidecar send mTLS to a pod that has no sidecar.
    assert "tls" not in old.get("trafficPolicy", {}), old
    db = out[("DestinationRule", "default", "db")]["spec"]["trafficPolicy"]
    assert "tls" not in db  # auto-mTLS on 5432
    assert db["portLevelSettings"] == [{"port": {"number": 9104}, "tls": {"mode": "DISABLE"}}]
    # Istio infers only mesh- and namespace-wide modes for auto-mTLS: a workload-level DISABLE
    # still needs the client told.
    assert out[("DestinationRule", "default", "plain")]["spec"]["trafficPolicy"] == {
        "tls": {"mode": "DISABLE"}
    }
    for (kind, _, name), body in sorted(shop().items()):
        if kind == "DestinationRule":
            tls = body["spec"].get("trafficPolicy", {}).get("tls")
            assert tls is None, f"DestinationRule {name} sets {tls}"
