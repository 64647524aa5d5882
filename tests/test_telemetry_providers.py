"""Telemetry (issue 14 item 5): declared extension providers checked by reference, per-direction
and filtered access logs, tracing custom tags, per-service overrides that inherit the mesh's
provider, and `meshc mesh-config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import meshc

from meshc.compiler.pipeline import run

OTEL = "otel-collector.observability.svc.cluster.local"
SPEC = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  defaults: { namespace: app }
  telemetry:
    providers:
      - name: otel
        opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 }
      - name: json-log
        envoyFileAccessLog: { path: /dev/stdout }
    tracing:
      provider: otel
      sampling: 5
      customTags:
        cluster: { literal: eu-1 }
        user: { header: x-user, defaultValue: anonymous }
        pod: { environment: POD_NAME }
    accessLogging: { provider: json-log, mode: SERVER, filter: "response.code >= 500" }
  services:
    - name: web
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: example.com/web:1 }]
      calls: [{ service: api }]
      telemetry:
        tracing: { sampling: 50 }
        accessLogging: { mode: CLIENT }
    - name: api
      ports: [{ port: 8080, protocol: http }]
      versions: [{ name: v1, image: example.com/api:1 }]
"""


def _telemetry(tmp_path: Path, text: str = SPEC) -> dict[tuple[str, str], dict[str, Any]]:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(text, encoding="utf-8")
    c = run(spec)  # full stages: the Telemetry CRD schema checks every field written here
    return {(m.namespace, m.name): m.body["spec"] for m in c.manifests if m.kind == "Telemetry"}


def test_access_log_direction_filter_and_custom_tags(tmp_path: Path) -> None:
    found = _telemetry(tmp_path)
    mesh = found[("app", "default")]
    assert mesh["accessLogging"] == [
        {
            "providers": [{"name": "json-log"}],
            "match": {"mode": "SERVER"},
            "filter": {"expression": "response.code >= 500"},
        }
    ]
    assert mesh["tracing"] == [
        {
            "providers": [{"name": "otel"}],
            "randomSamplingPercentage": 5.0,
            "customTags": {
                "cluster": {"literal": {"value": "eu-1"}},
                "pod": {"environment": {"name": "POD_NAME"}},
                "user": {"header": {"name": "x-user", "defaultValue": "anonymous"}},
            },
        }
    ]


def test_a_service_override_inherits_the_mesh_provider(tmp_path: Path) -> None:
    """The override of `web` names no provider. It used to be written as `zipkin` (the model's
    default) although the mesh traces with `otel`: the service's spans went to a backend that
    does not exist here. Now no `providers` is written and Istio takes the namespace's."""
    found = _telemetry(tmp_path)
    web = found[("app", "web")]
    assert web["tracing"] == [{"randomSamplingPercentage": 50.0}]
    assert web["accessLogging"] == [{"match": {"mode": "CLIENT"}}]
    assert "zipkin" not in yaml.safe_dump(web)


def test_mesh_config_prints_the_declared_providers(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    r = meshc("mesh-config", str(spec))
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout) == {
        "meshConfig": {
            "extensionProviders": [
                {"name": "json-log", "envoyFileAccessLog": {"path": "/dev/stdout"}},
                {"name": "otel", "opentelemetry": {"service": OTEL, "port": 4317}},
            ]
        }
    }
    r = meshc("mesh-config", str(spec), "--format", "istiooperator", "-o", str(tmp_path / "iop.yaml"))
    assert r.returncode == 0 and r.stdout == "", r.stderr
    iop = yaml.safe_load((tmp_path / "iop.yaml").read_text(encoding="utf-8"))
    assert iop["kind"] == "IstioOperator"
    assert [p["name"] for p in iop["spec"]["meshConfig"]["extensionProviders"]] == ["json-log", "otel"]


def test_mesh_config_refuses_an_undeclared_provider(tmp_path: Path) -> None:
    """An undeclared provider silently switched tracing off; now it is MC203, here and in validate."""
    spec = tmp_path / "mesh.yaml"
    spec.write_text(SPEC.replace("provider: otel\n", "provider: jaeger\n"), encoding="utf-8")
    r = meshc("mesh-config", str(spec))
    assert r.returncode == 1 and r.stdout == ""
    assert "error MC203: tracing provider 'jaeger' is not declared" in r.stderr
    r = meshc("validate", str(spec))
    assert r.returncode == 1 and "MC203" in r.stderr
