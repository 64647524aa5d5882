"""A namespace mixes manual and automatic sidecar injection.

Why: it works (meshc keeps the webhook away from the manually injected pods and lets the others
select it by pod label, since the namespace then carries no injection label), but the namespace
runs two proxy versions with two upgrade paths: an Istio upgrade changes the webhook's pods on
their next restart while the manual ones stay pinned to `sidecarInjector.tag`. On-call sees two
behaviours in one namespace, and a pod that meshc does not write gets no sidecar at all there.

Example:
    namespaces:
      - name: pay
        injection: { mode: manual }
    services:
      - name: ledger
        namespace: pay
        versions: [{ name: v1, image: ledger:1 }]
        injection: { mode: auto }

Fix: put the namespace in one mode (move the odd workload to a namespace of its mode, or drop
its own `mode`).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC163"
NAME = "mixed-injection-modes"
SEVERITY = "warning"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for info in focused(ctx):
        own = info.model.injection
        if own is None or own.mode is None or not index.owns_workload(info):
            continue
        namespace_mode = index.namespace_mode(info.namespace)
        if own.mode != namespace_mode and index.injection_enabled(info):
            yield Finding(
                (*info.path, "injection", "mode"),
                f"service '{info.key}' uses {own.mode} injection in namespace '{info.namespace}', "
                f"which is in {namespace_mode} mode",
                "keep one injection mode per namespace: move the service or drop its own `mode`",
            )
