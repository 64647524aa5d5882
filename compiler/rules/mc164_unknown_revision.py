"""An injection revision that no installed control plane serves.

Why: `sidecarInjector.revisions` lists the control-plane revisions and revision tags installed in
the cluster. A namespace labelled with any other `istio.io/rev` matches no webhook, so its pods
start without a sidecar (and, under STRICT mTLS, every call to them fails); a manually injected
workload would point its proxy at an istiod that does not exist.

Example:
    sidecarInjector: { revisions: [default, stable] }
    namespaces:
      - name: pay
        injection: { revision: canary }     # no such revision

Fix: use one of the listed revisions, or add the revision to `sidecarInjector.revisions` once
it is installed.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.source import PathItem

from .base import Finding, RuleContext

CODE = "MC164"
NAME = "unknown-injection-revision"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    spec = ctx.mesh.spec
    installed = spec.sidecar_injector.revisions
    if installed is None:
        return
    known = ", ".join(installed)
    places: list[tuple[tuple[PathItem, ...], str, str]] = []
    if spec.defaults.injection.revision:
        places.append(
            (("spec", "defaults", "injection", "revision"), spec.defaults.injection.revision, "defaults")
        )
    for i, namespace in enumerate(spec.namespaces):
        if namespace.injection is not None and namespace.injection.revision:
            where: tuple[PathItem, ...] = ("spec", "namespaces", i, "injection", "revision")
            places.append((where, namespace.injection.revision, f"namespace '{namespace.name}'"))
    for info in ctx.index.services.values():
        if info.model.injection is not None and info.model.injection.revision:
            places.append(
                (
                    (*info.path, "injection", "revision"),
                    info.model.injection.revision,
                    f"service '{info.key}'",
                )
            )
    for path, revision, who in places:
        if revision not in installed:
            yield Finding(
                path,
                f"{who} asks for control-plane revision '{revision}', which is not installed "
                f"(sidecarInjector.revisions: {known}): its pods would get no sidecar",
                f"use one of: {known}; or add '{revision}' to sidecarInjector.revisions",
            )
