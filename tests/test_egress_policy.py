"""Egress traffic policy (issue 14 item 4): timeouts, retries, connection limits and TLS
origination for external hosts, from the caller's sidecar or through the egress gateway."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import meshc

from meshc.compiler.pipeline import run
from meshc.compiler.verify import verify

HEAD = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  defaults: { namespace: app }
  services:
    - name: web
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: example.com/web:1 }]
    - name: batch
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: example.com/batch:1 }]
  egress:
"""


def _compile(tmp_path: Path, egress: str) -> tuple[Any, list[Any]]:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(HEAD + textwrap.indent(textwrap.dedent(egress), "    "), encoding="utf-8")
    c = run(spec, schemas=False, behaviour=False)  # checked and lowered; the tests verify
    assert c.index is not None
    return c, c.manifests


def _find(manifests: list[Any], kind: str, namespace: str, name: str) -> dict[str, Any]:
    found = [m.body for m in manifests if m.kind == kind and m.namespace == namespace and m.name == name]
    assert len(found) == 1, sorted((m.kind, m.namespace, m.name) for m in manifests)
    return found[0]


def _failed_probes(c: Any) -> list[tuple[str, str]]:
    report = verify(c.index, c.manifests)
    return [(r.probe.key, r.reason) for r in report.results if not r.ok]


def test_http_egress_through_a_gateway_reaches_the_host(tmp_path: Path) -> None:
    """The gateway leg's `match.gateways` names the Gateway by its short name, which Istio resolves
    in the VirtualService's namespace: the verifier took it for another gateway and refused
    every HTTP call through an egress gateway (exit 3 on a correct output)."""
    c, _ = _compile(
        tmp_path,
        """\
        - name: api
          hosts: [api.example.com]
          ports: [{ port: 80, protocol: http }]
          callers: [web]
          gateway: {}
        """,
    )
    assert _failed_probes(c) == []


def _checked(tmp_path: Path, egress: str) -> list[Any]:
    """The output of a full compile (CRD self-check and behaviour verifier included)."""
    spec = tmp_path / "mesh.yaml"
    spec.write_text(HEAD + textwrap.indent(textwrap.dedent(egress), "    "), encoding="utf-8")
    return list(run(spec).manifests)


