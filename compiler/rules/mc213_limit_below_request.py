"""A resource limit below its request.

Why: the API server rejects a container whose limit is below its request, so the Deployment is
never applied. With defaults the two often come from different places: `defaults.workload`
sets `memoryLimit: 256Mi` and one service raises `memory: 1Gi`. The same holds for the sidecar's
`proxy` resources, which Istio's injector writes into the pod.

Example:
    defaults:
      workload: { resources: { memoryLimit: 256Mi } }
    services:
      - name: search
        versions: [{ name: v1, image: search:1 }]
        workload: { resources: { memory: 1Gi } }

Fix: raise the limit (or leave `memoryLimit` out: it follows the request), or lower the request.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..inject.quantity import amount
from .base import Finding, RuleContext
from .walk import Path, once_per_place

CODE = "MC213"
NAME = "limit-below-request"
SEVERITY = "error"
SCOPE = "mesh"


def check(ctx: RuleContext) -> Iterator[Finding]:
    found: list[tuple[Path, str, str, str]] = []
    index = ctx.index
    defaults_proxy = ctx.mesh.spec.defaults.proxy
    for info in index.with_pod_settings:  # the others: see below
        bare = index.has_bare_workload(info)
        if bare and info.model.proxy is None and defaults_proxy is None:
            continue  # meshc's own resources, and no proxy resources: nothing to compare (see below)
        if not index.owns_workload(info):
            continue
        # meshc's own resources (a service without any `workload` setting) set no CPU limit and the
        # memory limit at the request: nothing to compare, and no plan to resolve
        if not bare:
            res = index.workload(info).resources
            for what, request, limit, key, field in (
                ("CPU", res.cpu, res.cpu_limit, "cpuLimit", "cpu_limit"),
                ("memory", res.memory, res.memory_limit, "memoryLimit", "memory_limit"),
            ):
                if limit is not None and amount(limit) < amount(request):
                    found.append(
                        (
                            res.origins[field],
                            info.name,
                            f"service '{info.key}' has a {what} limit of {limit} below its request of "
                            f"{request}: the API server rejects the Deployment",
                            f"raise `{key}` to at least {request} (for this service alone: in its own "
                            "`workload.resources`), or lower the request",
                        )
                    )
        proxy = info.proxy
        if proxy is None:
            continue
        injector = ctx.mesh.spec.sidecar_injector.resources
        for what, request, limit, key in (
            ("CPU", proxy.cpu or injector.cpu, proxy.cpu_limit or injector.cpu_limit, "cpuLimit"),
            (
                "memory",
                proxy.memory or injector.memory,
                proxy.memory_limit or injector.memory_limit,
                "memoryLimit",
            ),
        ):
            if amount(limit) < amount(request):
                place = info.path if info.model.proxy is not None else ("spec", "defaults")
                found.append(
                    (
                        (*place, "proxy"),
                        info.name,
                        f"the sidecar of service '{info.key}' has a {what} limit of {limit} below its "
                        f"request of {request}: the API server rejects the pod",
                        f"raise the proxy's `{key}` to at least {request}, or lower its request",
                    )
                )
    yield from once_per_place(found)
