"""A spec puts settings or services into Istio's root namespace, where they apply to the whole cluster.

Why: policies in the root namespace (`istio-system` unless `controlPlane.rootNamespace` says
otherwise) are mesh-wide. A PeerAuthentication or Telemetry there without a selector applies to
every namespace, including other teams'; the namespace's allow-nothing AuthorizationPolicy would
deny every request in the cluster; a service's policies there would select matching workloads in
every namespace. Declaring the root namespace with `mtls: DISABLE` next to `security.mtls: STRICT`
used to compile to two PeerAuthentications `istio-system/default`; the last one applied silently
turned mTLS off for the whole cluster. meshc writes mesh-wide settings only for a spec that says
`meshWide: true`, and then from `security.mtls` and `telemetry` alone.

Example:
    security: { mtls: STRICT }
    namespaces:
      - { name: istio-system, mtls: DISABLE }   # every namespace of the cluster, not one

Fix: remove the root namespace from `namespaces` and run no service there. For the mesh-wide mTLS
mode and telemetry, set `meshWide: true` (one spec per cluster, the platform team's) with
`security.mtls` and `telemetry`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC151"
NAME = "root-namespace-settings"
SEVERITY = "error"
SCOPE = "mesh"

_MESH_WIDE = "for the whole cluster, set `meshWide: true` with `security.mtls` (one spec per cluster)"


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
                f"remove the root namespace from `namespaces`; {_MESH_WIDE}",
            )
        else:
            yield Finding(
                ("spec", "namespaces", i, "name"),
                f"namespace '{root}' is Istio's root namespace: the namespace-wide policies meshc writes "
                "(allow-nothing authorization, mTLS, telemetry) would apply to every namespace",
                f"remove it from `namespaces`; {_MESH_WIDE}",
            )
    for info in sorted(ctx.index.services.values(), key=lambda s: s.index):
        if info.namespace == root:
            own = info.model.namespace is not None
            yield Finding(
                (*info.path, "namespace") if own else ("spec", "defaults", "namespace"),
                f"service '{info.key}' runs in Istio's root namespace '{root}': its policies and the "
                "namespace-wide ones meshc writes there would apply to every namespace",
                "run it in another namespace",
            )
