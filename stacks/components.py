"""The resource tree under a `Mesh` component (see `mesh`): a `ComponentResource` per cluster,
holding that cluster's explicit `kubernetes.Provider` (unless the user passed one of their own) and a
`ComponentResource` per namespace, which holds the namespace's resources.

    meshc:index:Mesh                  mesh
      meshc:deploy:Cluster            east
        pulumi:providers:kubernetes   east        (kubeconfig + context, SSA on)
        meshc:deploy:Namespace        east/travel
          kubernetes:core/v1:Namespace                        east/travel/Namespace/travel
          kubernetes:networking.istio.io/v1:VirtualService    east/travel/VirtualService/reviews
          ...

Every Kubernetes resource names its cluster's provider itself (`opts.provider`), and the namespace
component passes it down as well, so nothing can fall back to the ambient default provider. Core
kinds use pulumi-kubernetes' typed classes, everything else (Istio) `apiextensions.CustomResource`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from meshc.compiler.manifest import Manifest

from .errors import CompilerBugError

CLUSTER_TYPE = "meshc:deploy:Cluster"
NAMESPACE_TYPE = "meshc:deploy:Namespace"


@cache
def typed_classes() -> dict[tuple[str, str], Callable[..., pulumi.CustomResource]]:
    """(apiVersion, kind) -> pulumi-kubernetes class for the core kinds meshc emits (and a few more)."""
    core, apps = k8s.core.v1, k8s.apps.v1
    return {
        ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
        ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
        ("v1", "Namespace"): core.Namespace,
        ("v1", "ServiceAccount"): core.ServiceAccount,
        ("v1", "Service"): core.Service,
        ("v1", "ConfigMap"): core.ConfigMap,
        ("v1", "Secret"): core.Secret,
        ("apps/v1", "Deployment"): apps.Deployment,
        ("apps/v1", "StatefulSet"): apps.StatefulSet,
        ("apps/v1", "DaemonSet"): apps.DaemonSet,
    }


REMOVED_GROUP_VERSIONS = frozenset(
    {
        "apps/v1beta1",
        "apps/v1beta2",
        "extensions/v1beta1",
        "policy/v1beta1",
        "autoscaling/v2beta1",
        "autoscaling/v2beta2",
        "autoscaling/v1",
    }
)
"""API versions meshc never wrote its kinds under: those Kubernetes stopped serving Deployments,
StatefulSets and DaemonSets under in 1.16 (2019), PodDisruptionBudgets under in 1.25 and
HorizontalPodAutoscalers under in 1.25/1.26, long before the oldest Kubernetes that Istio 1.30
supports; and `autoscaling/v1`, still served, but meshc's autoscalers have only ever been
`autoscaling/v2`."""


def drop_removed_api_aliases(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """Drop the aliases pulumi-kubernetes' typed workload classes add for the kind's old API
    versions (`Deployment` -> `kubernetes:apps/v1beta1:Deployment`, `apps/v1beta2`,
    `extensions/v1beta1`).

    Those aliases let a stack that once created the object under such a version adopt it without a
    replacement. A meshc stack never did: the compiler has only ever emitted `apps/v1`, so the
    aliases can match nothing in its state. They are not free, though: the SDK computes a URN for
    every alias of every resource (several outputs and tasks each) and the engine looks each one
    up; dropping them takes about a fifth off registering a typical mesh (`bench/stack_bench.py`).
    Any other alias (a new name, parent or type) is kept.
    """
    aliases = args.opts.aliases or []
    kept = [a for a in aliases if not _old_api_version_alias(a, args.type_)]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)


def _old_api_version_alias(alias: object, type_: str) -> bool:
    """`alias` only renames the type, to the same kind under an API version in REMOVED_GROUP_VERSIONS."""
    if not isinstance(alias, pulumi.Alias) or not isinstance(alias.type_, str):
        return False
    if any(v is not ... for v in (alias.name, alias.parent, alias.stack, alias.project)):
        return False
    package, _, rest = alias.type_.partition(":")
    group_version, _, kind = rest.rpartition(":")
    return (
        package == "kubernetes"
        and group_version in REMOVED_GROUP_VERSIONS
        and type_.startswith("kubernetes:")
        and type_.rpartition(":")[2] == kind
    )


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _arg_name(field: str) -> str:
    """Top-level field -> the typed class's keyword (`automountServiceAccountToken` ->
    `automount_service_account_token`). Nested values are passed as dicts with their Kubernetes
    (camelCase) keys, which the provider takes as they are."""
    return _CAMEL.sub("_", field).lower()


class ClusterDeployment(pulumi.ComponentResource):
    """One cluster of the stack: its provider and its namespaces."""

    def __init__(
        self,
        name: str,
        *,
        context: str | None,
        kubeconfig: str | None,
        provider: k8s.Provider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`provider`: the user's own provider for this cluster; without one, the component builds
        an explicit provider from `context` (required then) and `kubeconfig`."""
        super().__init__(CLUSTER_TYPE, name, None, opts)
        self.cluster_name = name
        if provider is None:
            if not context:
                raise CompilerBugError(f"cluster {name}: neither a provider nor a context", [])
            provider_args: dict[str, Any] = {"context": context, "enable_server_side_apply": True}
            if kubeconfig is not None:
                provider_args["kubeconfig"] = kubeconfig
            provider = k8s.Provider(name, **provider_args, opts=pulumi.ResourceOptions(parent=self))
        self.provider = provider
        self.namespaces: dict[str, NamespaceDeployment] = {}

    def namespace(self, name: str) -> NamespaceDeployment:
        found = self.namespaces.get(name)
        if found is None:
            found = self.namespaces[name] = NamespaceDeployment(self, name)
        return found

    def finish(self) -> None:
        for ns in self.namespaces.values():
            ns.register_outputs({})
        self.register_outputs({})


