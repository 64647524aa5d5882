"""Proxy, injection or workload settings on a service whose workload meshc does not write take effect nowhere.

Why: Istio reads per-workload proxy settings (resources, excluded ports, holding the application)
and injection choices from the pod template's annotations and labels, and the kubelet reads
resources, probes and the security context from it. meshc writes a pod template
only for versions with an `image`; for any other service the workload comes from elsewhere (a
Helm chart, an operator), so these settings appear nowhere in the output. A port meant to bypass
the proxy (a metrics exporter scraped from outside the mesh) then stays behind STRICT mTLS and
default-deny, and the scrape fails.

Example:
    services:
      - name: orders-db                      # no version with an image: not meshc's workload
        ports: [{ port: 3306, protocol: mysql }]
        proxy: { excludeInboundPorts: [9104] }

Fix: put the annotations from the hint on the workload's pod template where it is written, or
give a version an `image` so that meshc writes the Deployment, or remove the settings.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lower.core import proxy_annotations
from .base import Finding, RuleContext
from .walk import focused

CODE = "MC161"
NAME = "proxy-settings-without-workload"
SEVERITY = "warning"
SCOPE = "namespace"


def _yaml(annotations: dict[str, str]) -> str:
    return ", ".join(f'{key}: "{value}"' for key, value in sorted(annotations.items()))


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        if ctx.index.owns_workload(info):
            continue
        proxy = info.model.proxy
        if proxy is not None and proxy.model_fields_set:
            fields = ", ".join(sorted(proxy.model_dump(by_alias=True, exclude_unset=True)))
            yield Finding(
                (*info.path, "proxy"),
                f"service '{info.key}' sets proxy {fields}, but meshc writes no workload for it "
                "(no version has an image), so the setting takes effect nowhere",
                f"annotate its pod template where it is written: {_yaml(proxy_annotations(proxy))}",
            )
        workload = info.model.workload
        if workload is not None and workload.model_fields_set:
            sections = ", ".join(sorted(workload.model_dump(by_alias=True, exclude_unset=True)))
            yield Finding(
                (*info.path, "workload"),
                f"service '{info.key}' sets workload {sections}, but meshc writes no workload for it "
                "(no version has an image), so the setting takes effect nowhere",
                "set them where its Deployment is written, give a version an `image`, or remove them",
            )
        injection = info.model.injection
        if injection is not None and injection.model_fields_set - {"mode"}:
            yield Finding(
                (*info.path, "injection"),
                f"service '{info.key}' sets its sidecar injection, but meshc writes no workload for "
                "it (no version has an image), so only its namespace's label applies",
                "label its pod template where it is written (sidecar.istio.io/inject, istio.io/rev), "
                "or remove the setting",
            )
