"""Telemetry: tracing, access logging and metrics, mesh-wide with per-service overrides."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import SpecModel


class Tracing(SpecModel):
    provider: str = "zipkin"
    """An extension provider name configured in the mesh config (zipkin, otel, ...)."""
    sampling: Annotated[float, Field(ge=0, le=100)] = 1.0
    """Percentage of requests traced."""
    disabled: bool = False


class AccessLogging(SpecModel):
    provider: str = "envoy"
    filter: str | None = None
    """CEL expression choosing which requests are logged, e.g. `response.code >= 400`."""
    disabled: bool = False


MetricName = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class MetricOverride(SpecModel):
    metric: MetricName = "ALL_METRICS"
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] = "CLIENT_AND_SERVER"
    disabled: bool = False
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags to add or change, as CEL expressions (`request.host`)."""
    remove_tags: list[str] = Field(default_factory=list)


class Metrics(SpecModel):
    provider: str = "prometheus"
    overrides: list[MetricOverride] = Field(default_factory=list)


class Telemetry(SpecModel):
    """Mesh-wide telemetry, emitted as one Telemetry in the root namespace."""

    tracing: Tracing | None = None
    access_logging: AccessLogging | None = None
    metrics: Metrics | None = None


class TelemetryOverride(Telemetry):
    """Per-service telemetry, emitted as a Telemetry selecting the service's pods."""
