"""Traffic policy of a service: how calls to it are split, matched, retried and protected."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Duration, Name, Percent, SpecModel, StringMatch
from .meta import FieldMeta

# Route and match fields are reviewed inside the route they belong to (compiler/review's routes
# differ), not one by one.
_ROUTE_PART = FieldMeta("traffic", review="custom")
_HTTP_MATCH = FieldMeta("traffic", http_only=True, review="custom")


class Retries(SpecModel):
    attempts: Annotated[int, Field(ge=0, le=100)]
    """How many times a failed request is retried (0 disables retries)."""
    per_try_timeout: Duration | None = None
    """Timeout of each attempt."""
    retry_on: list[str] = Field(default_factory=list)
    """Envoy retry conditions such as `5xx`, `reset`, `connect-failure`, `retriable-4xx`, or gRPC's
    `cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted`, `unavailable`. A gRPC failure
    is an HTTP 200 with a grpc-status, so on a service whose HTTP ports speak gRPC `5xx` is written
    as the five gRPC conditions and `gateway-error` as `unavailable` (a default written for HTTP
    services then works for gRPC ones too)."""


class Delay(SpecModel):
    fixed: Duration
    """How long to delay the request."""
    percent: Percent = 100.0
    """Share of requests delayed."""


class Abort(SpecModel):
    status: Annotated[int, Field(ge=200, le=599)]
    """HTTP status returned instead of calling the service."""
    percent: Percent = 100.0
    """Share of requests aborted."""


class Fault(SpecModel):
    """Fault injection for resilience testing: a delay, an abort, or both."""

    delay: Delay | None = None
    abort: Abort | None = None


class Mirror(SpecModel):
    """Copy live traffic to a version (responses of the mirror are discarded)."""

    version: Name
    percent: Percent = 100.0


class ConnectionPool(SpecModel):
    """Circuit-breaker limits (Istio connectionPool)."""

    max_connections: Annotated[int, Field(ge=1)] | None = None
    connect_timeout: Duration | None = None
    http1_max_pending_requests: Annotated[int, Field(ge=1)] | None = None
    http2_max_requests: Annotated[int, Field(ge=1)] | None = None
    max_requests_per_connection: Annotated[int, Field(ge=1)] | None = None
    max_retries: Annotated[int, Field(ge=0)] | None = None
    idle_timeout: Duration | None = None


class OutlierDetection(SpecModel):
    """Eject hosts that keep failing (Istio outlierDetection)."""

    consecutive_5xx_errors: Annotated[int, Field(ge=0)] | None = Field(
        default=None, alias="consecutive5xxErrors"
    )
    consecutive_gateway_errors: Annotated[int, Field(ge=0)] | None = None
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: Annotated[int, Field(ge=0, le=100)] | None = None


class ConsistentHash(SpecModel):
    """Session affinity: hash on exactly one of these."""

    header: str | None = None
    cookie: str | None = None
    query_parameter: str | None = None
    source_ip: bool | None = None


class LoadBalancer(SpecModel):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"] | None = None
    consistent_hash: ConsistentHash | None = None


class Match(SpecModel):
    """Request attributes that must all match (AND). Paths, headers and query parameters as in Istio."""

    path: Annotated[StringMatch | None, _HTTP_MATCH] = None
    method: Annotated[StringMatch | None, _HTTP_MATCH] = None
    headers: Annotated[dict[str, StringMatch], _HTTP_MATCH] = Field(default_factory=dict)
    query: Annotated[dict[str, StringMatch], _HTTP_MATCH] = Field(default_factory=dict)
    claims: Annotated[dict[str, StringMatch], _HTTP_MATCH] = Field(default_factory=dict)
    """JWT claims (only meaningful behind a gateway that validates JWTs)."""
    port: Annotated[Annotated[int, Field(ge=1, le=65535)] | None, _ROUTE_PART] = None
    """Match on the port the request arrived on (useful for TCP routes)."""


class Route(SpecModel):
    """One ordered routing rule: when `match` holds, send to `to` (a version) or `split`."""

    name: Annotated[str | None, _ROUTE_PART] = None
    match: Annotated[list[Match], _ROUTE_PART] = Field(default_factory=list)
    """Alternatives (OR); empty means every request."""
    to: Annotated[Name | None, _ROUTE_PART] = None
    """The version that receives matching requests. With neither `to` nor `split`, matching
    requests keep the service's default destinations (to give a path its own timeout, say)."""
    split: Annotated[dict[str, Annotated[int, Field(description="Weight")]] | None, _ROUTE_PART] = None
    """Weighted split between versions for matching requests."""
    timeout: Annotated[Duration | None, FieldMeta("traffic", http_only=True, review="custom")] = None
    retries: Annotated[Retries | None, FieldMeta("traffic", http_only=True, review="custom")] = None
    fault: Annotated[Fault | None, FieldMeta("traffic", http_only=True)] = None
    mirror: Annotated[Mirror | None, FieldMeta("traffic", http_only=True)] = None


class Traffic(SpecModel):
    """How callers reach this service. Every field falls back to `spec.defaults.traffic`."""

    split: Annotated[dict[str, int] | None, FieldMeta("traffic", review="custom")] = None
    """Weights per version for requests that no route matches, e.g. `{v1: 90, v2: 10}`; they must sum to
    100 (Istio's own rule). Without it, the only version (or the plain Service) receives everything."""
    routes: Annotated[list[Route], FieldMeta("traffic", review="custom")] = Field(default_factory=list)
    """Ordered routing rules, evaluated before the default split."""
    timeout: Annotated[Duration | None, FieldMeta("resilience", http_only=True, review="custom")] = None
    retries: Annotated[Retries | None, FieldMeta("resilience", http_only=True, review="custom")] = None
    fault: Annotated[Fault | None, FieldMeta("traffic", http_only=True)] = None
    mirror: Annotated[Mirror | None, FieldMeta("traffic", http_only=True)] = None
    connection_pool: Annotated[ConnectionPool | None, FieldMeta("resilience")] = None
    outlier_detection: Annotated[OutlierDetection | None, FieldMeta("resilience")] = None
    load_balancer: Annotated[LoadBalancer | None, FieldMeta("resilience")] = None
