"""`meshc diff` names egress TLS origination, egress traffic policy and telemetry changes in the
spec's terms; less TLS origination is a risk (issue 14 items 4 and 5)."""

from __future__ import annotations

from pathlib import Path

from meshc.compiler.pipeline import check, parse
from meshc.compiler.review.intent import IntentDiff, diff_intent
from meshc.compiler.review.view import MeshView, build_view

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "mesh.yaml"


def _view(tmp_path: Path, text: str, name: str) -> MeshView:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text, encoding="utf-8")
    return build_view(check(parse(spec)).parsed.index)


def _diff(tmp_path: Path, before: str, after: str) -> IntentDiff:
    text = SHOP.read_text(encoding="utf-8")
    assert before in text, before
    return diff_intent(_view(tmp_path, text, "base"), _view(tmp_path, text.replace(before, after), "head"))


def _messages(d: IntentDiff, category: str) -> list[str]:
    return [c.message for c in d.changes if c.category == category]


def test_removing_tls_origination_is_a_risk(tmp_path: Path) -> None:
    d = _diff(tmp_path, "      tlsOrigination: { port: 443 }\n", "")
    assert _messages(d, "egress") == [
        "egress `fx-rates` TLS origination: SIMPLE to port 443 by the callers' sidecars → none"
    ]
    assert [(r.kind, r.message) for r in d.risks] == [
        (
            "tls-relaxed",
            "egress `fx-rates`: TLS origination removed: the callers' plain HTTP on port(s) 80 now "
            "leaves the mesh unencrypted to api.fxrates.example",
        )
    ]


def test_dropping_the_credential_weakens_the_gateways_tls(tmp_path: Path) -> None:
    d = _diff(
        tmp_path,
        """      tlsOrigination:                      # the carrier wants a client certificate
        mode: MUTUAL
        credentialName: carrier-client     # tls.crt, tls.key and ca.crt, in istio-system
        sni: api.carrier.example
        subjectAltNames: [api.carrier.example]
""",
        "      tlsOrigination: {}\n",
    )
    assert _messages(d, "egress") == [
        "egress `carrier` TLS origination: MUTUAL to port 443 by the egress gateway, credential "
        "`carrier-client`, SNI `api.carrier.example`, SANs api.carrier.example → SIMPLE to port 443 "
        "by the egress gateway"
    ]
    assert [r.message for r in d.risks] == [
        "egress `carrier`: TLS origination weakened: no client certificate any more (MUTUAL → SIMPLE)",
        "egress `carrier`: TLS origination weakened: the certificate's subject alternative names "
        "are no longer checked",
        "egress `carrier`: TLS origination weakened: the host is verified with the system roots, "
        "not `carrier-client`",
    ]


def test_egress_timeouts_and_limits_are_resilience_changes(tmp_path: Path) -> None:
    d = _diff(
        tmp_path,
        "traffic: { timeout: 10s, connectionPool: { maxConnections: 50 } }",
        "traffic: { timeout: 20s }",
    )
    assert sorted(_messages(d, "resilience")) == [
        'egress `carrier` connectionPool: {"maxConnections": 50} → none',
        "egress `carrier` timeout: 10s → 20s",
    ]
    assert d.risks == []


def test_telemetry_changes_are_named(tmp_path: Path) -> None:
    d = _diff(
        tmp_path,
        "zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 }",
        "zipkin: { service: zipkin.tracing.svc.cluster.local, port: 9411 }",
    )
    assert _messages(d, "telemetry") == [
        "telemetry provider `zipkin`: zipkin at zipkin.istio-system.svc.cluster.local:9411"
        " → zipkin at zipkin.tracing.svc.cluster.local:9411"
    ]
    d = _diff(tmp_path, "provider: envoy, mode: SERVER,", "provider: envoy, mode: CLIENT_AND_SERVER,")
    assert _messages(d, "telemetry") == ["telemetry accessLogging.mode: SERVER → CLIENT_AND_SERVER"]
    d = _diff(tmp_path, "tracing: { sampling: 10.0 }", "tracing: { sampling: 50.0 }")
    assert _messages(d, "telemetry") == ["`payments` telemetry tracing.sampling: 10.0 → 50.0"]


def test_the_graph_marks_tls_origination(tmp_path: Path) -> None:
    from meshc.compiler.review.graph import build_graph

    text = SHOP.read_text(encoding="utf-8")
    g = build_graph(_view(tmp_path, text, "shop"))
    assert g.edges[("service:pricing", "egress:fx-rates")].label == "http → tls"
    assert g.edges[("service:payments", "egress:stripe")].label == "tls"
