"""Tests for compiler.selfcheck: valid output passes, and each kind of mistake gives a precise error."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lark
import pytest
import yaml

from meshc.compiler.selfcheck import SelfCheckError, cel, celext, check_resources, crd, skipped_cel_rules
from meshc.compiler.selfcheck.paths import format_path

ISTIO_SAMPLES = Path(__file__).parent / "data" / "istio-samples"

FIXTURES_YAML = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo, labels: {app.kubernetes.io/managed-by: meshc}}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: v2, port: {number: 9080}}}]
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset"}
    timeout: 10s
  - route:
    - {destination: {host: reviews.bookinfo.svc.cluster.local, subset: v1}, weight: 50}
    - {destination: {host: reviews.bookinfo.svc.cluster.local, subset: v3}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}, connectionPool: {tcp: {maxConnections: 100}},
                  outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/bookinfo/sa/bookinfo-productpage]}}],
           to: [{operation: {ports: ["9080"], methods: [GET]}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: bookinfo}
spec:
  workloadSelector: {labels: {app: reviews}}
  egress: [{hosts: ["istio-system/*", "bookinfo/ratings.bookinfo.svc.cluster.local"]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec: {tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 1.0}],
       accessLogging: [{providers: [{name: envoy}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo, labels: {app: reviews, service: reviews}}
spec:
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 9080, appProtocol: http}
  - {name: grpc-admin, port: 9090, targetPort: admin, protocol: TCP, appProtocol: grpc}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bookinfo-reviews, namespace: bookinfo, labels: {account: reviews}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo, labels: {istio-injection: enabled, app.kubernetes.io/managed-by: meshc}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata:
      labels: {app: reviews, version: v1}
      annotations:
        sidecar.istio.io/inject: "true"
        proxy.istio.io/config: '{"holdApplicationUntilProxyStarts": true}'
    spec:
      serviceAccountName: bookinfo-reviews
      containers:
      - name: reviews
        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 9080, name: http}]
        resources: {requests: {cpu: 100m, memory: 128Mi}}
"""


def fixtures() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(FIXTURES_YAML)}


def one_error(resource: dict[str, Any]) -> SelfCheckError:
    errors = check_resources([resource])
    assert len(errors) == 1, errors
    return errors[0]


# --------------------------------------------------------------------------------------------
# Valid input
# --------------------------------------------------------------------------------------------


def test_valid_fixtures_pass() -> None:
    assert check_resources(list(fixtures().values())) == []


def test_empty_input() -> None:
    assert check_resources([]) == []


def test_istio_bookinfo_samples_pass() -> None:
    """Real Istio configs (networking kinds) from the istio/istio 1.30.3 samples."""
    files = sorted((ISTIO_SAMPLES / "bookinfo" / "networking").glob("*.yaml"))
    assert len(files) == 21, "tests/data/istio-samples is incomplete"
    docs = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    doc.setdefault("metadata", {}).setdefault("namespace", "bookinfo")
                    docs.append(doc)
    assert len(docs) >= 30
    assert check_resources(docs) == []


def test_works_without_network(tmp_path: Any) -> None:
    """A fresh process with sockets disabled and an empty cache builds everything offline."""
    script = f"""
import socket, sys, yaml
def refuse(*a, **k):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from meshc.compiler.selfcheck import check_resources
docs = list(yaml.safe_load_all({FIXTURES_YAML!r}))
assert check_resources(docs) == [], check_resources(docs)
print("ok")
"""
    env = {**os.environ, "MESHC_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_cel_rule_is_skipped() -> None:
    """Every CEL rule in the vendored Istio 1.30.3 CRDs is evaluated (none use oldSelf or
    functions we do not implement)."""
    assert skipped_cel_rules() == []


# --------------------------------------------------------------------------------------------
# Schema errors
# --------------------------------------------------------------------------------------------


def test_wrong_type() -> None:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][1]["route"][0]["weight"] = "50"
    err = one_error(vs)
    assert (err.index, err.kind, err.namespace, err.name) == (0, "VirtualService", "bookinfo", "reviews")
    assert err.path == "spec.http[1].route[0].weight"
    assert "integer" in err.message


