"""A probe on a port the service does not declare.

Why: a probe names a port of the service (as callers do), and meshc sends it to that port's
container port. A number that is no port of the service is most often the container port of one
(`targetPort`) or a stale port: the probe would go to a port nothing listens on, and the kubelet
would keep the pod unready (readiness), restart it forever (liveness) or never start it (startup).

Example:
    services:
      - name: api
        ports: [{ port: 80, protocol: http, targetPort: 8080 }]
        versions: [{ name: v1, image: api:1 }]
        workload:
          probes:
            readiness: { port: 8080, path: /ready }   # the container port: say 80

Fix: name one of the service's ports, or declare the port under `ports`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused

CODE = "MC212"
NAME = "probe-port-undeclared"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in focused(ctx):
        workload = info.model.workload
        if workload is None or workload.probes is None:
            continue
        for kind in ("liveness", "readiness", "startup"):
            probe = getattr(workload.probes, kind)
            if probe is None or info.port(probe.port) is not None:
                continue
            declared = ", ".join(str(p.number) for p in info.ports) or "none"
            behind = next((p for p in info.ports if p.target == probe.port), None)
            hint = (
                f"say `port: {behind.number}`: probes name the service port, whose container port is "
                f"{probe.port}"
                if behind is not None
                else f"name one of the service's ports ({declared}), or declare {probe.port} under `ports`"
            )
            yield Finding(
                (*info.path, "workload", "probes", kind, "port"),
                f"the {kind} probe of service '{info.key}' uses port {probe.port}, which the service "
                f"does not declare (its ports: {declared})",
                hint,
            )
