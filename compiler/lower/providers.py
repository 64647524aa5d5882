"""Telemetry extension providers: which names a Telemetry may use, what each one is for, and the
`meshConfig.extensionProviders` fragment that declares the spec's providers to the cluster.

Istio resolves a Telemetry's `providers[].name` in `meshConfig.extensionProviders`. An unknown
name is accepted by the API server and then does nothing (tracing silently stops), so meshc
checks every reference against Istio's built-in providers and the spec's `telemetry.providers`
(MC203, MC204) and prints the fragment the cluster needs (`meshc mesh-config`). Istio merges a
user's `extensionProviders` with its built-ins by name, so the fragment lists only the spec's.
"""

from __future__ import annotations

from typing import Any, Literal

from meshc.spec.models import ExtensionProvider, Mesh

from .common import drop_none

Use = Literal["tracing", "accessLogging", "metrics"]

BUILTIN_PROVIDERS: dict[str, Use] = {"envoy": "accessLogging", "prometheus": "metrics"}
"""Providers of Istio's default mesh config: Envoy's access log to stdout, Prometheus metrics."""

KIND_USE: dict[str, Use] = {
    "zipkin": "tracing",
    "opentelemetry": "tracing",
    "datadog": "tracing",
    "skywalking": "tracing",
    "envoy_file_access_log": "accessLogging",
    "envoy_otel_als": "accessLogging",
    "prometheus": "metrics",
}
"""What each provider kind serves (field name in the model -> the Telemetry section using it)."""

_MESH_CONFIG_KEY = {
    "zipkin": "zipkin",
    "opentelemetry": "opentelemetry",
    "datadog": "datadog",
    "skywalking": "skywalking",
    "envoy_file_access_log": "envoyFileAccessLog",
    "envoy_otel_als": "envoyOtelAls",
    "prometheus": "prometheus",
}


def kinds(provider: ExtensionProvider) -> list[str]:
    """The kinds a declared provider sets (exactly one is valid, MC205)."""
    return [kind for kind in KIND_USE if getattr(provider, kind) is not None]


def uses(mesh: Mesh) -> dict[str, Use]:
    """Every provider name a Telemetry of this spec may name, with what it serves."""
    known = dict(BUILTIN_PROVIDERS)
    telemetry = mesh.spec.telemetry
    for provider in telemetry.providers if telemetry is not None else []:
        found = kinds(provider)
        if len(found) == 1:
            known[provider.name] = KIND_USE[found[0]]
    return known


def _settings(kind: str, provider: ExtensionProvider) -> dict[str, Any]:
    model = getattr(provider, kind)
    body = model.model_dump(by_alias=True, exclude_none=True)
    return drop_none(body) if body else {}


def extension_providers(mesh: Mesh) -> list[dict[str, Any]]:
    """`meshConfig.extensionProviders` entries for the spec's declared providers, by name."""
    telemetry = mesh.spec.telemetry
    out = []
    for provider in sorted(telemetry.providers if telemetry is not None else [], key=lambda p: p.name):
        found = kinds(provider)
        if len(found) != 1:
            continue  # MC205
        kind = found[0]
        out.append({"name": provider.name, _MESH_CONFIG_KEY[kind]: _settings(kind, provider)})
    return out
