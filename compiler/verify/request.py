"""A request as the model sees it, and what happened to it: the decision and the resources that
made it, step by step (the chain `meshc verify` and `meshc can-i` print)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .world import Workload


@dataclass(frozen=True, slots=True)
class Token:
    """A JWT the client presents: who issued it and the claims it carries (signature assumed valid
    for its issuer's keys)."""

    issuer: str
    subject: str = "probe-user"
    claims: tuple[tuple[str, str], ...] = ()
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    host: str
    """The destination: a service FQDN or an external host (the SNI for TLS)."""
    port: int
    protocol: str = "http"
    """`http` (HTTP/gRPC), `tcp` (opaque bytes) or `tls` (TLS the application originates)."""
    method: str | None = None
    path: str | None = None
    authority: str | None = None
    """The Host header as sent; the destination host when None."""
    headers: tuple[tuple[str, str], ...] = ()
    token: Token | None = None
    sni: str | None = None
    """The TLS server name the client sends (`tls`); the destination host when None."""
    source_ip: str | None = None
    """The sender's address as the receiving proxy sees the connection's peer (None: an address no
    `ipBlocks` of the output names, such as a gateway pod's)."""

    def toward(
        self, host: str, port: int, path: str | None, authority: str | None, sni: str | None
    ) -> Request:
        """The same request sent on to another destination (dataclasses.replace, without its cost)."""
        return Request(
            host,
            port,
            self.protocol,
            self.method,
            path,
            authority,
            self.headers,
            self.token,
            sni,
            self.source_ip,
        )

    @property
    def server_name(self) -> str:
        return self.sni if self.sni is not None else self.host

    @property
    def http(self) -> bool:
        return self.protocol == "http"

    @property
    def host_header(self) -> str:
        return self.authority if self.authority is not None else self.host


@dataclass(frozen=True, slots=True)
class Step:
    resource: str
    """`Kind/namespace/name`, or a pseudo-resource: `mesh-default`, `world`."""
    says: str
    ref: str
    """A key of refs.REFS: the documented behaviour this step follows."""


@dataclass(frozen=True, slots=True)
class Landing:
    """One branch of a request: where it ends (a workload or an external host) and with what weight."""

    weight: float
    target: str
    """`service/version` (a workload's name), `external:<host>`, or `-` when nothing received it."""
    allowed: bool
    reason: str
    chain: tuple[Step, ...]
    path: str | None = None
    """The path the backend received (after rewrites)."""
    service: str | None = None
    """The destination host that received it (FQDN or external host)."""

    def scaled(self, factor: float) -> Landing:
        return Landing(
            self.weight * factor, self.target, self.allowed, self.reason, self.chain, self.path, self.service
        )


@dataclass
class Outcome:
    landings: list[Landing] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """Every branch reached its backend."""
        return bool(self.landings) and all(x.allowed for x in self.landings)

    @property
    def denied(self) -> bool:
        return all(not x.allowed for x in self.landings)

    @property
    def decision(self) -> str:
        return "allow" if self.allowed else "deny" if self.denied else "partial"

    def weights(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for x in self.landings:
            if x.allowed:
                out[x.target] = out.get(x.target, 0.0) + x.weight
        return out


def denied(reason: str, chain: list[Step], weight: float = 1.0) -> Landing:
    return Landing(weight, "-", False, reason, tuple(chain))


@dataclass(frozen=True, slots=True)
class Source:
    """Who sends: a workload (with or without its sidecar in the path), or an outside client."""

    workload: Workload | None
    """None: a client outside the mesh (it reaches gateways only)."""
    plaintext: bool = False
    """The workload has no sidecar, or bypasses it: plaintext, no identity, no outbound config."""