def test_unknown_field_is_an_error() -> None:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][0]["retries"]["perTryTimout"] = "2s"
    err = one_error(vs)
    assert err.path == "spec.http[0].retries.perTryTimout"
    assert err.message == 'unknown field "perTryTimout"'


def test_unknown_top_level_field() -> None:
    dr = fixtures()["DestinationRule"]
    dr["specs"] = {}
    assert one_error(dr).path == "specs"


def test_bad_enum() -> None:
    dr = fixtures()["DestinationRule"]
    dr["spec"]["trafficPolicy"]["tls"]["mode"] = "MUTUALX"
    err = one_error(dr)
    assert err.path == "spec.trafficPolicy.tls.mode"
    assert "MUTUALX" in err.message


def test_missing_required_field() -> None:
    dr = fixtures()["DestinationRule"]
    del dr["spec"]["host"]
    err = one_error(dr)
    assert err.path == "spec"
    assert err.message == 'missing required field "host"'


def test_oneof_mutually_exclusive_fields() -> None:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][0]["match"] = [{"uri": {"exact": "/a", "prefix": "/b"}}]
    err = one_error(vs)
    assert err.path == "spec.http[0].match[0].uri"
    assert "exact" in err.message and "prefix" in err.message


def test_int_or_string_and_nullable() -> None:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][0]["retries"]["attempts"] = None  # not nullable
    assert one_error(vs).path == "spec.http[0].retries.attempts"


def test_null_for_nullable_field_is_accepted() -> None:
    dr = fixtures()["DestinationRule"]
    # useSourceIp is declared `nullable: true` in the CRD (a protobuf wrapper type)
    dr["spec"]["trafficPolicy"]["loadBalancer"] = {"consistentHash": {"httpHeaderName": "x-user"}}
    assert check_resources([dr]) == []


def test_core_deployment_unknown_field() -> None:
    dep = fixtures()["Deployment"]
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    err = one_error(dep)
    assert err.kind == "Deployment"
    assert err.path == "spec.template.spec.containers[0].imagePullPolicyy"
    assert err.message == 'unknown field "imagePullPolicyy"'


def test_core_service_wrong_type() -> None:
    svc = fixtures()["Service"]
    svc["spec"]["ports"][0]["port"] = "9080"
    err = one_error(svc)
    assert err.path == "spec.ports[0].port"


def test_core_samples_pass() -> None:
    """Istio's sample Services/Deployments/ServiceAccounts (bookinfo, httpbin, curl)."""
    names = ("bookinfo/platform/kube/bookinfo.yaml", "httpbin/httpbin.yaml", "curl/curl.yaml")
    docs = []
    for name in names:
        with open(ISTIO_SAMPLES / name, encoding="utf-8") as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    assert {d["kind"] for d in docs} >= {"Service", "ServiceAccount", "Deployment"}
    assert check_resources(docs) == []


def test_deployment_selector_must_match_template() -> None:
    dep = fixtures()["Deployment"]
    dep["spec"]["selector"]["matchLabels"]["version"] = "v2"
    err = one_error(dep)
    assert err.path == "spec.template.metadata.labels"
    assert "selector does not match template labels" in err.message


def test_deployment_template_labels_and_port_names() -> None:
    dep = fixtures()["Deployment"]
    dep["spec"]["template"]["metadata"]["labels"]["bad/key/x"] = "v"
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "http-management-port"
    paths = sorted(e.path for e in check_resources([dep]))
    assert paths == [
        'spec.template.metadata.labels["bad/key/x"]',
        "spec.template.spec.containers[0].ports[0].name",
    ]