def test_sidecar_originates_tls_as_istios_task_writes_it(tmp_path: Path) -> None:
    """Istio's "Egress TLS Origination": the ServiceEntry's HTTP port 80 goes to targetPort 443 and
    a DestinationRule originates TLS (SIMPLE, SNI the host) on port 80; timeouts and retries ride
    on a VirtualService for the host, exported exactly where the ServiceEntry is."""
    out = _checked(
        tmp_path,
        """\
        - name: cnn
          hosts: [edition.cnn.com]
          ports: [{ port: 80, protocol: http }]
          callers: [web]
          tlsOrigination: {}
          traffic:
            timeout: 5s
            retries: { attempts: 2, perTryTimeout: 2s, retryOn: [5xx, reset] }
            connectionPool: { maxConnections: 50, connectTimeout: 1s }
            outlierDetection: { consecutive5xxErrors: 3 }
        """,
    )
    se = _find(out, "ServiceEntry", "app", "t-cnn")["spec"]
    assert se["ports"] == [{"name": "http-80", "number": 80, "protocol": "HTTP", "targetPort": 443}]
    dr = _find(out, "DestinationRule", "app", "t-cnn")["spec"]
    assert dr["host"] == "edition.cnn.com" and dr["exportTo"] == se["exportTo"] == ["."]
    assert dr["trafficPolicy"] == {
        "connectionPool": {"tcp": {"maxConnections": 50, "connectTimeout": "1s"}},
        "outlierDetection": {"consecutive5xxErrors": 3},
        "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE", "sni": "edition.cnn.com"}}],
    }
    vs = _find(out, "VirtualService", "app", "t-cnn")["spec"]
    assert vs["hosts"] == ["edition.cnn.com"] and vs["exportTo"] == ["."]
    (route,) = vs["http"]
    assert route["timeout"] == "5s"
    assert route["retries"] == {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx,reset"}
    assert route["route"] == [{"destination": {"host": "edition.cnn.com", "port": {"number": 80}}}]


def test_gateway_originates_tls_and_callers_cannot_skip_it(tmp_path: Path) -> None:
    """Istio's "Egress Gateways with TLS Origination": the sidecar sends HTTP over ISTIO_MUTUAL to
    the gateway on port 80, the gateway routes to the host's port 443 and a DestinationRule in
    the gateway's namespace originates TLS there. Only the gateway's own ServiceEntry copy declares
    443: a caller that saw it could reach the host beside the gateway."""
    out = _checked(
        tmp_path,
        """\
        - name: carrier
          hosts: [api.carrier.example, track.carrier.example]
          ports: [{ port: 80, protocol: http }]
          callers: [web]
          gateway: {}
          tlsOrigination: { credentialName: carrier-ca, subjectAltNames: [carrier.example] }
          traffic: { timeout: 10s, connectionPool: { maxConnections: 5 } }
        """,
    )
    caller_copy = _find(out, "ServiceEntry", "app", "t-carrier")["spec"]
    assert [p["number"] for p in caller_copy["ports"]] == [80]
    assert all("targetPort" not in p for p in caller_copy["ports"])
    gateway_copy = _find(out, "ServiceEntry", "istio-system", "t-carrier")["spec"]
    assert [(p["number"], p["protocol"]) for p in gateway_copy["ports"]] == [(80, "HTTP"), (443, "HTTPS")]
    for i, host in enumerate(["api.carrier.example", "track.carrier.example"], start=1):
        dr = _find(out, "DestinationRule", "istio-system", f"t-carrier-{i}")["spec"]
        assert dr == {
            "host": host,
            "exportTo": ["."],
            "trafficPolicy": {
                "connectionPool": {"tcp": {"maxConnections": 5}},
                "portLevelSettings": [
                    {
                        "port": {"number": 443},
                        "tls": {
                            "mode": "SIMPLE",
                            "sni": host,
                            "credentialName": "carrier-ca",
                            "subjectAltNames": ["carrier.example"],
                        },
                    }
                ],
            },
        }
        leg = _find(out, "VirtualService", "istio-system", f"t-carrier-egress-{i}")["spec"]
        assert [r["route"][0]["destination"]["port"]["number"] for r in leg["http"]] == [443]
        mesh_leg = _find(out, "VirtualService", "app", f"t-carrier-egress-mesh-{i}")["spec"]
        assert [r["timeout"] for r in mesh_leg["http"]] == ["10s"]
    # No DestinationRule for the external hosts in the callers' namespace: the sidecar talks to the
    # gateway (ISTIO_MUTUAL), never to the host.
    in_callers = [m for m in out if m.kind == "DestinationRule" and m.namespace == "app"]
    assert not [m for m in in_callers if "carrier" in m.name]


def test_gateway_origination_with_an_entry_namespace_gives_the_gateway_its_own_copy(tmp_path: Path) -> None:
    out = _checked(
        tmp_path,
        """\
        - name: carrier
          hosts: [api.carrier.example]
          ports: [{ port: 80, protocol: http }]
          callers: [web]
          namespace: app
          gateway: {}
          tlsOrigination: {}
        """,
    )
    shared = _find(out, "ServiceEntry", "app", "t-carrier")["spec"]
    assert [p["number"] for p in shared["ports"]] == [80]
    own = _find(out, "ServiceEntry", "istio-system", "t-carrier")["spec"]
    assert own["exportTo"] == ["."] and [p["number"] for p in own["ports"]] == [80, 443]


def test_plain_egress_gets_no_policy_objects(tmp_path: Path) -> None:
    """Without traffic policy or TLS origination nothing beyond the ServiceEntry is written."""
    out = _checked(
        tmp_path,
        """\
        - name: api
          hosts: [api.example.com]
          ports: [{ port: 443, protocol: tls }]
          callers: [web]
        """,
    )
    assert sorted(m.kind for m in out if "t-api" in m.name) == ["ServiceEntry"]


def test_tcp_egress_keeps_connection_limits(tmp_path: Path) -> None:
    out = _checked(
        tmp_path,
        """\
        - name: db
          hosts: [db.example.com]
          ports: [{ port: 5432, protocol: tcp }]
          callers: [web]
          traffic: { connectionPool: { maxConnections: 10, connectTimeout: 1s } }
        """,
    )
    dr = _find(out, "DestinationRule", "app", "t-db")["spec"]
    assert dr["trafficPolicy"] == {"connectionPool": {"tcp": {"maxConnections": 10, "connectTimeout": "1s"}}}
    assert not [m for m in out if m.kind == "VirtualService" and m.name == "t-db"]


@pytest.mark.parametrize(
    "setting",
    [
        'tlsOrigination: { sni: "" }',
        'tlsOrigination: { sni: "a b" }',
        'tlsOrigination: { credentialName: "Bad Name!" }',
        'tlsOrigination: { subjectAltNames: [""] }',
        "tlsOrigination: { port: 0 }",
        'traffic: { timeout: "soon" }',
    ],
)
def test_hostile_settings_are_diagnostics(tmp_path: Path, setting: str) -> None:
    """Every malformed value is the user's error at its position (exit 1), never a CRD refusal of
    the output (exit 3) nor a silent fallback (an empty SNI used to become the host's name)."""
    spec = tmp_path / "mesh.yaml"
    entry = "- name: api\n  hosts: [api.example.com]\n  ports: [{ port: 80, protocol: http }]\n"
    entry += f"  callers: [web]\n  gateway: {{}}\n  {setting}\n"
    spec.write_text(HEAD + textwrap.indent(entry, "    "), encoding="utf-8")
    r = meshc("validate", str(spec))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mesh.yaml:19:" in r.stderr and "error MC0" in r.stderr, r.stderr


def test_empty_limits_write_nothing(tmp_path: Path) -> None:
    out = _checked(
        tmp_path,
        """\
        - name: api
          hosts: [api.example.com]
          ports: [{ port: 80, protocol: http }]
          callers: [web]
          traffic: { connectionPool: {}, outlierDetection: {} }
        """,
    )
    assert sorted(m.kind for m in out if "t-api" in m.name) == ["ServiceEntry"]
