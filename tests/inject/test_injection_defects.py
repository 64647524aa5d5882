"""Regression tests for the injection defects of issue 15: each setting either takes effect in the
output or is reported; nothing vanishes silently."""

from __future__ import annotations

from pathlib import Path

from meshc.compiler.pipeline import parse
from meshc.compiler.rules import RuleContext, run_rules
from meshc.spec.diagnostics import Diagnostic

HEADER = "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec:\n"


def diagnose(path: Path) -> list[Diagnostic]:
    c = parse(path)
    assert c.mesh is not None and c.index is not None and c.loaded is not None
    return run_rules(RuleContext(c.mesh, c.index), c.loaded.source)


def codes(diagnostics: list[Diagnostic]) -> list[tuple[str, int, str]]:
    return [(d.code, d.line, d.severity) for d in diagnostics]


def test_proxy_settings_on_a_service_meshc_does_not_run_are_reported(write) -> None:
    """Defect 1: shop's orders-db `excludeInboundPorts: [9104]` appeared nowhere in the output."""
    spec = write(
        HEADER + "  services:\n"
        "    - name: orders-db\n"
        "      ports: [{ port: 3306, protocol: mysql }]\n"
        "      proxy: { excludeInboundPorts: [9104] }\n"
    )
    found = [d for d in diagnose(spec) if d.code == "MC161"]
    assert [(d.line, d.column, d.severity) for d in found] == [(8, 7, "warning")]
    assert "excludeInboundPorts" in found[0].message and "orders-db" in found[0].message
    assert (
        found[0].hint is not None and 'traffic.sidecar.istio.io/excludeInboundPorts: "9104"' in found[0].hint
    )


def test_a_workload_revision_under_istio_injection_enabled_is_refused(write) -> None:
    """Defect 2: the pod got the default control plane instead of the requested revision."""
    spec = write(
        HEADER + "  defaults: { injection: { enabled: true } }\n"
        "  services:\n"
        "    - name: pay\n"
        "      ports: [{ port: 8080, protocol: http }]\n"
        "      versions: [{ name: v1, image: pay:1 }]\n"
        "      injection: { revision: canary }\n"
    )
    found = [d for d in diagnose(spec) if d.code == "MC162"]
    assert [(d.line, d.severity) for d in found] == [(10, "error")]
    assert "istio-injection: enabled" in found[0].message and "canary" in found[0].message


def test_mixed_modes_in_one_namespace_are_reported(write) -> None:
    spec = write(
        HEADER + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n"
        "  services:\n"
        "    - name: fx\n"
        "      namespace: pay\n"
        "      versions: [{ name: v1, image: fx:1 }]\n"
        "      injection: { mode: auto }\n"
    )
    assert ("MC163", 10, "warning") in codes(diagnose(spec))


def test_a_revision_no_control_plane_serves_is_refused(write) -> None:
    spec = write(
        HEADER + "  sidecarInjector: { revisions: [stable] }\n"
        "  namespaces: [{ name: pay, injection: { revision: canary } }]\n"
    )
    assert ("MC164", 6, "error") in codes(diagnose(spec))


def test_manual_injection_of_a_workload_meshc_does_not_write_is_refused(write) -> None:
    spec = write(
        HEADER + "  services:\n"
        "    - name: orders-db\n"
        "      ports: [{ port: 3306, protocol: mysql }]\n"
        "      injection: { mode: manual }\n"
    )
    found = [d for d in diagnose(spec) if d.code == "MC165"]
    assert [(d.line, d.severity) for d in found] == [(8, "error")]
    assert "meshc inject" in (found[0].hint or "")
