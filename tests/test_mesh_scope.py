"""One spec must not change the whole cluster (issue 13 defect 1, issue 12 defect 6).

mTLS and telemetry defaults apply to the namespaces the spec owns; the root namespace (mesh-wide)
only with `meshWide: true`; objects in namespaces other specs may share carry the mesh name.
"""

from __future__ import annotations

import yaml
from conftest import meshc

from meshc.compiler.pipeline import compile_mesh

SPEC = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  defaults: { namespace: shop }
  security: { mtls: STRICT }
  telemetry: { providers: [{ name: z, zipkin: { service: zipkin, port: 9411 } }], tracing: { provider: z } }
  services:
    - name: web
      ports: [{ port: 80, protocol: http }]
      versions: [{ name: v1, image: nginx }]
      egress: []
    - name: api
      namespace: api
      ports: [{ port: 80, protocol: http }]
  gateways:
    - name: public
      servers: [{ port: 80, protocol: http }]
      hosts: [shop.example.com]
      jwt: { issuer: https://id.example.com, jwksUri: https://id.example.com/jwks }
      routes: [{ to: { service: web } }]
  egress:
    - { name: stripe, hosts: [api.stripe.com], callers: [web] }
    - name: mail
      hosts: [smtp.example.com]
      ports: [{ port: 465, protocol: tls }]
      callers: [web]
      gateway: {}
""".replace("      egress: []\n", "      calls: [{ service: api }]\n")


def objects(text: str) -> list[tuple[str, str, str]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    return [(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs]


def test_root_namespace_mtls_is_a_diagnostic_not_two_objects(write, tmp_path):
    """Defect 1: the root namespace declared DISABLE beside a STRICT mesh compiled (exit 0) to two
    `PeerAuthentication istio-system/default`."""
    spec = write(
        SPEC.replace(
            "  services:\n", "  namespaces:\n    - { name: istio-system, mtls: DISABLE }\n  services:\n", 1
        )
    )
    r = meshc("compile", str(spec), "-o", "-")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mesh.yaml:9:29: error MC151: namespace 'istio-system' is Istio's root namespace" in r.stderr
    assert r.stdout == ""
    opted_in = write(
        SPEC.replace(
            "  security:",
            "  meshWide: true\n  namespaces:\n    - { name: istio-system, mtls: DISABLE }\n  security:",
        ),
        "opted-in.yaml",
    )
    r = meshc("compile", str(opted_in), "-o", "-")
    assert r.returncode == 1 and "error MC151" in r.stderr, r.stderr  # meshWide takes security.mtls alone


def test_mtls_and_telemetry_are_namespace_scoped_by_default(write):
    manifests = compile_mesh(write(SPEC))
    found = {(m.kind, m.namespace, m.name): m.body.get("spec") for m in manifests}
    assert not [
        key for key in found if key[1] == "istio-system" and key[0] in ("PeerAuthentication", "Telemetry")
    ]
    for ns in ("api", "shop"):
        assert found[("PeerAuthentication", ns, "default")] == {"mtls": {"mode": "STRICT"}}
        assert "tracing" in found[("Telemetry", ns, "default")]


def test_mesh_wide_is_an_explicit_opt_in(write):
    manifests = compile_mesh(write(SPEC.replace("  security:", "  meshWide: true\n  security:")))
    pas = sorted((m.namespace, m.name) for m in manifests if m.kind == "PeerAuthentication")
    tels = sorted((m.namespace, m.name) for m in manifests if m.kind == "Telemetry")
    assert pas == [("istio-system", "default")]
    assert tels == [("istio-system", "mesh-default")]


def test_objects_in_shared_namespaces_carry_the_mesh_name(write):
    """Two teams' specs with a gateway `public` and an egress `stripe` no longer overwrite each other."""
    one = {(m.kind, m.namespace, m.name) for m in compile_mesh(write(SPEC))}
    other = {
        (m.kind, m.namespace, m.name)
        for m in compile_mesh(write(SPEC.replace("name: shop }", "name: blog }"), "b.yaml"))
    }
    shared = {key for key in one & other if key[1] == "istio-system"}
    assert shared == set()
    assert ("RequestAuthentication", "istio-system", "shop-public-jwt") in one
    # The egress entry lives in its caller's namespace (only declared callers see it), named by mesh.
    assert ("ServiceEntry", "shop", "shop-stripe") in one
    # Through the egress gateway: its objects and its copy of the entry live in istio-system.
    for kind, name in [("Gateway", "shop-mail-egress"), ("ServiceEntry", "shop-mail")]:
        assert (kind, "istio-system", name) in one
        assert (kind, "istio-system", name.replace("shop-", "blog-", 1)) in other
    assert ("Gateway", "shop", "shop-public") in one


def test_every_name_built_for_a_shared_namespace_is_mesh_scoped() -> None:
    from meshc.compiler.lower import names

    for build in (
        names.gateway,
        names.gateway_jwt,
        names.gateway_require_jwt,
        names.gateway_require_claims,
        names.service_entry,
        names.egress_gateway,
        names.egress_mesh_leg,
    ):
        for mesh, name in (("shop", "public"), ("shop", "shop-public"), ("cross", "network-gateway")):
            assert names.is_mesh_scoped(mesh, build(mesh, name)), (build.__name__, mesh, name)
    assert names.east_west_gateway("cross") == "cross-cross-network-gateway"  # never Istio's own name
    assert names.is_mesh_scoped("travel", names.east_west_gateway("travel"))
