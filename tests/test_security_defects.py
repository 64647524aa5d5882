"""Regression tests for the security defects of issue 12: each test reads the compiled resources
the way Istio evaluates them and fails on the output meshc produced before the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from meshc.compiler.pipeline import parse, run
from meshc.compiler.review.intent import diff_intent
from meshc.compiler.review.view import build_view
from meshc.spec.diagnostics import SpecError

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


def warnings(tmp_path: Path) -> set[str]:
    """Codes of the warnings on the spec `compile_spec` wrote last."""
    return {d.code for d in run(tmp_path / "mesh.yaml").diagnostics if d.severity == "warning"}


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
    (deny,) = [
        b["spec"]
        for (k, _, name), b in shop().items()
        if k == "AuthorizationPolicy" and name == "shop-public-require-jwt"
    ]
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
    (rule,) = out[("AuthorizationPolicy", "istio-system", "t-pub-require-jwt")]["spec"]["rules"]
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


# --- inbound authorization, evaluated as Istio does ----------------------------------------------

HTTP_ONLY_OPERATION_FIELDS = ("methods", "paths", "hosts", "notMethods", "notPaths", "notHosts")


def _source_matches(source: dict[str, Any], request: dict[str, Any]) -> bool:
    principal = request.get("principal")
    # Plain text carries no peer identity: no `principals` entry can match it.
    if "principals" in source and (
        principal is None or not any(istio_string_match(p, principal) for p in source["principals"])
    ):
        return False
    return "namespaces" not in source or (
        principal is not None and principal.split("/ns/")[1].split("/")[0] in source["namespaces"]
    )


def _rule_matches(rule: dict[str, Any], request: dict[str, Any]) -> bool:
    if "from" in rule and not any(_source_matches(f["source"], request) for f in rule["from"]):
        return False
    if "to" not in rule:
        return True
    for target in rule["to"]:
        op = target["operation"]
        if request.get("protocol", "http") == "tcp" and any(k in op for k in HTTP_ONLY_OPERATION_FIELDS):
            continue  # HTTP-only fields never match TCP traffic (the rule is dropped for TCP)
        if operation_matches(op, request):
            return True
    return False


def selected_policies(out: Resources, namespace: str, app: str) -> list[dict[str, Any]]:
    found = []
    for (kind, ns, _), body in sorted(out.items(), key=lambda kv: repr(kv[0])):
        if kind != "AuthorizationPolicy" or ns not in (namespace, "istio-system"):
            continue
        selector = body["spec"].get("selector")
        if selector is None and ns == "istio-system":
            continue  # root-namespace policies are mesh-wide; meshc writes none without a selector
        if selector is None or selector["matchLabels"].get("app") == app:
            found.append(body["spec"])
    return found


def allowed(out: Resources, namespace: str, app: str, request: dict[str, Any]) -> bool:
    """Istio's order: a matching DENY denies; then, if any ALLOW policy selects the workload, a
    matching ALLOW rule is needed (an ALLOW policy without rules matches nothing); else allow."""
    policies = selected_policies(out, namespace, app)
    for spec in policies:
        if spec.get("action") == "DENY" and any(_rule_matches(r, request) for r in spec.get("rules", [])):
            return False
    allows = [s for s in policies if s.get("action", "ALLOW") == "ALLOW"]
    if not allows:
        return True
    return any(_rule_matches(r, request) for s in allows for r in s.get("rules", []))


def principal(ns: str, sa: str) -> str:
    return f"cluster.local/ns/{ns}/sa/{sa}"


HTTP = [{"port": 8080, "protocol": "http"}]


# --- defect 9: `methods` on a call to a service with HTTP and TCP ports --------------------------


def test_http_conditions_do_not_close_the_tcp_port(tmp_path: Path) -> None:
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {"name": "a", "ports": HTTP, "calls": [{"service": "c", "methods": ["GET"]}]},
                {"name": "b", "ports": HTTP},
                {
                    "name": "c",
                    "ports": [{"port": 8080, "protocol": "http"}, {"port": 5432, "protocol": "tcp"}],
                },
            ]
        },
    )
    a, b = principal("default", "a"), principal("default", "b")
    assert allowed(out, "default", "c", {"principal": a, "port": 5432, "protocol": "tcp"})
    assert allowed(out, "default", "c", {"principal": a, "port": 8080, "method": "GET", "path": "/"})
    assert not allowed(out, "default", "c", {"principal": a, "port": 8080, "method": "POST", "path": "/"})
    assert not allowed(out, "default", "c", {"principal": b, "port": 5432, "protocol": "tcp"})


# --- defect 4: a port with mTLS DISABLE receives no principal -------------------------------------


def test_declared_caller_reaches_a_port_without_mtls(tmp_path: Path) -> None:
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {"name": "a", "ports": HTTP, "calls": [{"service": "c", "methods": ["GET"]}]},
                {
                    "name": "c",
                    "ports": [{"port": 8080, "protocol": "http"}, {"port": 9090, "protocol": "http"}],
                    "security": {"portMtls": [{"port": 9090, "mode": "DISABLE"}]},
                },
            ]
        },
    )
    assert "MC127" in warnings(tmp_path)  # ...and 9090 admits any client: the spec is told so
    # a's sidecar sends plain text to 9090 (the DestinationRule says DISABLE): no principal.
    assert allowed(out, "default", "c", {"principal": None, "port": 9090, "method": "GET", "path": "/"})
    # On the mTLS port only the declared caller gets in, and only with its methods.
    assert allowed(
        out,
        "default",
        "c",
        {"principal": principal("default", "a"), "port": 8080, "method": "GET", "path": "/"},
    )
    assert not allowed(out, "default", "c", {"principal": None, "port": 8080, "method": "GET", "path": "/"})
    assert not allowed(
        out,
        "default",
        "c",
        {"principal": principal("default", "a"), "port": 8080, "method": "PUT", "path": "/"},
    )


# --- defect 5: `defaultDeny: false` still denied undeclared callers -------------------------------


def test_default_allow_admits_undeclared_callers(tmp_path: Path) -> None:
    out = compile_spec(
        tmp_path,
        {
            "security": {"authorization": {"defaultDeny": False}},
            "services": [
                {"name": "a", "ports": HTTP, "calls": [{"service": "c", "methods": ["GET"]}]},
                {"name": "b", "ports": HTTP},
                {"name": "c", "ports": HTTP},
            ],
        },
    )
    assert "MC128" in warnings(tmp_path)  # a's `methods` restrict nothing now
    for caller in ("a", "b"):
        request = {"principal": principal("default", caller), "port": 8080, "method": "GET", "path": "/"}
        assert allowed(out, "default", "c", request), caller
    assert allowed(
        out,
        "default",
        "c",
        {"principal": principal("default", "b"), "port": 8080, "method": "POST", "path": "/x"},
    )


def test_default_allow_lets_the_sidecar_reach_undeclared_services(tmp_path: Path) -> None:
    """Without default-deny the caller's Sidecar must import every service of the mesh: with only
    its declared callees and REGISTRY_ONLY, an undeclared call ends in the BlackHoleCluster, a
    denial after all (found by the verifier's `non-edge` probe); its egress stays limited."""
    out = compile_spec(
        tmp_path,
        {
            "security": {"authorization": {"defaultDeny": False}},
            "services": [
                {"name": "a", "ports": HTTP, "calls": [{"service": "c"}]},
                {"name": "b", "ports": HTTP},
                {"name": "c", "namespace": "other", "ports": HTTP},
            ],
            "egress": [{"name": "ext", "hosts": ["api.example.com"], "callers": ["a"]}],
        },
    )
    sidecar = out[("Sidecar", "default", "b")]["spec"]
    hosts = [h for listener in sidecar["egress"] for h in listener["hosts"]]
    assert _imports(hosts, "default", "other", "c.other.svc.cluster.local")
    assert _imports(hosts, "default", "default", "a.default.svc.cluster.local")
    assert not _imports(hosts, "default", "default", "api.example.com")


# --- defect 3: egress `callers` not enforced ------------------------------------------------------


def _exported_to(body: dict[str, Any], own_ns: str, ns: str) -> bool:
    export = body["spec"].get("exportTo", ["*"])
    return "*" in export or ns in export or ("." in export and own_ns == ns)


def _imports(hosts: list[str], ns: str, resource_ns: str, host: str) -> bool:
    for entry in hosts:
        want_ns, want_host = entry.split("/", 1)
        if want_ns == ".":
            want_ns = ns
        if want_ns not in ("*", resource_ns):
            continue
        if (
            want_host == "*"
            or want_host == host
            or (want_host.startswith("*.") and host.endswith(want_host[1:]))
        ):
            return True
    return False


def sees(out: Resources, kind: str, workload_ns: str, app: str, host: str) -> list[str]:
    """The `kind` resources for `host` a workload's sidecar receives (Sidecar egress hosts and
    exportTo, as istiod scopes them)."""
    sidecar = next(
        b
        for (k, ns, _), b in out.items()
        if k == "Sidecar" and ns == workload_ns and b["spec"]["workloadSelector"]["labels"].get("app") == app
    )
    hosts = [h for listener in sidecar["spec"]["egress"] for h in listener["hosts"]]
    found = []
    for (k, ns, name), body in sorted(out.items(), key=lambda kv: repr(kv[0])):
        if k != kind or ns is None or host not in body["spec"].get("hosts", []):
            continue
        if _exported_to(body, ns, workload_ns) and _imports(hosts, workload_ns, ns, host):
            found.append(f"{ns}/{name}")
    return found


def test_egress_is_visible_to_declared_callers_only() -> None:
    out = shop()
    # payments calls stripe (through the egress gateway); fraud and ledger share its namespace.
    assert sees(out, "ServiceEntry", "payments", "payments", "api.stripe.com")
    assert sees(out, "VirtualService", "payments", "payments", "api.stripe.com")
    for ns, app in (("payments", "fraud"), ("payments", "ledger"), ("web", "api")):
        assert not sees(out, "ServiceEntry", ns, app, "api.stripe.com"), app
        assert not sees(out, "VirtualService", ns, app, "api.stripe.com"), app
    # email calls sendgrid directly; notifications shares its namespace.
    assert sees(out, "ServiceEntry", "platform", "email", "api.sendgrid.com")
    assert not sees(out, "ServiceEntry", "platform", "notifications", "api.sendgrid.com")


def test_egress_gateway_leg_is_mutual_tls_and_admits_only_the_callers() -> None:
    out = shop()
    gw_host = "istio-egressgateway.istio-system.svc.cluster.local"
    gateway = out[("Gateway", "istio-system", "shop-stripe-egress")]["spec"]
    assert [s["tls"] for s in gateway["servers"]] == [{"mode": "ISTIO_MUTUAL"}]
    # The callers' sidecars originate Istio mTLS to the gateway, with the external host as SNI.
    # (shop sends a second entry, carrier, through the same gateway: its objects are its own.)
    (dr,) = [
        b
        for (k, _, name), b in out.items()
        if k == "DestinationRule"
        and b["spec"]["host"] == gw_host
        and name == "shop-istio-egressgateway-subsets"
    ]
    assert _exported_to(dr, dr["metadata"]["namespace"], "payments")
    # One DestinationRule for the gateway host, holding every entry's subsets (issue 14, defect 4).
    (subset,) = [s for s in dr["spec"]["subsets"] if s["name"] == "stripe"]
    assert subset["trafficPolicy"]["portLevelSettings"] == [
        {"port": {"number": 443}, "tls": {"mode": "ISTIO_MUTUAL", "sni": "api.stripe.com"}}
    ]
    mesh_legs = [
        r["route"][0]["destination"]
        for (k, _, _), b in out.items()
        if k == "VirtualService"
        for kind in ("tls", "tcp", "http")
        for r in b["spec"].get(kind, [])
        if r.get("match", [{}])[0].get("gateways") == ["mesh"] and "api.stripe.com" in b["spec"]["hosts"]
    ]
    assert mesh_legs == [{"host": gw_host, "subset": subset["name"], "port": {"number": 443}}]
    # The egress gateway admits exactly the declared callers, for this host.
    policies = [
        b["spec"]
        for (k, ns, _), b in out.items()
        if k == "AuthorizationPolicy"
        and ns == "istio-system"
        and b["spec"].get("selector", {}).get("matchLabels") == {"istio": "egressgateway"}
        and any(host in str(b["spec"]) for host in ("api.stripe.com", "settlement.bank.example.com"))
    ]
    assert policies and all(p["action"] == "ALLOW" for p in policies)
    # Each entry through the gateway admits its own callers for its own hosts only (the shop's
    # second entry, bank-settlement, is ledger's).
    admitted: dict[tuple[str, ...], set[str]] = {}
    for p in policies:
        for r in p["rules"]:
            (when,) = r["when"]
            assert when["key"] == "connection.sni"
            found = admitted.setdefault(tuple(when["values"]), set())
            found.update(pr for f in r["from"] for pr in f["source"]["principals"])
    assert admitted == {
        ("api.stripe.com",): {"cluster.local/ns/payments/sa/payments"},
        ("settlement.bank.example.com",): {"cluster.local/ns/payments/sa/ledger"},
    }


# --- defect 10: gateway selector and gateway identity set independently --------------------------


def _partner_gateway(**extra: Any) -> dict[str, Any]:
    return {
        "services": [{"name": "api", "ports": HTTP}],
        "gateways": [
            {
                "name": "partners",
                "selector": {"istio": "partner-gateway"},
                "servers": [{"port": 80, "protocol": "http"}],
                "routes": [{"to": {"service": "api"}}],
                **extra,
            }
        ],
    }


def test_gateway_with_its_own_pods_must_state_their_identity(tmp_path: Path) -> None:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump({**doc, "spec": _partner_gateway()}, sort_keys=False))
    # Compiled as before, api's ALLOW would name istio-ingressgateway's identity, which the
    # partner-gateway pods do not have: every request through the gateway would get 403.
    with pytest.raises(SpecError) as raised:
        run(path)
    assert "MC130" in {d.code for d in raised.value.diagnostics if d.severity == "error"}
    out = compile_spec(
        tmp_path, _partner_gateway(workload={"namespace": "partners", "account": "partner-gw"})
    )
    request = {"principal": principal("partners", "partner-gw"), "port": 8080, "method": "GET", "path": "/"}
    assert allowed(out, "default", "api", request)
    default_gateway = principal("istio-system", "istio-ingressgateway-service-account")
    assert not allowed(out, "default", "api", {**request, "principal": default_gateway})


