"""The behaviour model, rule by rule, on hand-written resources (each test names the refs.REFS key
of the documented behaviour it pins down)."""

from __future__ import annotations

from typing import Any

from meshc.compiler.verify.config import Config
from meshc.compiler.verify.engine import Model
from meshc.compiler.verify.inbound import Inbound, authorize, peer_mode
from meshc.compiler.verify.request import Request, Token
from meshc.compiler.verify.world import Workload, World, labels_of

ROOT = "istio-system"
TD = "cluster.local"


def _res(kind: str, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _config(*bodies: dict[str, Any]) -> Config:
    return Config(list(bodies), root_namespace=ROOT, cluster_domain="cluster.local")


def _wl(name: str, ns: str = "app", sidecar: bool = True, **labels: str) -> Workload:
    return Workload(name, ns, labels_of({"app": name.split("/")[0], **labels}), name.split("/")[0], sidecar)


def _http(principal: str | None, **kw: Any) -> Inbound:
    return Inbound(target_port=kw.pop("port", 8080), http=kw.pop("http", True), principal=principal, **kw)


ALLOW_WEB = _res(
    "AuthorizationPolicy",
    "app",
    "api",
    {
        "selector": {"matchLabels": {"app": "api"}},
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": [f"{TD}/ns/app/sa/web"]}}]}],
    },
)


def test_authz_order_deny_wins_over_allow_and_no_allow_policy_allows() -> None:  # authz-order
    api = _wl("api/v1")
    deny = _res(
        "AuthorizationPolicy",
        "app",
        "no-delete",
        {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]},
    )
    cfg = _config(ALLOW_WEB, deny)
    assert authorize(cfg, api, _http(f"{TD}/ns/app/sa/web", method="GET"))[0]
    assert not authorize(cfg, api, _http(f"{TD}/ns/app/sa/web", method="DELETE"))[0]
    assert authorize(_config(deny), api, _http(None, method="GET"))[0]  # no ALLOW policy: allowed
    assert not authorize(_config(_res("AuthorizationPolicy", "app", "deny-all", {})), api, _http(None))[0]


def test_authz_root_namespace_applies_everywhere_other_namespaces_do_not() -> None:  # authz-scope
    api = _wl("api/v1")
    other = _res("AuthorizationPolicy", "elsewhere", "deny-all", {})
    root = _res("AuthorizationPolicy", ROOT, "deny-all", {})
    assert authorize(_config(other), api, _http(None))[0]
    assert not authorize(_config(root), api, _http(None))[0]


def test_authz_hosts_are_exact_strings_a_port_is_part_of_them() -> None:  # authz-hosts
    gw = _wl("gw", ns=ROOT)
    deny = _res(
        "AuthorizationPolicy",
        ROOT,
        "jwt",
        {
            "action": "DENY",
            "rules": [
                {
                    "from": [{"source": {"notRequestPrincipals": ["*"]}}],
                    "to": [{"operation": {"hosts": ["shop.example.com"]}}],
                }
            ],
        },
    )
    cfg = _config(deny)
    assert not authorize(cfg, gw, _http(None, host="Shop.Example.com"))[0]  # case-insensitive
    assert authorize(cfg, gw, _http(None, host="shop.example.com:443"))[0]  # the bypass
    assert authorize(cfg, gw, _http(None, host="shop.example.com", request_principal="iss/sub"))[0]


def test_authz_ports_are_target_ports_and_http_fields_never_match_tcp_in_allow() -> (
    None
):  # authz-ports, authz-tcp
    api = _wl("api/v1")
    allow = _res(
        "AuthorizationPolicy",
        "app",
        "api",
        {
            "action": "ALLOW",
            "rules": [
                {"to": [{"operation": {"ports": ["9000"], "methods": ["GET"]}}]},
                {"to": [{"operation": {"ports": ["7000"]}}]},
            ],
        },
    )
    cfg = _config(allow)
    assert authorize(cfg, api, _http(None, port=9000, method="GET"))[0]
    assert not authorize(cfg, api, _http(None, port=9000, http=False))[0]
    assert authorize(cfg, api, _http(None, port=7000, http=False))[0]
    deny = _res(
        "AuthorizationPolicy",
        "app",
        "d",
        {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]},
    )
    assert not authorize(_config(deny), api, _http(None, http=False))[0]  # DENY ignores them: denies all TCP