def test_service_port_rules() -> None:
    svc = fixtures()["Service"]
    svc["spec"]["ports"][0]["name"] = "HTTP"
    svc["spec"]["ports"][1]["targetPort"] = "admin--port"
    svc["spec"]["ports"].append({"port": 70000})
    errors = check_resources([svc])
    assert sorted((e.path, e.message.split(":")[0]) for e in errors) == [
        ("spec.ports[0].name", "invalid port name 'HTTP'"),
        ("spec.ports[1].targetPort", "invalid port name 'admin--port'"),
        ("spec.ports[2].name", "port name is required when there are several ports"),
        ("spec.ports[2].port", "must be between 1 and 65535"),
    ]


# --------------------------------------------------------------------------------------------
# CEL rules (x-kubernetes-validations)
# --------------------------------------------------------------------------------------------


def _ap_with_targetref() -> dict[str, Any]:
    ap = fixtures()["AuthorizationPolicy"]
    ap["spec"]["targetRefs"] = [{"group": "", "kind": "Service", "name": "reviews"}]
    return ap


def _ap_wildcard_label() -> dict[str, Any]:
    ap = fixtures()["AuthorizationPolicy"]
    ap["spec"]["selector"]["matchLabels"]["app"] = "review*"
    return ap


def _ap_service_accounts_and_principals() -> dict[str, Any]:
    ap = fixtures()["AuthorizationPolicy"]
    ap["spec"]["rules"][0]["from"][0]["source"]["serviceAccounts"] = ["bookinfo/productpage"]
    return ap


def _vs_short_timeout() -> dict[str, Any]:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][0]["timeout"] = "999999ns"  # < 1ms only with nanosecond precision
    return vs


def _vs_day_timeout() -> dict[str, Any]:
    vs = fixtures()["VirtualService"]
    vs["spec"]["http"][0]["retries"]["perTryTimeout"] = "1d"  # not a Go duration
    return vs


def _sidecar_wildcard_label() -> dict[str, Any]:
    sc = fixtures()["Sidecar"]
    sc["spec"]["workloadSelector"]["labels"]["version"] = "*"
    return sc


def _telemetry_selector_and_targetref() -> dict[str, Any]:
    t = fixtures()["Telemetry"]
    t["spec"]["selector"] = {"matchLabels": {"app": "reviews"}}
    t["spec"]["targetRef"] = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}
    return t


def _pa_port_level_without_selector() -> dict[str, Any]:
    pa = fixtures()["PeerAuthentication"]
    pa["spec"]["portLevelMtls"] = {"8080": {"mode": "DISABLE"}}
    return pa


def _pa_bad_port_key() -> dict[str, Any]:
    pa = fixtures()["PeerAuthentication"]
    pa["spec"]["selector"] = {"matchLabels": {"app": "reviews"}}
    pa["spec"]["portLevelMtls"] = {"0": {"mode": "DISABLE"}}
    return pa


def _se_wildcard_host() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "external", "namespace": "bookinfo"},
        "spec": {"hosts": ["*"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]},
    }


def _se_duplicate_ports() -> dict[str, Any]:
    se = _se_wildcard_host()
    se["spec"]["hosts"] = ["api.example.com"]
    se["spec"]["ports"].append({"number": 443, "name": "https", "protocol": "HTTPS"})
    return se


def _ra_bad_jwks_scheme() -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "bookinfo"},
        "spec": {
            "jwtRules": [{"issuer": "https://idp.example.com", "jwksUri": "ftp://idp.example.com/keys"}]
        },
    }


