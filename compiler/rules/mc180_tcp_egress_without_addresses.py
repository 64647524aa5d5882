"""An egress `tcp` port without `addresses`: the sidecar cannot tell its hosts from any other.

Why: TCP carries no host name (no SNI, no Host header), so a ServiceEntry TCP port is matched by
the destination address alone. Without `addresses` Istio matches the port on every address
(Istio's analyzer reports IST0134): every connection to that port, to whatever IP, takes the first
host's route, the other hosts are never reached, and through an egress gateway the sidecar skips
the gateway (and its ALLOW policy) altogether. An error through a gateway or with several hosts; a
warning for one host called directly (where it works only as long as nothing else uses the port).
Address ranges (`10.1.0.0/16`) are an error with DNS resolution (Istio accepts CIDR addresses only
with `resolution: NONE`, which meshc picks for them by default) and through an egress gateway,
which must resolve the host by DNS: list its single IP addresses there.

Example:
    egress:
      - name: bank
        hosts: [db.bank.example.com]
        ports: [{ port: 5432, protocol: tcp }]     # no addresses
        gateway: {}

Fix: list the hosts' IP addresses or CIDR ranges in `addresses`, or use `protocol: tls` when the
client speaks TLS (the SNI then names the host).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lower.egress import resolution
from .base import Finding, RuleContext

CODE = "MC180"
NAME = "tcp-egress-without-addresses"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        for k, address in enumerate(egress.addresses):
            if "/" not in address:
                continue
            if egress.gateway is not None:
                yield Finding(
                    ("spec", "egress", i, "addresses", k),
                    f"address range {address!r} of egress '{egress.name}': through an egress gateway "
                    "the host is resolved by DNS, and Istio accepts ranges only with `resolution: NONE`",
                    "list the hosts' single IP addresses",
                )
            elif resolution(egress) == "DNS":
                yield Finding(
                    ("spec", "egress", i, "addresses", k),
                    f"address range {address!r} of egress '{egress.name}' with `resolution: DNS`: "
                    "Istio accepts ranges only with `resolution: NONE`",
                    "drop `resolution: DNS` (meshc then picks NONE), or list single IP addresses",
                )
        if egress.addresses:
            continue
        for j, port in enumerate(egress.ports):
            if port.protocol != "tcp":
                continue
            serious = egress.gateway is not None or len(egress.hosts) > 1
            why = (
                "the sidecar sends the port's connections past the egress gateway"
                if egress.gateway is not None
                else "every connection to the port goes to one of the hosts, whatever its address"
            )
            yield Finding(
                ("spec", "egress", i, "ports", j),
                f"egress '{egress.name}' port {port.port} speaks TCP but has no `addresses`: TCP "
                f"carries no host name, so {why}",
                "list the hosts' IP addresses or CIDR ranges in `addresses` (or use `protocol: tls` "
                "if the client speaks TLS)",
                severity=None if serious else "warning",
            )
