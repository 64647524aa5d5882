"""A workload's own injection choice that its namespace's injection label overrides.

Why: Istio's injection webhooks select pods by namespace label first. In a namespace labelled
`istio-injection: enabled` the default control plane injects every pod that does not opt out, and
a pod's `istio.io/rev` label is ignored; in a namespace labelled `istio.io/rev: X` revision X
injects it; in a namespace labelled `istio-injection: disabled` no webhook injects anything, even
a pod labelled `sidecar.istio.io/inject: "true"`. No pod label changes that, so the workload
silently runs with another control plane's proxy, or without a proxy at all.

Example:
    defaults: { injection: { enabled: true } }     # istio-injection: enabled
    services:
      - name: pay
        versions: [{ name: v1, image: pay:1 }]
        injection: { revision: canary }            # ignored: the default revision injects

Fix: set the revision on the namespace (`namespaces[].injection.revision`), move the workload to a
namespace with that revision, or use `mode: manual` for it (meshc then writes its sidecar from
the revision itself).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC162"
NAME = "workload-injection-overridden"
SEVERITY = "error"
SCOPE = "namespace"

HINT = (
    "set the injection on the namespace instead, move the workload to a namespace that has it, "
    "or give the workload `injection: { mode: manual }`"
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    for info in focused(ctx):
        own = info.model.injection
        if own is None or not index.owns_workload(info) or index.injection_mode(info) == "manual":
            continue
        if index.namespace_mode(info.namespace) == "manual":
            continue  # the namespace carries no injection label; pod labels decide
        namespace = index.namespace_injection(info.namespace)
        if not namespace.enabled:
            if own.enabled and ("enabled" in own.model_fields_set or own.revision):
                yield Finding(
                    (*info.path, "injection"),
                    f"service '{info.key}' asks for a sidecar, but namespace '{info.namespace}' is "
                    "labelled `istio-injection: disabled`, where no webhook injects any pod",
                    HINT,
                )
            continue
        if not own.enabled or not own.revision:
            continue
        if namespace.revision is None and own.revision != "default":
            yield Finding(
                (*info.path, "injection", "revision"),
                f"service '{info.key}' asks for control-plane revision '{own.revision}', but namespace "
                f"'{info.namespace}' is labelled `istio-injection: enabled`, so the default revision "
                "injects its pods and the pod's `istio.io/rev` label is ignored",
                HINT,
            )
        elif namespace.revision is not None and own.revision != namespace.revision:
            yield Finding(
                (*info.path, "injection", "revision"),
                f"service '{info.key}' asks for control-plane revision '{own.revision}', but namespace "
                f"'{info.namespace}' is labelled `istio.io/rev: {namespace.revision}`, which injects its "
                "pods instead",
                HINT,
            )
