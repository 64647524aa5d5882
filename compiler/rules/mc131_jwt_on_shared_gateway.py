"""A gateway with `jwt` runs on gateway pods that serve other hosts too.

Why: a RequestAuthentication cannot be limited to hosts or paths: it applies to every request the
selected gateway pods receive. On Istio's shared ingress gateway (the default selector
`istio: ingressgateway`), or on pods another gateway of the spec also uses, every host those pods
serve, including other teams' and this gateway's own routes with `requireJwt: false`, then
rejects requests that carry a token from another issuer (or an expired one) with 401.

Example:
    gateways:
      - name: public                        # default selector: the shared ingress gateway
        jwt: { issuer: "https://auth.example.com", jwksUri: "https://auth.example.com/jwks" }
        servers: [{ port: 443, protocol: https, tls: { credentialName: cert } }]
        routes: [{ to: { service: api } }]

Fix: give the gateway dedicated pods: `selector` with their labels and `workload` with their
namespace and service account (a gateway deployment for the hosts that use this issuer).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Gateway

from .base import Finding, RuleContext

CODE = "MC131"
NAME = "jwt-on-shared-gateway"
SEVERITY = "warning"
SCOPE = "mesh"

DEFAULT_INGRESS_SELECTOR = Gateway.model_fields["selector"].get_default(call_default_factory=True)


def _pods(gw: Gateway) -> tuple[str, tuple[tuple[str, str], ...]]:
    return gw.workload.namespace, tuple(sorted(gw.selector.items()))


def check(ctx: RuleContext) -> Iterator[Finding]:
    gateways = list(enumerate(ctx.mesh.spec.gateways))
    for gi, gw in gateways:
        if gw.jwt is None:
            continue
        path: tuple[str | int, ...] = ("spec", "gateways", gi, "jwt")
        if gw.selector == DEFAULT_INGRESS_SELECTOR:
            why = "Istio's shared ingress gateway (selector istio: ingressgateway)"
        else:
            others = sorted(
                f"'{other.name}'"
                for oi, other in gateways
                if oi != gi
                and _pods(other) == _pods(gw)
                and (other.jwt is None or other.jwt.issuer != gw.jwt.issuer)
            )
            if not others:
                continue
            why = f"pods that gateway {', '.join(others)} also uses"
        yield Finding(
            path,
            f"gateway '{gw.name}' validates JWTs on {why}: its RequestAuthentication applies to every "
            "host those pods serve, so requests there with a token from another issuer get 401",
            "give the gateway dedicated pods: a `selector` of their own and `workload` with their "
            "namespace and service account",
        )