# --- defect 7: RequestAuthentication on a shared ingress gateway ---------------------------------


def test_jwt_is_validated_on_dedicated_gateway_pods_only(tmp_path: Path) -> None:
    out = shop()
    # the gateway's (the shop's orders service validates tokens itself too: issue 14)
    (ra,) = [
        b["spec"] for (k, _, n), b in out.items() if k == "RequestAuthentication" and n == "shop-public-jwt"
    ]
    # The shared ingress gateway (istio: ingressgateway) serves other teams' hosts: the shop's
    # issuer would answer 401 to their requests carrying tokens of another issuer.
    assert ra["selector"]["matchLabels"] != {"istio": "ingressgateway"}
    gateway = out[("Gateway", "web", "shop-public")]["spec"]
    assert ra["selector"]["matchLabels"] == gateway["selector"]
    compile_spec(
        tmp_path,
        {
            "services": [{"name": "api", "ports": HTTP}],
            "gateways": [
                {
                    "name": "pub",
                    "servers": [{"port": 80, "protocol": "http"}],
                    "jwt": {"issuer": "https://idp", "jwksUri": "https://idp/jwks"},
                    "routes": [{"to": {"service": "api"}}],
                }
            ],
        },
    )
    assert "MC131" in warnings(tmp_path)


# --- defect 2: claims routing used as access control ---------------------------------------------


