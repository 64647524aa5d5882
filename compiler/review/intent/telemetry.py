"""Telemetry: the extension providers the spec declares (where traces and logs are sent), the
mesh's tracing, access logging and metrics, and each service's override. Every setting is named
by its YAML path, `before → after`; a provider whose backend changes says where data now goes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from meshc.spec.models import ExtensionProvider, Telemetry, TelemetryOverride

from .base import DiffContext, paired
from .fmt import opt

SECTIONS = (("tracing", "tracing"), ("access_logging", "accessLogging"), ("metrics", "metrics"))


def diff(ctx: DiffContext) -> None:
    providers(ctx, ctx.base.telemetry, ctx.head.telemetry)
    sections(ctx, "mesh", "telemetry", ctx.base.telemetry, ctx.head.telemetry)
    for name, old, new in paired(ctx.base.services, ctx.head.services):
        if old is not None and new is not None:
            sections(ctx, name, f"`{name}` telemetry", old.telemetry, new.telemetry)


def _backend(p: ExtensionProvider) -> dict[str, Any]:
    return p.model_dump(by_alias=True, exclude_none=True, exclude={"name"})


def _where(p: ExtensionProvider) -> str:
    """`zipkin at zipkin.istio-system.svc.cluster.local:9411`: the kind and where data goes."""
    texts = []
    for kind, settings in sorted(_backend(p).items()):
        target = settings.get("service")
        if target is not None:
            texts.append(f"{kind} at {target}:{settings.get('port')}")
        elif "path" in settings:
            texts.append(f"{kind} to {settings['path']}")
        else:
            texts.append(kind)
    return " + ".join(texts) or "no backend"


def providers(ctx: DiffContext, old: Telemetry | None, new: Telemetry | None) -> None:
    before = {p.name: p for p in old.providers} if old is not None else {}
    after = {p.name: p for p in new.providers} if new is not None else {}
    for name, a, b in paired(before, after):
        if a is None and b is not None:
            message = f"telemetry provider `{name}` added: {_where(b)}"
        elif b is None and a is not None:
            message = f"telemetry provider `{name}` removed (was {_where(a)})"
        elif a is not None and b is not None and a != b:
            was, now = _where(a), _where(b)
            if was == now:  # another setting (a tag length, a log name)
                was, now = opt(_backend(a)), opt(_backend(b))
            message = f"telemetry provider `{name}`: {was} → {now}"
        else:
            continue
        ctx.change(
            "telemetry",
            "telemetry-provider",
            name,
            message,
            _backend(a) if a is not None else None,
            _backend(b) if b is not None else None,
        )


def _fields(block: BaseModel | None) -> dict[str, Any]:
    """A section's settings by their YAML names (defaults included: they are what is written)."""
    return block.model_dump(by_alias=True, exclude_none=True) if block is not None else {}


def sections(
    ctx: DiffContext,
    subject: str,
    label: str,
    old: Telemetry | TelemetryOverride | None,
    new: Telemetry | TelemetryOverride | None,
) -> None:
    for attr, wire in SECTIONS:
        a = getattr(old, attr) if old is not None else None
        b = getattr(new, attr) if new is not None else None
        if a == b:
            continue
        if a is None or b is None:
            ctx.change(
                "telemetry",
                f"telemetry-{wire}",
                subject,
                f"{label} {wire}: {opt(_fields(a) or None)} → {opt(_fields(b) or None)}",
                _fields(a) or None,
                _fields(b) or None,
            )
            continue
        before, after = _fields(a), _fields(b)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                ctx.change(
                    "telemetry",
                    f"telemetry-{wire}-{key}",
                    subject,
                    f"{label} {wire}.{key}: {opt(before.get(key))} → {opt(after.get(key))}",
                    before.get(key),
                    after.get(key),
                )
