"""Telemetry: the spec's defaults per namespace it owns (or, with `meshWide: true`, once in the root
namespace for the whole cluster), and per-service overrides.

A per-service block without a `provider` writes no `providers`: Istio then takes the provider of
the namespace's (or the root's) Telemetry, the mesh's own, instead of a default that may name a
different backend. Every provider a Telemetry names is one of Istio's built-ins or declared in
`telemetry.providers` (MC203); `meshc mesh-config` prints the `meshConfig.extensionProviders`
fragment that declares them to the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshc.spec.models import CustomTag, Telemetry, TelemetryOverride

from ..index import MeshIndex, Scope
from . import names
from .common import TELEMETRY, Manifest, manifest


def _providers(name: str | None) -> dict[str, Any]:
    return {} if name is None else {"providers": [{"name": name}]}


def _custom_tag(tag: CustomTag) -> dict[str, Any]:
    if tag.literal is not None:
        return {"literal": {"value": tag.literal}}
    kind, source = ("header", tag.header) if tag.header is not None else ("environment", tag.environment)
    body: dict[str, Any] = {"name": source}
    if tag.default_value is not None:
        body["defaultValue"] = tag.default_value
    return {kind: body}


def telemetry_spec(t: Telemetry | TelemetryOverride) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if t.tracing is not None:
        tracing: dict[str, Any] = _providers(t.tracing.provider)
        if t.tracing.disabled:
            tracing["disableSpanReporting"] = True
        else:
            tracing["randomSamplingPercentage"] = float(t.tracing.sampling)
        if t.tracing.custom_tags:
            tracing["customTags"] = {k: _custom_tag(v) for k, v in sorted(t.tracing.custom_tags.items())}
        spec["tracing"] = [tracing]
    if t.access_logging is not None:
        log: dict[str, Any] = _providers(t.access_logging.provider)
        if t.access_logging.mode is not None:
            log["match"] = {"mode": t.access_logging.mode}
        if t.access_logging.filter:
            log["filter"] = {"expression": t.access_logging.filter}
        if t.access_logging.disabled:
            log["disabled"] = True
        spec["accessLogging"] = [log]
    if t.metrics is not None:
        metrics: dict[str, Any] = _providers(t.metrics.provider)
        overrides = []
        for o in t.metrics.overrides:
            entry: dict[str, Any] = {"match": {"metric": o.metric, "mode": o.mode}}
            if o.disabled:
                entry["disabled"] = True
            tags: dict[str, Any] = {k: {"operation": "UPSERT", "value": v} for k, v in sorted(o.tags.items())}
            tags.update({k: {"operation": "REMOVE"} for k in sorted(o.remove_tags)})
            if tags:
                entry["tagOverrides"] = tags
            overrides.append(entry)
        if overrides:
            metrics["overrides"] = overrides
        spec["metrics"] = [metrics]
    return spec


def telemetries(index: MeshIndex, scope: Scope) -> Iterator[Manifest]:
    spec = index.mesh.spec
    if spec.telemetry is not None:
        defaults = telemetry_spec(spec.telemetry)
        if spec.mesh_wide:
            root = spec.control_plane.root_namespace
            yield manifest(index, TELEMETRY, "Telemetry", names.MESH_TELEMETRY, root, defaults)
        else:
            for name in index.scope_namespaces(scope):
                yield manifest(index, TELEMETRY, "Telemetry", names.NAMESPACE_POLICY, name, defaults)
    for info in index.placed(scope):
        if info.model.telemetry is None:
            continue
        body = {"selector": {"matchLabels": {"app": info.name}}, **telemetry_spec(info.model.telemetry)}
        yield manifest(index, TELEMETRY, "Telemetry", info.name, info.namespace, body, owner=info.owner)