@pytest.mark.parametrize(
    ("make", "path", "message"),
    [
        (_ap_with_targetref, "spec", "only one of targetRefs or selector can be set"),
        (_ap_wildcard_label, "spec.selector.matchLabels.app", "wildcard not allowed in label value match"),
        (
            _ap_service_accounts_and_principals,
            "spec.rules[0].from[0].source",
            "Cannot set serviceAccounts with namespaces or principals",
        ),
        (_vs_short_timeout, "spec.http[0].timeout", "must be a valid duration greater than 1ms"),
        (_vs_day_timeout, "spec.http[0].retries.perTryTimeout", "unknown unit"),
        (
            _sidecar_wildcard_label,
            "spec.workloadSelector.labels.version",
            "wildcard is not supported in selector",
        ),
        (_telemetry_selector_and_targetref, "spec", "only one of targetRefs or selector can be set"),
        (_pa_port_level_without_selector, "spec", "portLevelMtls requires selector"),
        (_pa_bad_port_key, "spec.portLevelMtls", "port must be between 1-65535"),
        (_se_wildcard_host, "spec.hosts[0]", "hostname cannot be wildcard"),
        (_se_duplicate_ports, "spec.ports", "port number cannot be duplicated"),
        (_ra_bad_jwks_scheme, "spec.jwtRules[0].jwksUri", "url must have scheme http:// or https://"),
    ],
)
def test_cel_rule_violation(make: Any, path: str, message: str) -> None:
    errors = check_resources([make()])
    assert [e.path for e in errors] == [path], errors
    assert message in errors[0].message
    assert "rule:" in errors[0].message  # the failing CEL expression is quoted


def test_cel_results_are_memoized_not_recomputed() -> None:
    """Many services with distinct names still need only a handful of celpy evaluations."""
    cel.clear_memo()
    resources = []
    for i in range(200):
        for kind in ("AuthorizationPolicy", "Sidecar", "VirtualService"):
            r = copy.deepcopy(fixtures()[kind])
            r["metadata"]["name"] = f"svc-{i}"
            if kind == "AuthorizationPolicy":
                r["spec"]["selector"]["matchLabels"]["app"] = f"svc-{i}"
                r["spec"]["rules"][0]["from"][0]["source"]["principals"] = [f"cluster.local/ns/x/sa/svc-{i}"]
            if kind == "Sidecar":
                r["spec"]["workloadSelector"]["labels"]["app"] = f"svc-{i}"
            resources.append(r)
    assert check_resources(resources) == []
    assert sum(cel.evaluation_stats().values()) < 20


# --------------------------------------------------------------------------------------------
# Memoization soundness: compare with an unmemoized reference walk of the CRD schema
# --------------------------------------------------------------------------------------------

_REFERENCE_RULES: dict[tuple[str, str], cel.CompiledRule] = {}


