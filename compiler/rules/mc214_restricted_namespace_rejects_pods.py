"""A namespace enforcing the `restricted` Pod Security Standard would reject the pods meshc writes.

Why: with `pod-security.kubernetes.io/enforce: restricted` on the namespace, the API server
refuses every pod that breaks the standard, after injection: the Deployment is applied, its
ReplicaSet never gets a pod, and nothing in the spec's output looks wrong. meshc's own containers
pass (seccomp `RuntimeDefault`, no privilege escalation, every capability dropped, non-root), but
two things fail: Istio's `istio-init` container, which programs iptables as root with `NET_ADMIN`
and `NET_RAW` unless the cluster runs the Istio CNI plugin (`sidecarInjector.cni: true`), and a
workload with `runAsNonRoot: false`. Both the webhook and manual injection write `istio-init`.

Example:
    namespaces:
      - name: pay
        labels: { pod-security.kubernetes.io/enforce: restricted }
    services:
      - name: ledger
        namespace: pay
        versions: [{ name: v1, image: ledger:1 }]     # injected, and the cluster has no CNI

Fix: install Istio with its CNI plugin and say `sidecarInjector: { cni: true }` (its
`istio-validation` container passes), or turn injection off for the workload; `baseline` does not
allow NET_ADMIN either, so without CNI only `enforce: privileged` (with `warn: restricted`) admits
the pods. Drop `runAsNonRoot: false` and run the image as a non-root user.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import Path, once_per_place

CODE = "MC214"
NAME = "restricted-namespace-rejects-pods"
SEVERITY = "error"
SCOPE = "mesh"

ENFORCE = "pod-security.kubernetes.io/enforce"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.index
    injector = ctx.mesh.spec.sidecar_injector
    restricted = {
        ns.name: i
        for i, ns in enumerate(ctx.mesh.spec.namespaces)
        if ns.labels.get(ENFORCE) == "restricted" and index.namespace_settings.get(ns.name) is ns
    }
    found: list[tuple[Path, str, str, str]] = []
    for info in index.services.values():
        where = restricted.get(info.namespace)
        if where is None or not index.owns_workload(info):
            continue
        label: Path = ("spec", "namespaces", where, "labels", ENFORCE)
        if index.injection_enabled(info) and not injector.cni:
            found.append(
                (
                    label,
                    info.name,
                    f"namespace '{info.namespace}' enforces the restricted Pod Security Standard, which "
                    f"rejects the pods of service '{info.key}': their injected istio-init container "
                    "runs as root with NET_ADMIN and NET_RAW",
                    "run Istio with its CNI plugin and say `sidecarInjector: { cni: true }`, or turn "
                    "injection off for the workload, or enforce a lower level",
                )
            )
        elif index.injection_enabled(info) and injector.interception_mode == "TPROXY":
            found.append(
                (
                    ("spec", "sidecarInjector", "interceptionMode"),
                    info.name,
                    f"namespace '{info.namespace}' enforces the restricted Pod Security Standard, which "
                    f"rejects the pods of service '{info.key}': under TPROXY the istio-proxy container "
                    "runs as root with NET_ADMIN",
                    "use REDIRECT interception in that namespace, or enforce a lower level",
                )
            )
        security = index.workload(info).security
        if not security.run_as_non_root:
            found.append(
                (
                    (*security.path, "runAsNonRoot"),
                    info.name,
                    f"namespace '{info.namespace}' enforces the restricted Pod Security Standard, which "
                    f"rejects the pods of service '{info.key}': they may run as root (runAsNonRoot: false)",
                    "run the image as a non-root user (`runAsUser`) and drop `runAsNonRoot: false`",
                )
            )
    yield from once_per_place(found)
