"""Traffic policy of a service: how calls to it are split, matched, retried and protected."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from ..safetext import MASK, sensitive_header
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


class HeaderOperations(SpecModel):
    """Changes to the headers of a request or a response, applied in Envoy (Istio HeaderOperations)."""

    set: dict[str, str] = Field(default_factory=dict)
    """Overwrite these headers (added when absent)."""
    add: dict[str, str] = Field(default_factory=dict)
    """Append these values (a header already present keeps its value and gains this one)."""
    remove: list[str] = Field(default_factory=list)
    """Remove these headers."""

    @model_serializer(mode="wrap", when_used="json")
    def _mask_credentials(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # JSON is how the review shows a value (compiler/review `canonical`); lowering reads the
        # attributes. A value set on `authorization`, `cookie`, `x-api-key`, ... is a credential
        # and must not reach a CI log or a pull-request comment: the review says it changed, not to what.
        out: dict[str, Any] = handler(self)
        for op in ("set", "add"):
            if isinstance(out.get(op), dict):
                out[op] = {k: MASK if sensitive_header(k) else v for k, v in out[op].items()}
        return out


class Headers(SpecModel):
    """Header manipulation (Istio `headers`): on the request sent to the service, and on its response."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class Cors(SpecModel):
    """Browser cross-origin policy (Istio `corsPolicy`), answered by the proxy: preflight requests
    from an allowed origin get the CORS headers, others are passed on unanswered."""

    allow_origins: list[StringMatch] = Field(default_factory=list)
    """Origins allowed to call (`exact`, `prefix` or `regex`); empty: no origin is."""
    allow_methods: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=list)
    """Request headers the browser may send."""
    expose_headers: list[str] = Field(default_factory=list)
    """Response headers the browser's script may read."""
    max_age: Duration | None = None
    """How long the browser may cache the preflight answer."""
    allow_credentials: bool | None = None
    """Let the browser send cookies and `Authorization` with the cross-origin request."""


class Redirect(SpecModel):
    """Answer with an HTTP redirect instead of calling the service (Istio `redirect`); parts left
    out keep the request's own."""

    uri: str | None = None
    """The new path (the whole path; not a prefix replacement)."""
    authority: str | None = None
    """The new host."""
    scheme: str | None = None
    """`http` or `https`."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    redirect_code: int | None = None
    """301 (the default), 302, 303, 307 or 308."""


class DirectResponse(SpecModel):
    """Answer with a fixed response instead of calling the service (Istio `directResponse`)."""

    status: Annotated[int, Field(ge=200, le=599)]
    body: str | None = None
    """The response body (text)."""


class Rewrite(SpecModel):
    uri: str | None = None
    """Replace the matched path prefix (or exact path) with this."""
    authority: str | None = None
    """Replace the Host/Authority header."""


ExportTarget = Annotated[
    str,
    Field(
        pattern=r"^(\.|\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$",
        description="`.` (the service's own namespace), `*` (every namespace) or a namespace name.",
    ),
]


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
    headers: Annotated[Headers | None, FieldMeta("traffic", http_only=True)] = None
    """Header changes for matching requests and their responses (replaces the service's `headers`)."""
    cors: Annotated[Cors | None, FieldMeta("traffic", http_only=True)] = None
    """CORS policy for matching requests (replaces the service's `cors`)."""
    rewrite: Annotated[Rewrite | None, FieldMeta("traffic", http_only=True)] = None
    """Rewrite the path or the Host of matching requests before they reach the service."""
    redirect: Annotated[Redirect | None, FieldMeta("traffic", http_only=True)] = None
    """Answer matching requests with a redirect; the service is not called (no `to`, `split`,
    `timeout`, `retries`, `fault`, `mirror` or `rewrite` with it: MC231)."""
    direct_response: Annotated[DirectResponse | None, FieldMeta("traffic", http_only=True)] = None
    """Answer matching requests with a fixed response; the service is not called (MC231 as for
    `redirect`)."""


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
    headers: Annotated[Headers | None, FieldMeta("traffic", http_only=True)] = None
    """Header changes on every request to the service and every response (a route's own replace them)."""
    cors: Annotated[Cors | None, FieldMeta("traffic", http_only=True)] = None
    """CORS policy for browser calls to the service (a route's own replaces it)."""
    export_to: Annotated[Literal["callers"] | list[ExportTarget] | None, FieldMeta("traffic")] = None
    """Namespaces whose proxies see the service's VirtualService and DestinationRule (Istio
    `exportTo`): `callers` for the service's own namespace, its declared callers' and those of the
    gateways that route to it; or a list (`.`, `*`, namespace names). Without it, Istio's mesh
    default applies (every namespace). A caller that does not see them ignores the service's
    routing (split, routes, timeouts); a gateway that does not see the subsets fails with 503."""
