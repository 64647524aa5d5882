"""Sidecar injection and proxy settings, carried to pods as Istio labels and annotations."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import SpecModel


class Injection(SpecModel):
    """Sidecar injection: on or off, or a control-plane revision (`istio.io/rev`)."""

    enabled: bool = True
    revision: str | None = None
    """Control-plane revision or tag (for canary upgrades of Istio itself)."""


class Proxy(SpecModel):
    cpu: str | None = None
    """CPU request of the sidecar (`sidecar.istio.io/proxyCPU`), e.g. `100m`."""
    memory: str | None = None
    """Memory request of the sidecar (`sidecar.istio.io/proxyMemory`), e.g. `128Mi`."""
    cpu_limit: str | None = None
    memory_limit: str | None = None
    hold_application_until_proxy_starts: bool | None = None
    """Start the app container only once the proxy is ready (avoids early connection failures)."""
    exclude_inbound_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    exclude_outbound_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    exclude_outbound_ip_ranges: list[str] = Field(default_factory=list)
