"""Ingress gateways: what is exposed to the outside, on which hosts and ports, and how it is routed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import ClaimName, ClaimValues, Duration, HeaderName, Name, SpecModel
from .meta import FieldMeta
from .traffic import Match, Rewrite


class ServerTls(SpecModel):
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    """SIMPLE: server certificate only; MUTUAL: clients must present certificates too."""
    credential_name: str
    """Kubernetes Secret (in the gateway workload's namespace) holding the certificate."""


class Server(SpecModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["http", "https", "http2", "grpc", "tcp", "tls"] = "http"
    hosts: list[str] = Field(default_factory=list)
    """Hosts served on this port; defaults to the gateway's `hosts`."""
    tls: ServerTls | None = None
    https_redirect: bool = False
    """On a plain HTTP server: answer every request with a redirect to HTTPS."""
    name: str | None = None


class RouteTarget(SpecModel):
    service: str
    """The service that receives the traffic: `name`, or `namespace/name` when several namespaces
    hold that name (MC240)."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Service port; required when the service has several ports."""
    methods: list[str] = Field(default_factory=list)
    """HTTP methods the gateway may send the service on this route's behalf; any when empty."""
    paths: list[str] = Field(default_factory=list)
    """HTTP paths the service admits from the gateway, as the service receives them (after
    `rewrite`; AuthorizationPolicy syntax); any when empty."""


class GatewayRoute(SpecModel):
    """An ordered rule: requests that match are sent to `to`."""

    name: str | None = None
    match: list[Match] = Field(default_factory=list)
    """Alternatives (OR); empty means every request on this gateway."""
    to: RouteTarget
    rewrite: Rewrite | None = None
    timeout: Duration | None = None
    """Timeout of this route's requests, over the service's own."""
    policy: Annotated[Literal["service", "none"], FieldMeta("public", review="custom")] = "service"
    """Which traffic policy the route's requests get. `service`: the service's own, as a caller in
    the mesh gets it: its routes (header matches, canaries; each ANDed with this route's match and
    seen after its `rewrite`), split, timeout, retries, fault injection and mirror. `none`: only the
    service's split and this route's `timeout`."""
    require_jwt: bool | None = None
    """Require a valid JWT for this route; defaults to true when the gateway has `jwt`."""
    require_claims: dict[ClaimName, ClaimValues] = Field(default_factory=dict)
    """Access control on JWT claims: requests to this route's hosts and paths whose validated
    token lacks one of these claims with one of the listed values (exact, `prefix*` or `*suffix`)
    are denied at the gateway, whichever route they would take. Claims in `match` only route;
    nested claims are written `a.b`."""
    hosts: list[str] = Field(default_factory=list)
    """Restrict the route to some of the gateway's hosts."""
    remote_ip_blocks: Annotated[list[str] | None, FieldMeta("public", review="custom")] = None
    """Only clients from these addresses (CIDR or single IP, MC191) may use this route's hosts and
    paths: a DENY policy on the gateway pods with `notRemoteIpBlocks`. The client address is
    Envoy's `remote.ip`: the connection's peer unless the gateway trusts proxies in front of it
    (`numTrustedProxies`), then taken from `X-Forwarded-For` (see docs/security.md)."""


class Jwt(SpecModel):
    """Validate JWTs at the gateway (RequestAuthentication) and, per route, require one."""

    issuer: str
    jwks_uri: str
    audiences: list[str] = Field(default_factory=list)
    forward_original_token: bool = False
    from_headers: list[str] = Field(default_factory=list)
    """Headers carrying the token, instead of `Authorization: Bearer`."""
    output_claim_to_headers: dict[HeaderName, ClaimName] = Field(default_factory=dict)
    """Copy claims of the validated token into request headers for the backend (header -> claim;
    Istio `outputClaimToHeaders`). A client-sent header of that name is replaced."""


class GatewayWorkload(SpecModel):
    """Where the gateway's Envoy pods run: their namespace and identity (for authorization)."""

    namespace: Name = "istio-system"
    account: Name = "istio-ingressgateway-service-account"


class Gateway(SpecModel):
    name: Name
    namespace: Name | None = None
    """Namespace of the Gateway resource; defaults to `spec.defaults.namespace`."""
    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "ingressgateway"})
    """Labels of the gateway pods."""
    workload: GatewayWorkload = Field(default_factory=GatewayWorkload)
    hosts: list[str] = Field(default_factory=lambda: ["*"])
    servers: list[Server] = Field(default_factory=list)
    routes: list[GatewayRoute] = Field(default_factory=list)
    jwt: Jwt | None = None
    placement: list[Name] | None = None
    """Clusters whose ingress gateways serve this gateway; every cluster when omitted."""