def _reference_cel_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Evaluate every rule site with celpy directly (no memo, no generated walker)."""
    schema = crd.crd_version_schema(resource["apiVersion"], resource["kind"])
    assert schema is not None
    out: list[tuple[str, str]] = []
    py_types: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
    }

    def walk(s: Any, v: Any, path: list[Any]) -> None:
        if v is None:
            return
        t = py_types.get(s.get("type"))
        if t is not None and (not isinstance(v, t) or isinstance(v, bool)):
            return
        for spec in s.get("x-kubernetes-validations", []):
            key = (spec["rule"], spec["message"])
            rule = _REFERENCE_RULES.get(key)
            if rule is None:
                rule = _REFERENCE_RULES[key] = cel._compile(spec["rule"], spec["message"], None, spec)
            msg = rule._evaluate(v, s)
            if msg is not None:
                out.append((format_path(path), msg))
        if isinstance(v, dict):
            for name, sub in (s.get("properties") or {}).items():
                if name in v:
                    walk(sub, v[name], [*path, name])
            if isinstance(s.get("additionalProperties"), dict):
                for k, sub_v in v.items():
                    walk(s["additionalProperties"], sub_v, [*path, k])
        if isinstance(v, list) and isinstance(s.get("items"), dict):
            for i, sub_v in enumerate(v):
                walk(s["items"], sub_v, [*path, i])

    walk(schema, resource, [])
    return out


def _variants() -> list[dict[str, Any]]:
    makers = [
        _ap_with_targetref,
        _ap_wildcard_label,
        _ap_service_accounts_and_principals,
        _vs_short_timeout,
        _vs_day_timeout,
        _sidecar_wildcard_label,
        _telemetry_selector_and_targetref,
        _pa_port_level_without_selector,
        _pa_bad_port_key,
        _se_wildcard_host,
        _se_duplicate_ports,
        _ra_bad_jwks_scheme,
    ]
    out = [m() for m in makers]
    out += [r for r in fixtures().values() if r["apiVersion"].split("/")[0] in crd.ISTIO_GROUPS]
    pa = fixtures()["PeerAuthentication"]
    pa["spec"]["selector"] = {"matchLabels": {}}
    pa["spec"]["portLevelMtls"] = {"8080": {"mode": "DISABLE"}}
    out.append(pa)  # empty matchLabels: size() == 0
    pa = copy.deepcopy(pa)
    pa["spec"]["selector"] = {"matchLabels": {"app": "x", "version": "v1"}}
    out.append(pa)
    ap = fixtures()["AuthorizationPolicy"]
    ap["spec"]["selector"]["matchLabels"] = {"": "x", "a*": "b"}
    out.append(ap)  # empty and wildcard label keys
    se = _se_wildcard_host()
    se["spec"]["hosts"] = ["a.example.com", "*"]
    se["spec"]["resolution"] = "DNS_ROUND_ROBIN"
    se["spec"]["endpoints"] = [{"address": "unix:///sock"}, {"address": "unix://"}, {"network": "n1"}]
    out.append(se)
    return out


def test_memoized_results_match_unmemoized_reference() -> None:
    resources = _variants()
    # Repeat in both orders so results come both from fresh evaluations and from the memo.
    for batch in (resources, list(reversed(resources)), resources):
        errors = check_resources(batch)
        for i, res in enumerate(batch):
            got = sorted(
                (e.path, e.message)
                for e in errors
                if e.index == i and "(rule:" in e.message  # only CEL-rule errors
            )
            want = sorted(
                (p, m[:400] if len(m) <= 400 else m[:397] + "...") for p, m in _reference_cel_errors(res)
            )
            assert got == want, (res["kind"], got, want)


# --------------------------------------------------------------------------------------------
# Metadata, kinds
# --------------------------------------------------------------------------------------------


def test_bad_metadata_name() -> None:
    vs = fixtures()["VirtualService"]
    vs["metadata"]["name"] = "Reviews_v1"
    err = one_error(vs)
    assert err.path == "metadata.name"
    assert "RFC 1123 subdomain" in err.message
    assert err.name == "Reviews_v1"


def test_service_name_must_be_dns1035_label() -> None:
    svc = fixtures()["Service"]
    svc["metadata"]["name"] = "9reviews"
    assert "DNS-1035" in one_error(svc).message


def test_bad_namespace_and_labels() -> None:
    sa = fixtures()["ServiceAccount"]
    sa["metadata"]["namespace"] = "Book.Info"
    sa["metadata"]["labels"]["app.kubernetes.io/version"] = "-bad-"
    sa["metadata"]["labels"]["bad key"] = "x"
    errors = check_resources([sa])
    assert sorted(e.path for e in errors) == [
        'metadata.labels["app.kubernetes.io/version"]',
        'metadata.labels["bad key"]',
        "metadata.namespace",
    ]


def test_unknown_metadata_field() -> None:
    dr = fixtures()["DestinationRule"]
    dr["metadata"]["lables"] = {"a": "b"}
    err = one_error(dr)
    assert err.path == "metadata.lables"
    assert "unknown field" in err.message


def test_metadata_less_common_fields_are_type_checked() -> None:
    dr = fixtures()["DestinationRule"]
    dr["metadata"]["finalizers"] = "not-a-list"
    assert one_error(dr).path == "metadata.finalizers"
    dr["metadata"]["finalizers"] = ["example.com/cleanup"]
    assert check_resources([dr]) == []


def test_unknown_kind() -> None:
    vs = fixtures()["VirtualService"]
    vs["kind"] = "VirtualServise"
    err = one_error(vs)
    assert err.path == "kind"
    assert "no schema" in err.message and "VirtualServise" in err.message


def test_unknown_api_version() -> None:
    vs = fixtures()["VirtualService"]
    vs["apiVersion"] = "networking.istio.io/v2"
    assert "no schema" in one_error(vs).message
    dep = fixtures()["Deployment"]
    dep["apiVersion"] = "apps.example.com/v1"  # must not be mistaken for apps/v1
    assert "no schema" in one_error(dep).message


def test_non_mapping_and_missing_fields() -> None:
    errors = check_resources([{"kind": "Service"}, "oops"])  # type: ignore[list-item]
    assert {e.index for e in errors} == {0, 1}
    assert any(e.index == 0 and e.path == "apiVersion" for e in errors)


def test_error_indexes_follow_input_order() -> None:
    f = fixtures()
    bad = copy.deepcopy(f["Sidecar"])
    bad["spec"]["egress"] = "nope"
    errors = check_resources([f["VirtualService"], bad, f["Service"]])
    assert [(e.index, e.kind, e.path) for e in errors] == [(1, "Sidecar", "spec.egress")]


def test_prometheus_operator_kinds_are_checked_against_their_crds() -> None:
    sm: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "reviews", "namespace": "bookinfo"},
        "spec": {"selector": {}, "endpoints": [{"port": "http-monitoring"}]},
    }
    assert check_resources([sm]) == []
    sm["spec"]["anything"] = "goes"
    assert one_error(sm).path == "spec.anything"
    del sm["spec"]["anything"]
    sm["metadata"]["name"] = "Bad_Name"
    assert one_error(sm).path == "metadata.name"
    rule: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "meshc-slo", "namespace": "monitoring"},
        "spec": {
            "groups": [
                {"name": "g", "partial_response_strategy": "Warn", "rules": [{"record": "a", "expr": "1"}]}
            ]
        },
    }
    assert check_resources([rule]) == []  # Go's `^(?i)(abort|warn)?$`, without the inline flag
    rule["spec"]["groups"][0]["partial_response_strategy"] = "ignore"
    assert one_error(rule).path == "spec.groups[0].partial_response_strategy"
    rule["spec"]["groups"][0]["partial_response_strategy"] = "abort"
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert one_error(rule).path == "spec.groups[0].rules[0].for"


def test_format_path() -> None:
    assert format_path(["spec", "http", 0, "route", 1, "weight"]) == "spec.http[0].route[1].weight"
    assert (
        format_path(["metadata", "labels", "app.kubernetes.io/name"])
        == 'metadata.labels["app.kubernetes.io/name"]'
    )


# --------------------------------------------------------------------------------------------
# CEL: rule compilation and Kubernetes library functions
# --------------------------------------------------------------------------------------------


def test_transition_rules_and_unknown_functions_are_skipped_not_passed() -> None:
    rule = cel._compile("self == oldSelf", "immutable", None, {"rule": "self == oldSelf"})
    assert rule.program is None and rule.skip_reason and "oldSelf" in rule.skip_reason
    rule = cel._compile("isCIDR(self)", "cidr", None, {"rule": "isCIDR(self)"})
    assert rule.program is None and rule.skip_reason and "isCIDR" in rule.skip_reason


def test_rule_key_observations() -> None:
    rule = cel._compile("(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) <= 1", "m", None, {})
    assert not rule.whole
    assert rule.key({"selector": {"matchLabels": {"app": "a"}}}) == rule.key({"selector": {"x": 1}})
    assert rule.key({"selector": {}}) != rule.key({"targetRef": {}})
    rule = cel._compile("self.all(key, !key.contains('*'))", "m", None, {})
    assert rule.key({"app": "a"}) == rule.key({"app": "b"})
    assert rule.key({"app": "a"}) != rule.key({"app*": "a"})
    rule = cel._compile("self.size() == 0", "m", None, {})
    assert rule.key("") != rule.key("a")
    rule = cel._compile("self.exists(k, k == self.x)", "m", None, {})  # body reads self
    assert rule.whole


def test_celpy_parser_options_match_celpy() -> None:
    """The cached parser (cel._seed_parser_from_cache) must be built exactly as celpy builds it."""
    from celpy.celparser import CELParser

    saved = CELParser.CEL_PARSER
    try:
        CELParser.CEL_PARSER = None
        CELParser(tree_class=lark.Tree)
        theirs = CELParser.CEL_PARSER
    finally:
        CELParser.CEL_PARSER = saved
    assert theirs is not None
    ours = lark.Lark(theirs.source_grammar, **cel.celpy_parser_options())
    assert ours.options.options == theirs.options.options


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("1ms", 1_000_000),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("-2m", -120_000_000_000),
        ("+3us", 3_000),
        ("3µs", 3_000),
        ("9223372036854775807ns", 9223372036854775807),
        ("2562047h", 2562047 * 3_600_000_000_000),
    ],
)
def test_go_duration_accepts(text: str, nanos: int) -> None:
    assert celext.parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    "text", ["", "1", "1d", "s", ".s", "1.2.3s", "1 s", "9223372036854775808ns", "2562048h"]
)
def test_go_duration_rejects(text: str) -> None:
    with pytest.raises(celext.GoDurationError):
        celext.parse_go_duration(text)


def _eval(expr: str, value: Any) -> Any:
    rule = cel._compile(expr, "m", None, {})
    assert rule.program is not None
    return rule.program.evaluate({"self": cel.to_cel(value, None)})


def test_duration_comparison_has_nanosecond_precision() -> None:
    assert not _eval("duration(self) >= duration('1ms')", "999999ns")
    assert _eval("duration(self) >= duration('1ms')", "1000000ns")


@pytest.mark.parametrize(
    ("url", "ok", "scheme"),
    [
        ("https://idp.example.com/.well-known/jwks.json", True, "https"),
        ("HTTP://Example.com:8080/x?y=1#frag", True, "http"),
        ("oci://registry.example.com/wasm/plugin:v1", True, "oci"),
        ("file:///opt/filters/plugin.wasm", True, "file"),
        ("/relative/path", True, ""),
        ("registry.example.com/plugin:v1", False, None),
        ("example.com", False, None),
        ("", False, None),
        ("http://exa mple.com/", False, None),
        ("http://host:port/", False, None),
        ("http://host/%zz", False, None),
        ("1http://x", False, None),
        (":foo", False, None),
        ("http://[::1]:8080/", True, "http"),
        ("http://user:pa ss@host/", False, None),
    ],
)
def test_kubernetes_url_functions(url: str, ok: bool, scheme: str | None) -> None:
    assert bool(celext.cel_is_url(url)) is ok
    got = celext.cel_url(url)
    if ok:
        assert celext.cel_get_scheme(got) == scheme
    else:
        assert isinstance(got, cel.CELEvalError)


def test_wasm_url_rule_accepts_registry_reference() -> None:
    schemes = '["", "http", "https", "oci", "file"]'
    rule = (
        f"isURL(self) ? (url(self).getScheme() in {schemes}) : "
        f'(isURL("http://" + self) && url("http://" + self).getScheme() in {schemes})'
    )
    assert _eval(rule, "registry.example.com/plugin:v1")
    assert _eval(rule, "oci://registry.example.com/plugin:v1")
    assert not _eval(rule, "ftp://registry.example.com/plugin")


@pytest.mark.parametrize(
    ("text", "ok"),
    [("80", True), ("+80", True), (" 80", False), ("8_0", False), ("0x50", False), ("\uff18\uff10", False)],
)
def test_int_conversion_is_go_strict(text: str, ok: bool) -> None:
    result = celext.cel_int(text)
    assert (not isinstance(result, cel.CELEvalError)) is ok


def test_substring() -> None:
    assert _eval('self.substring(7, 8) == "/"', "unix:///sock")
    assert _eval('self.substring(1) == "bc"', "abc")
    with pytest.raises(cel.CELEvalError):
        _eval('self.substring(7, 8) == "/"', "unix://")
