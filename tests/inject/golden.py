"""Istio's kube-inject golden cases (tests/data/istio-inject) and a structural comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshc.compiler.inject import InjectionSettings

DATA = Path(__file__).resolve().parent.parent / "data" / "istio-inject"

CASES = (
    "auth.non-default-service-account",
    "auth",
    "enable-core-dump",
    "explicit-security-context",
    "frontend",
    "hello-multi",
    "hello-probes",
    "hello-tracing-disabled",
    "hello",
    "named_port",
    "prometheus-scrape",
    "prometheus-scrape2",
    "proxy-override",
    "resource_annotations",
    "startup_live",
    "statefulset",
    "status_annotations",
    "tcp-probes",
)

# Istio's test settings: its test hub and tag; one case turns tracing off in the mesh config.
TEST_SETTINGS = InjectionSettings(hub="registry.istio.io/testing", tag="latest")
CASE_SETTINGS = {"hello-tracing-disabled": TEST_SETTINGS.with_(tracing=False)}
CASE_FLAGS = {"hello-tracing-disabled": ["--no-tracing"]}
TEST_FLAGS = ["--hub", "registry.istio.io/testing", "--tag", "latest"]


def settings_for(case: str) -> InjectionSettings:
    return CASE_SETTINGS.get(case, TEST_SETTINGS)


def load_all(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def differences(ours: Any, golden: Any, path: str = "") -> list[str]:
    """Where two objects differ: maps by key (Kubernetes ignores key order), lists in order
    (containers, env, args and volume order are meaningful), scalars by value and type."""
    if isinstance(ours, dict) and isinstance(golden, dict):
        out: list[str] = []
        for key in sorted(set(ours) | set(golden), key=str):
            where = f"{path}.{key}"
            if key not in ours:
                out.append(f"{where}: missing (golden has {golden[key]!r:.120})")
            elif key not in golden:
                out.append(f"{where}: not in golden ({ours[key]!r:.120})")
            else:
                out += differences(ours[key], golden[key], where)
        return out
    if isinstance(ours, list) and isinstance(golden, list):
        if len(ours) != len(golden):
            return [f"{path}: {len(ours)} items, golden has {len(golden)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(ours, golden, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if type(ours) is not type(golden) or ours != golden:
        return [f"{path}: {ours!r:.200} != golden {golden!r:.200}"]
    return []
