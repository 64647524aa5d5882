"""An egress ServiceEntry is placed in the control-plane namespace, which every Sidecar imports.

Why: a proxy sees a ServiceEntry when it is exported to the proxy's namespace and the proxy's
Sidecar imports it. meshc's Sidecars import the control-plane namespace wholesale (`istio-system/*`),
so a ServiceEntry written there and exported to the callers' namespaces reaches every workload of
those namespaces, not only the declared `callers`. By default meshc writes the ServiceEntry into
each caller's namespace, where only the callers' Sidecars import it.

Example:
    egress:
      - name: stripe
        hosts: [api.stripe.com]
        callers: [payments]
        namespace: istio-system       # fraud, beside payments, reaches Stripe too

Fix: drop `namespace` (the default keeps the host to its callers), or name a namespace that no
Sidecar imports wholesale.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC129"
NAME = "egress-in-shared-namespace"
SEVERITY = "warning"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    control_plane = ctx.mesh.spec.control_plane.namespace
    for i, egress in enumerate(ctx.mesh.spec.egress):
        if egress.namespace != control_plane or not egress.callers:
            continue
        namespaces = sorted({c.namespace for c in ctx.index.egress_callers(egress)})
        yield Finding(
            ("spec", "egress", i, "namespace"),
            f"egress '{egress.name}' is placed in '{control_plane}', which every Sidecar imports: every "
            f"workload of namespace(s) {', '.join(namespaces)} reaches {', '.join(egress.hosts)}, "
            "not only its callers",
            "drop `namespace` so that the ServiceEntry goes into each caller's namespace",
        )
