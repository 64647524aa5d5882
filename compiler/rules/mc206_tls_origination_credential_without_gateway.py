"""TLS origination from the sidecar with a `credentialName` or `mode: MUTUAL`.

Why: a DestinationRule's `credentialName` is read by the egress gateway from a Secret in its
namespace; a sidecar reads it only when the DestinationRule selects the workload
(`workloadSelector`) and the workload's service account may read the Secret, which meshc does
not arrange. Without the credential, `MUTUAL` has no client certificate and a custom CA is
ignored: the calls fail or are verified against the wrong roots.

Example:
    egress:
      - name: partner
        hosts: [api.partner.example]
        ports: [{ port: 80, protocol: http }]
        tlsOrigination: { mode: MUTUAL, credentialName: partner-client }

Fix: send the entry through the egress gateway (`gateway: {}`) and create the Secret in the
gateway's namespace, or drop `credentialName`/`MUTUAL` (SIMPLE verifies with the system roots).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC206"
NAME = "tls-credential-without-gateway"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, egress in enumerate(ctx.mesh.spec.egress):
        tls = egress.tls_origination
        if tls is None or egress.gateway is not None:
            continue
        if tls.credential_name is not None:
            yield Finding(
                ("spec", "egress", i, "tlsOrigination", "credentialName"),
                f"egress '{egress.name}' originates TLS in the callers' sidecars, which cannot read "
                f"the Secret '{tls.credential_name}'",
                "add `gateway: {}` (the egress gateway reads Secrets of its namespace), "
                "or remove credentialName",
            )
        elif tls.mode == "MUTUAL":
            yield Finding(
                ("spec", "egress", i, "tlsOrigination", "mode"),
                f"egress '{egress.name}' asks for MUTUAL TLS origination without a client certificate",
                "route it through the egress gateway and name the client certificate's Secret in "
                "credentialName",
            )