def test_peer_authentication_precedence_and_port_level() -> None:  # peer-authn
    api = _wl("api/v1")
    mesh = _res("PeerAuthentication", ROOT, "default", {"mtls": {"mode": "STRICT"}})
    ns = _res("PeerAuthentication", "app", "default", {"mtls": {"mode": "PERMISSIVE"}})
    wl = _res(
        "PeerAuthentication",
        "app",
        "api",
        {
            "selector": {"matchLabels": {"app": "api"}},
            "mtls": {"mode": "UNSET"},
            "portLevelMtls": {"5432": {"mode": "DISABLE"}},
        },
    )
    assert peer_mode(_config(), api, 8080)[0] == "PERMISSIVE"
    assert peer_mode(_config(mesh), api, 8080) == ("STRICT", f"PeerAuthentication/{ROOT}/default")
    assert peer_mode(_config(mesh, ns), api, 8080)[0] == "PERMISSIVE"
    assert peer_mode(_config(mesh, ns, wl), api, 8080) == (
        "PERMISSIVE",
        "PeerAuthentication/app/default",
    )  # UNSET inherits
    assert peer_mode(_config(mesh, ns, wl), api, 5432) == ("DISABLE", "PeerAuthentication/app/api")


def _mesh_model(*bodies: dict[str, Any], api_sidecar: bool = True) -> tuple[Model, Workload]:
    world = World()
    web = world.add(_wl("web/v1"))
    world.add(_wl("api/v1", sidecar=api_sidecar, version="v1"))
    world.add(_wl("api/v2", sidecar=api_sidecar, version="v2"))
    svc = _res(
        "Service",
        "app",
        "api",
        {
            "selector": {"app": "api"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "appProtocol": "http"}],
        },
    )
    return Model({None: _config(svc, *bodies)}, world), web


API = "api.app.svc.cluster.local"


def test_sidecar_egress_hosts_and_registry_only() -> None:  # sidecar-egress, registry-only
    scoped = _res(
        "Sidecar",
        "app",
        "web",
        {
            "workloadSelector": {"labels": {"app": "web"}},
            "egress": [{"hosts": ["./nothing.app.svc.cluster.local"]}],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
        },
    )
    model, web = _mesh_model(scoped)
    out = model.send(web, Request(API, 80, "http", "GET", "/"))
    assert out.denied and "REGISTRY_ONLY" in out.landings[0].reason
    opened = _res(
        "Sidecar",
        "app",
        "web",
        {"workloadSelector": {"labels": {"app": "web"}}, "egress": [{"hosts": ["./*"]}]},
    )
    model, web = _mesh_model(opened)
    assert model.send(web, Request(API, 80, "http", "GET", "/")).allowed


def test_virtual_service_order_weights_and_subsets() -> None:  # vs-order, vs-weights, dr-subsets
    vs = _res(
        "VirtualService",
        "app",
        "api",
        {
            "hosts": ["api"],
            "http": [
                {
                    "match": [{"headers": {"x-canary": {"exact": "1"}}}],
                    "route": [{"destination": {"host": "api", "subset": "v2"}}],
                },
                {
                    "route": [
                        {"destination": {"host": "api", "subset": "v1"}, "weight": 75},
                        {"destination": {"host": "api", "subset": "v2"}, "weight": 25},
                    ]
                },
            ],
        },
    )
    dr = _res(
        "DestinationRule",
        "app",
        "api",
        {
            "host": "api",
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ],
        },
    )
    model, web = _mesh_model(vs, dr)
    assert model.send(web, Request(API, 80, "http", "GET", "/")).weights() == {"api/v1": 0.75, "api/v2": 0.25}
    canary = Request(API, 80, "http", "GET", "/", headers=(("x-canary", "1"),))
    assert model.send(web, canary).weights() == {"api/v2": 1.0}
    model, web = _mesh_model(vs)  # no DestinationRule: the subsets do not exist
    assert model.send(web, Request(API, 80, "http", "GET", "/")).denied