class NamespaceDeployment(pulumi.ComponentResource):
    """One namespace of one cluster (the Namespace object, when the stack manages it, is inside)."""

    def __init__(self, cluster: ClusterDeployment, namespace: str) -> None:
        super().__init__(
            NAMESPACE_TYPE,
            f"{cluster.cluster_name}/{namespace}",
            None,
            pulumi.ResourceOptions(parent=cluster, providers={"kubernetes": cluster.provider}),
        )
        self.cluster = cluster


def register_manifest(
    m: Manifest,
    name: str,
    namespace: NamespaceDeployment,
    *,
    depends_on: pulumi.Input[list[pulumi.Input[pulumi.Resource]]] | None = None,
    retain_on_delete: bool = False,
) -> pulumi.CustomResource:
    """Register one compiled manifest under `namespace`, through its cluster's provider."""
    opts = pulumi.ResourceOptions(
        parent=namespace,
        provider=namespace.cluster.provider,
        depends_on=depends_on or None,
        retain_on_delete=True if retain_on_delete else None,
    )
    body: Mapping[str, Any] = m.body
    typed = typed_classes().get((m.api_version, m.kind))
    if typed is not None:
        opts.transformations = [drop_removed_api_aliases]
        args = {_arg_name(k): v for k, v in body.items() if k not in ("apiVersion", "kind")}
        return typed(name, opts=opts, **args)
    extra = sorted(set(body) - {"apiVersion", "kind", "metadata", "spec"})
    if extra:  # CustomResource carries metadata and spec only
        raise CompilerBugError(
            f"{m.ref}: cannot register a custom resource with top-level fields {', '.join(extra)}",
            [f"{m.ref}: top-level fields {', '.join(extra)} besides metadata/spec"],
        )
    return k8s.apiextensions.CustomResource(
        name,
        api_version=m.api_version,
        kind=m.kind,
        metadata=body.get("metadata"),
        spec=body.get("spec"),
        opts=opts,
    )
