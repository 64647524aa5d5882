"""Manual injection for a service whose workload meshc does not write.

Why: in manual mode meshc writes the sidecar into the Deployments it owns and keeps the webhook
out of the namespace. A service without an `image` has its workload written elsewhere, so it gets
no sidecar from meshc and none from the webhook: its pods run outside the mesh, and under STRICT
mTLS its callers fail. The same holds for an image-less service in auto mode inside a manual-mode
namespace: the namespace carries no injection label for the webhook to act on.

Example:
    namespaces:
      - name: data
        injection: { mode: manual }
    services:
      - name: orders-db                     # no image: its StatefulSet comes from a chart
        namespace: data
        ports: [{ port: 3306, protocol: mysql }]

Fix: inject that workload's manifests yourself (`meshc inject -f chart.yaml --spec mesh.yaml`),
give a version an `image` so that meshc writes it, or keep its namespace in `auto` mode.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC165"
NAME = "manual-injection-without-workload"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for info in focused(ctx):
        if index.owns_workload(info) or not index.injection_enabled(info):
            continue
        in_manual_namespace = index.namespace_mode(info.namespace) == "manual"
        if not index.manually_injected(info) and not in_manual_namespace:
            continue
        own = info.model.injection
        path = (*info.path, "injection", "mode") if own is not None and own.mode else (*info.path, "name")
        mode = (
            "is in manual injection mode"
            if index.manually_injected(info)
            else "is in a manual-mode namespace"
        )
        yield Finding(
            path,
            f"service '{info.key}' {mode}, but meshc writes no workload for it (no version has an "
            f"image), and namespace '{info.namespace}' is not labelled for the webhook: its pods get no "
            "sidecar",
            f"inject its manifests with `meshc inject --spec`, give a version an image, or use "
            f"`injection: {{ mode: auto }}` for namespace '{info.namespace}'",
        )
