"""A gateway selects its own pods but keeps the default ingress gateway's identity.

Why: meshc authorizes a gateway's traffic by the principal of its pods (`workload.account` in
`workload.namespace`) and puts its JWT policies in that namespace; the Gateway resource picks the
pods by `selector`. The two are set independently: a gateway with its own `selector` (a dedicated
gateway deployment) but no `workload.account` still names Istio's default ingress gateway identity, so
every backend's ALLOW policy names a principal the selected pods do not have and every request
through the gateway is denied (403), and its RequestAuthentication lands in the wrong namespace.
An egress gateway with its own `selector` but the default `service` sends the callers to the
default egress gateway's Service, whose pods that Gateway does not configure.

Example:
    gateways:
      - name: partners
        selector: { istio: partner-gateway }       # its own pods...
        servers: [{ port: 443, protocol: https, tls: { credentialName: partners-cert } }]
        routes: [{ to: { service: api } }]          # ...but ALLOW names istio-ingressgateway's SA

Fix: state the identity of the pods the selector picks:
`workload: { namespace: <their namespace>, account: <their service account> }` (for an egress
gateway: its `service` and `namespace`).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import EgressGateway, Gateway

from .base import Finding, RuleContext

CODE = "MC130"
NAME = "gateway-identity-unstated"
SEVERITY = "error"
SCOPE = "mesh"

DEFAULT_INGRESS_SELECTOR = Gateway.model_fields["selector"].get_default(call_default_factory=True)
DEFAULT_EGRESS_SELECTOR = EgressGateway.model_fields["selector"].get_default(call_default_factory=True)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        stated = "workload" in gw.model_fields_set and "account" in gw.workload.model_fields_set
        if gw.selector == DEFAULT_INGRESS_SELECTOR or stated:
            continue  # a `workload` with its namespace only still names the default account
        if not gw.routes and gw.jwt is None:
            continue  # the identity is not used
        selector = ", ".join(f"{k}: {v}" for k, v in sorted(gw.selector.items()))
        yield Finding(
            ("spec", "gateways", gi, "selector"),
            f"gateway '{gw.name}' selects its own pods ({selector}) but states no `workload.account`, so "
            f"authorization admits the default identity {gw.workload.namespace}/{gw.workload.account} "
            "instead of theirs and every request through it is denied",
            "add `workload: { namespace: ..., account: ... }` with the namespace and service account "
            "of the pods the selector picks",
        )
    for ei, egress in enumerate(ctx.mesh.spec.egress):
        egw = egress.gateway
        if egw is None or egw.selector == DEFAULT_EGRESS_SELECTOR or "service" in egw.model_fields_set:
            continue
        yield Finding(
            ("spec", "egress", ei, "gateway", "selector"),
            f"egress '{egress.name}' configures the gateway pods selected by {dict(egw.selector)} but sends "
            f"the callers to the default Service '{egw.service}', whose pods that Gateway does not configure",
            "set `service` (and `namespace`) to the Service of the pods the selector picks",
        )
