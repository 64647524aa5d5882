"""Issue 13 defect 2: no two compiled objects share a kind, namespace and name.

Each spec shape below used to compile (exit 0) to two objects with one name, so one silently
replaced the other when applied. Now a semantic rule (MC150) names both spec locations, and the
pipeline treats any duplicate that still gets through as a meshc bug (exit 3, nothing written).
"""

from __future__ import annotations

import pytest
from conftest import REPO, meshc

from meshc.compiler.lower.common import Manifest
from meshc.compiler.pipeline import CompilerBug, check_unique_objects, compile_mesh

HEAD = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  defaults: { namespace: shop }
"""

DEFAULT_DENY = (
    HEAD
    + """\
  services:
    - name: default-deny
      ports: [{ port: 80, protocol: http }]
    - name: web
      ports: [{ port: 80, protocol: http }]
      calls: [{ service: default-deny }]
"""
)

DEPLOYMENT = (
    HEAD
    + """\
  services:
    - name: a
      ports: [{ port: 80, protocol: http }]
      versions: [{ name: b-c, image: nginx }]
    - name: a-b
      ports: [{ port: 80, protocol: http }]
      versions: [{ name: c, image: nginx }]
"""
)

VIRTUAL_SERVICE = (
    HEAD
    + """\
  services:
    - name: shop-web
      ports: [{ port: 80, protocol: http }]
      versions: [{ name: v1 }, { name: v2 }]
      traffic: { split: { v1: 50, v2: 50 } }
  gateways:
    - name: web
      servers: [{ port: 80, protocol: http }]
      hosts: [shop.example.com]
      routes: [{ to: { service: shop-web } }]
"""
)


@pytest.mark.parametrize(
    ("text", "lines", "object_"),
    [
        (DEFAULT_DENY, {7}, "AuthorizationPolicy shop/default-deny"),
        (DEPLOYMENT, {9, 12}, "Deployment shop/a-b-c"),
        (VIRTUAL_SERVICE, {7, 12}, "VirtualService shop/shop-web"),
    ],
    ids=["default-deny", "deployment", "virtualservice"],
)
def test_colliding_names_are_a_diagnostic_at_both_places(write, tmp_path, text, lines, object_):
    spec = write(text)
    out = tmp_path / "out"
    r = meshc("compile", str(spec), "-o", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    reported = [ln for ln in r.stderr.splitlines() if "error MC150" in ln]
    assert {int(ln.split(":")[1]) for ln in reported} == lines, r.stderr
    assert all(object_ in ln for ln in reported), r.stderr
    assert not out.exists()


def test_a_duplicate_object_is_a_meshc_bug():
    def pa(name: str) -> Manifest:
        return Manifest("PeerAuthentication", "shop", name, {}, owner="service/x")

    with pytest.raises(CompilerBug, match="PeerAuthentication/shop/default"):
        check_unique_objects([pa("default"), pa("web"), pa("default")])
    check_unique_objects([pa("default"), pa("web"), Manifest("Sidecar", "shop", "web", {})])


def test_an_owned_control_plane_namespace_is_one_namespace_in_a_multi_network_mesh(write):
    """The multi-network label on the control-plane namespace used to come as a second Namespace
    object when the spec also owned that namespace (now exit 3 by the invariant; fixed at the
    source: one Namespace with both sets of labels)."""
    text = (REPO / "examples" / "multicluster" / "mesh.yaml").read_text()
    # istio-system is the control-plane namespace here, not the root namespace (MC151).
    owned = "  namespaces: [{ name: istio-system }]\n  controlPlane:\n    rootNamespace: istio-config"
    text = text.replace("  controlPlane:", owned)
    manifests = compile_mesh(write(text))
    found = [m for m in manifests if m.kind == "Namespace" and m.name == "istio-system"]
    assert sorted(m.cluster or "" for m in found) == ["east", "west"]
    for m in found:
        labels = m.body["metadata"]["labels"]
        assert labels["topology.istio.io/network"] == f"net-{m.cluster}"
        assert labels["app.kubernetes.io/part-of"] == "travel"


def test_a_gateway_and_a_service_of_one_name_no_longer_share_a_virtual_service(write):
    """The issue's shape: gateway `web` and service `web` both produced VirtualService `web`; the
    gateway's objects now carry the mesh name (they often live in shared namespaces)."""
    text = VIRTUAL_SERVICE.replace("name: shop-web", "name: web").replace("service: shop-web", "service: web")
    manifests = compile_mesh(write(text))
    assert sorted(m.name for m in manifests if m.kind == "VirtualService") == ["shop-web", "web"]