def test_client_tls_istio_mutual_to_a_workload_without_sidecar_fails_auto_mtls_does_not() -> (
    None
):  # dr-tls, auto-mtls
    forced = _res(
        "DestinationRule",
        "app",
        "api",
        {"host": "api.app.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
    )
    model, web = _mesh_model(forced, api_sidecar=False)
    assert model.send(web, Request(API, 80, "http", "GET", "/")).denied
    model, web = _mesh_model(api_sidecar=False)
    assert model.send(web, Request(API, 80, "http", "GET", "/")).allowed
    strict = _res("PeerAuthentication", ROOT, "default", {"mtls": {"mode": "STRICT"}})
    model, web = _mesh_model(strict, ALLOW_WEB)  # auto-mTLS to a sidecar: the caller's principal arrives
    assert model.send(web, Request(API, 80, "http", "GET", "/")).allowed
    assert model.send(web, Request(API, 80, "http", "GET", "/"), plaintext=True).denied


def test_gateway_authority_with_port_and_jwt_claims() -> None:  # vs-match, jwt-claims-routing, request-authn
    world = World()
    gw = world.add(Workload("gateway/public", ROOT, labels_of({"istio": "ingressgateway"}), "gw", True, True))
    world.add(_wl("api/v1"))
    bodies = [
        _res(
            "Service",
            "app",
            "api",
            {
                "selector": {"app": "api"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "appProtocol": "http"}],
            },
        ),
        _res(
            "Gateway",
            "app",
            "public",
            {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": ["shop.example.com"],
                        "tls": {"mode": "SIMPLE"},
                    }
                ],
            },
        ),
        _res(
            "VirtualService",
            "app",
            "public",
            {
                "hosts": ["shop.example.com"],
                "gateways": ["public"],
                "http": [
                    {
                        "match": [
                            {
                                "authority": {"exact": "shop.example.com"},
                                "headers": {"@request.auth.claims.role": {"exact": "admin"}},
                            }
                        ],
                        "route": [
                            {"destination": {"host": "api.app.svc.cluster.local", "port": {"number": 80}}}
                        ],
                    }
                ],
            },
        ),
        _res(
            "RequestAuthentication",
            ROOT,
            "jwt",
            {"selector": {"matchLabels": {"istio": "ingressgateway"}}, "jwtRules": [{"issuer": "iss"}]},
        ),
    ]
    model = Model({None: _config(*bodies)}, world)
    admin = Token("iss", claims=(("role", "admin"),))
    assert model.ingress(gw, Request("shop.example.com", 443, "http", "GET", "/", token=admin)).allowed
    assert model.ingress(
        gw,
        Request("shop.example.com", 443, "http", "GET", "/", authority="shop.example.com:443", token=admin),
    ).denied
    assert model.ingress(
        gw, Request("shop.example.com", 443, "http", "GET", "/", token=Token("iss"))
    ).denied  # 404
    rejected = model.ingress(gw, Request("shop.example.com", 443, "http", "GET", "/", token=Token("other")))
    assert rejected.landings[0].reason.startswith("401")


def test_connection_sni_condition_on_http_and_tcp() -> None:  # authz-conditions
    """`connection.sni` is the server name of the terminated TLS connection, HTTP and TCP alike
    (istio.io/latest/docs/reference/config/security/conditions/); plaintext has none."""
    egress = _wl("istio-egressgateway", ROOT, istio="egressgateway")
    policy = _res(
        "AuthorizationPolicy",
        ROOT,
        "stripe-egress",
        {
            "selector": {"matchLabels": {"istio": "egressgateway"}},
            "action": "ALLOW",
            "rules": [
                {
                    "from": [{"source": {"principals": [f"{TD}/ns/app/sa/web"]}}],
                    "when": [{"key": "connection.sni", "values": ["api.stripe.com"]}],
                }
            ],
        },
    )
    cfg = _config(policy)
    web = f"{TD}/ns/app/sa/web"
    assert authorize(cfg, egress, _http(web, http=False, port=443, sni="api.stripe.com"))[0]
    assert authorize(cfg, egress, _http(web, port=443, sni="api.stripe.com"))[0]
    assert not authorize(cfg, egress, _http(web, http=False, port=443, sni="evil.example.com"))[0]
    assert not authorize(cfg, egress, _http(web, http=False, port=443))[0]  # plaintext: no SNI


def test_mtls_sni_is_the_destination_rules_else_the_cluster_name() -> None:  # dr-tls
    from meshc.compiler.verify.config import Resource
    from meshc.compiler.verify.outbound import client_sni, mtls_sni

    gw = "istio-egressgateway.istio-system.svc.cluster.local"
    spec = {
        "host": gw,
        "subsets": [
            {
                "name": "stripe",
                "trafficPolicy": {
                    "portLevelSettings": [
                        {"port": {"number": 443}, "tls": {"mode": "ISTIO_MUTUAL", "sni": "api.stripe.com"}}
                    ]
                },
            }
        ],
    }
    dr = Resource("DestinationRule", ROOT, "egress", spec, {})
    assert mtls_sni(client_sni(dr, "stripe", 443), gw, "stripe", 443) == "api.stripe.com"
    assert mtls_sni(client_sni(dr, None, 443), gw, None, 443) == f"outbound_.443_._.{gw}"


def test_a_service_name_without_a_service_in_the_cluster_does_not_resolve() -> None:  # k8s-dns
    """A caller without Sidecar scoping (ALLOW_ANY) sends an unknown external host through the
    PassthroughCluster, but a `.svc.<cluster domain>` name with no Service in its cluster (one the
    spec places in another cluster only) fails its DNS lookup: never a reached 'external' host."""
    model, web = _mesh_model()
    out = model.send(web, Request("audit.app.svc.cluster.local", 8080, "http", "GET", "/"))
    assert out.denied and "does not resolve" in out.landings[0].reason
    out = model.send(web, Request("audit.app.svc.cluster.local", 8080, "http", "GET", "/"), plaintext=True)
    assert out.denied
    assert model.send(web, Request("api.example.com", 443, "tls")).allowed  # passthrough to the internet