def _claim(request: dict[str, Any], key: str) -> str | None:
    # request.auth.claims[a][b] -> the nested claim a.b of the validated token
    value: Any = request.get("claims")
    for part in key.removeprefix("request.auth.claims[").removesuffix("]").split("]["):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _conditions_hold(rule: dict[str, Any], request: dict[str, Any]) -> bool:
    for condition in rule.get("when", []):
        value = _claim(request, condition["key"])
        if "values" in condition and (value is None or value not in condition["values"]):
            return False
        # notValues: a missing claim is not one of the values, so the condition holds (fail closed)
        if "notValues" in condition and value in condition["notValues"]:
            return False
    return True


def gateway_denies(out: Resources, selector: dict[str, str], request: dict[str, Any]) -> bool:
    """Whether a DENY policy on the gateway pods matches the request (RequestAuthentication gives a
    request principal exactly when a valid token is present)."""
    for (kind, _, _), body in sorted(out.items(), key=lambda kv: repr(kv[0])):
        if kind != "AuthorizationPolicy" or body["spec"].get("action") != "DENY":
            continue
        spec = body["spec"]
        if spec.get("selector", {}).get("matchLabels") != selector:
            continue
        for rule in spec["rules"]:
            sources = [f["source"] for f in rule.get("from", [])]
            if sources and not any(
                "notRequestPrincipals" in s and not request.get("claims") for s in sources
            ):
                continue
            if rule_to_matches(rule, request) and _conditions_hold(rule, request):
                return True
    return False


