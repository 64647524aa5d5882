"""Who may call a service beyond its declared callers, and the JWTs a service requires itself.

Each source is a deliberate widening of the declared graph (`meshc diff` shows it as a risk); a
service's `jwt` makes every HTTP request to it carry a valid token, whoever sends it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import ClaimName, ClaimValues, Name, SpecModel
from .gateway import Jwt


class AllowSource(SpecModel):
    """Exactly one of `mesh`, `namespaces` or `plaintext` (MC190); `ipBlocks` narrows any of them."""

    mesh: bool = False
    """Any workload with an identity of this mesh's trust domain (it must call over mTLS): Istio
    `principals: ["<trustDomain>/*"]`."""
    namespaces: list[Name] = Field(default_factory=list)
    """Workloads with a mesh identity in these namespaces (over mTLS: the namespace comes from the
    peer certificate)."""
    plaintext: bool = False
    """Clients without a sidecar, during an mTLS migration (the service's port must not be STRICT,
    MC192). They carry no identity: only their address (`ipBlocks`), the port, method and path can
    limit them. Workloads with a mesh identity are not admitted by this source
    (`notPrincipals: ["*"]`): a meshed caller must be a declared caller."""
    ip_blocks: list[str] | None = None
    """Only from these addresses (CIDR or single IP, MC191): the connection's peer address as the
    service's proxy sees it (Istio `ipBlocks`, `source.ip`), which for requests through a gateway
    is the gateway pod's, never the outside client's (use the route's `remoteIpBlocks` there)."""


class AllowRule(SpecModel):
    """An authorization source beyond the declared callers, with what it may do."""

    source: AllowSource
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    """Service ports it may use; all when empty."""
    methods: list[str] = Field(default_factory=list)
    """HTTP methods allowed; any when empty (HTTP ports only)."""
    paths: list[str] = Field(default_factory=list)
    """HTTP paths allowed (AuthorizationPolicy syntax); any when empty (HTTP ports only)."""
    claims: dict[ClaimName, ClaimValues] = Field(default_factory=dict)
    """Conditions on the claims of the request's validated JWT (`when: request.auth.claims[...]`);
    the service must validate tokens itself (`security.jwt`, MC193). HTTP ports only."""


class ServiceJwt(SpecModel):
    """JWT validation at the service's own sidecar (a RequestAuthentication for the workload)."""

    issuers: Annotated[list[Jwt], Field(min_length=1)]
    """The issuers whose tokens the service accepts; a token of any other issuer is refused (401)."""
    required: bool = True
    """Every HTTP request must carry a valid token of one of `issuers` (a RequestAuthentication alone
    lets requests without a token through; meshc adds a DENY policy for them). False: tokens are
    validated when present, and `claims` conditions still need one."""
    require_claims: dict[ClaimName, ClaimValues] = Field(default_factory=dict)
    """Every HTTP request's token must carry these claims with one of the listed values (denied
    otherwise, also when the token or claim is missing)."""
