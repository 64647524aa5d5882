"""A spec sets the mTLS mode or telemetry of Istio's root namespace, which applies to the whole cluster.

Why: a PeerAuthentication or Telemetry without a selector in the root namespace (`istio-system`
unless `controlPlane.rootNamespace` says otherwise) is mesh-wide: it applies to every namespace,
including other teams'. Declaring the root namespace with `mtls: DISABLE` next to
`security.mtls: STRICT` used to compile to two PeerAuthentications `istio-system/default`; the
last one applied silently turned mTLS off for the whole cluster. meshc writes mesh-wide settings
only for a spec that says `meshWide: true`, and then from `security.mtls` and `telemetry` alone.

Example:
    security: { mtls: STRICT }
    namespaces:
      - { name: istio-system, mtls: DISABLE }   # every namespace of the cluster, not one

Fix: drop the root namespace's `mtls` and set `security.mtls`; to own the cluster-wide defaults
(one spec per cluster, the platform team's), set `meshWide: true`. Without `meshWide`, keep
services and namespace settings out of the root namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC151"
NAME = "root-namespace-settings"
SEVERITY = "error"

_OPT_IN = "to change the whole cluster, set `meshWide: true` (one spec per cluster)"


def check(ctx: RuleContext) -> Iterator[Finding]:
    spec = ctx.mesh.spec
    root = spec.control_plane.root_namespace
    for i, ns in enumerate(spec.namespaces):
        if ns.name != root:
            continue
        if ns.mtls is not None:
            yield Finding(
                ("spec", "namespaces", i, "mtls"),
                f"namespace '{root}' is Istio's root namespace: its mTLS mode {ns.mtls} would apply to "
                "every namespace of the cluster",
                "remove it and set `security.mtls`" + ("" if spec.mesh_wide else f"; {_OPT_IN}"),
            )
        elif not spec.mesh_wide:
            yield Finding(
                ("spec", "namespaces", i, "name"),
                f"namespace '{root}' is Istio's root namespace: the spec's mTLS mode"
                f"{' and telemetry' if spec.telemetry else ''} written there would apply to every namespace",
                f"remove it from `namespaces`; {_OPT_IN}",
            )
    if spec.mesh_wide:
        return
    for info in sorted(ctx.index.services.values(), key=lambda s: s.index):
        if info.namespace == root:
            own = info.model.namespace is not None
            yield Finding(
                (*info.path, "namespace") if own else ("spec", "defaults", "namespace"),
                f"service '{info.name}' runs in Istio's root namespace '{root}': the spec's namespace-wide "
                "mTLS mode written there would apply to every namespace",
                f"run it in another namespace; {_OPT_IN}",
            )