def test_claims_route_does_not_let_other_users_reach_admin_paths() -> None:
    out = shop()
    selector = out[("Gateway", "web", "shop-public")]["spec"]["selector"]
    for host in ("shop.example.com", "shop.example.com:443"):
        user = {"host": host, "path": "/api/admin/users", "claims": {"role": "customer", "sub": "u1"}}
        # Without the claim the request would fall through to route `api` and reach the same
        # backend (`/admin/users` after the rewrite): it must be refused at the gateway.
        assert gateway_denies(out, selector, user), host
        assert gateway_denies(out, selector, {**user, "claims": {"sub": "u1"}}), host
        assert not gateway_denies(out, selector, {**user, "claims": {"role": "admin", "sub": "a"}}), host
        assert not gateway_denies(out, selector, {**user, "path": "/api/orders"}), host
        assert gateway_denies(out, selector, {**user, "path": "/api/admin"}), host


def test_claims_routing_without_enforcement_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "examples" / "shop" / "mesh.yaml").read_text())
    (gateway,) = data["spec"]["gateways"]
    del gateway["routes"][0]["requireClaims"]
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as raised:
        run(path)
    assert {d.code for d in raised.value.diagnostics if d.severity == "error"} == {"MC126"}


def test_review_names_relaxed_claims(tmp_path: Path) -> None:

    def view(edit: Any) -> Any:
        data = yaml.safe_load((REPO / "examples" / "shop" / "mesh.yaml").read_text())
        edit(data["spec"]["gateways"][0]["routes"][0])
        path = tmp_path / "mesh.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        c = parse(path)
        assert c.index is not None
        return build_view(c.index)

    base = view(lambda r: None)
    head = view(lambda r: r["requireClaims"].update(role=["admin", "support"]))
    report = diff_intent(base, head)
    assert [r.kind for r in report.risks] == ["claims-relaxed"]


def test_gateway_pods_in_an_owned_namespace_are_not_denied_by_its_allow_nothing(tmp_path: Path) -> None:
    """A gateway whose pods run in a namespace the spec owns: the namespace's allow-nothing policy
    selects them too, and every request from outside got 403 (found by the verifier's gateway
    probe, which every compile now runs)."""
    out = compile_spec(
        tmp_path,
        {
            "defaults": {"namespace": "app"},
            "services": [{"name": "web", "ports": HTTP}],
            "gateways": [
                {
                    "name": "edge",
                    "selector": {"app": "edge-gateway"},
                    "workload": {"namespace": "app", "account": "edge-gateway"},
                    "hosts": ["web.example.com"],
                    "servers": [{"port": 80, "protocol": "http"}],
                    "routes": [{"to": {"service": "web"}}],
                }
            ],
        },
    )
    assert out[("AuthorizationPolicy", "app", "default-deny")]["spec"] == {}
    policy = out[("AuthorizationPolicy", "app", "t-edge-ingress")]["spec"]
    assert policy == {"selector": {"matchLabels": {"app": "edge-gateway"}}, "action": "ALLOW", "rules": [{}]}


def test_a_claims_route_is_not_refused_without_a_token_when_a_later_route_takes_those_requests() -> None:
    """Without a token no claims match, so the gateway takes the next route (`requireJwt: false`):
    the DENY-without-token must not cover the claims route's paths (found by the verifier)."""
    out = _resources(REPO / "tests" / "rules" / "fixtures" / "MC112" / "pass-claims-at-jwt-gateway.yaml")
    deny = out.get(("AuthorizationPolicy", "istio-system", "shop-public-require-jwt"))
    paths = (
        []
        if deny is None
        else [
            p for r in deny["spec"]["rules"] for t in r.get("to", []) for p in t["operation"].get("paths", [])
        ]
    )
    assert not any(p.startswith("/admin") for p in paths), paths
