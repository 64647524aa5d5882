"""What meshc writes into the Deployments it owns and beside them: the application container's
resources and probes, the pods' security context, a PodDisruptionBudget and an autoscaler.

Every field is optional here: what a service does not say comes from `spec.defaults.workload`,
then from meshc's own defaults (see `meshc.compiler.workloads` and docs/workloads.md), section by
section and field by field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .base import SpecModel
from .workload import Quantity

Seconds = Annotated[int, Field(ge=1, le=3600)]
Replicas = Annotated[int, Field(ge=1, le=100000)]
Utilization = Annotated[
    int, Field(ge=1, le=1000, description="Average utilization, in percent of the request.")
]
IntOrPercent = Annotated[
    int | Annotated[str, Field(pattern=r"^[0-9]{1,3}%$")],
    Field(description='A number of pods (`1`) or a percentage of the replicas (`"25%"`).'),
]


class PodResources(SpecModel):
    """Requests and limits of the application container (the sidecar's are under `proxy`)."""

    cpu: Quantity | None = None
    """CPU request; `100m` unless said."""
    memory: Quantity | None = None
    """Memory request; `128Mi` unless said."""
    cpu_limit: Quantity | None = None
    """CPU limit; none unless said (a CPU limit throttles a pod even on an idle node)."""
    memory_limit: Quantity | None = None
    """Memory limit; the memory request unless said (memory cannot be taken back from a running
    process: a pod above its request is the first the kubelet evicts under pressure)."""


class Probe(SpecModel):
    """One probe of the application container: an HTTP GET when `path` is given, else a gRPC health
    check on a gRPC port and a TCP connect on any other."""

    port: Annotated[int, Field(ge=1, le=65535)]
    """A port of this service (its `port`, as callers use it); the probe goes to its container port."""
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] | None = None
    """HTTP path (`/healthz`), on an HTTP port."""
    initial_delay_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None
    period_seconds: Seconds | None = None
    timeout_seconds: Seconds | None = None
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] | None = None


class Probes(SpecModel):
    liveness: Probe | None = None
    """Restarts the container when it fails: point it at something only a restart can fix. None
    unless said (a liveness probe that fails under load restarts healthy pods)."""
    readiness: Probe | None = None
    """Takes the pod out of the Service while it fails; a TCP connect to the service's first port
    unless said."""
    startup: Probe | None = None
    """Holds liveness and readiness back until it succeeds once (slow starters); none unless said."""


class PodSecurity(SpecModel):
    """The pods' security context. Whatever is said here, meshc keeps what the `restricted` Pod
    Security Standard requires of the application container: seccomp `RuntimeDefault`, no
    privilege escalation, every capability dropped, and (unless `runAsNonRoot: false`) no root."""

    run_as_non_root: bool | None = None
    """The kubelet refuses to start a container whose user is root; `true` unless said. `false`
    only for an image that cannot run otherwise: the pod then fails the `restricted` standard."""
    run_as_user: Annotated[int, Field(ge=0, le=2147483647)] | None = None
    """User ID of the application; the image's `USER` unless said (it must then be numeric for
    `runAsNonRoot` to be checked)."""
    run_as_group: Annotated[int, Field(ge=0, le=2147483647)] | None = None
    fs_group: Annotated[int, Field(ge=0, le=2147483647)] | None = None
    """Group that owns the pod's volumes."""
    read_only_root_filesystem: bool | None = None
    """Mount the container's root filesystem read-only; `false` unless said (many images write to
    their own directories)."""

    @model_validator(mode="after")
    def _root_with_non_root(self) -> PodSecurity:
        if self.run_as_user == 0 and self.run_as_non_root is not False:
            raise ValueError(
                "runAsUser 0 is root, which runAsNonRoot (true unless said) forbids: the kubelet would"
                " refuse to start the container; choose another user or say runAsNonRoot: false"
            )
        return self


class DisruptionBudget(SpecModel):
    """The PodDisruptionBudget of each Deployment: how many pods a voluntary disruption (a node
    drain, a cluster upgrade) may take at once. `maxUnavailable: 1` for a Deployment of two or
    more replicas unless said; none for one replica (it could only block drains or allow all)."""

    enabled: bool | None = None
    """`false`: no PodDisruptionBudget. When given, a budget is written for one replica too."""
    min_available: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DisruptionBudget:
        if self.min_available is not None and self.max_unavailable is not None:
            raise ValueError("give minAvailable or maxUnavailable, not both (Kubernetes takes one)")
        return self


class Autoscaling(SpecModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) per Deployment, on the application container's
    own CPU (and memory) use: the sidecar's requests do not dilute the figure. The Deployment then
    has no `replicas`: the autoscaler owns them (a version with `replicas: 0` stays parked)."""

    enabled: bool | None = None
    """`false`: no autoscaler (to turn `defaults.workload.autoscaling` off for a service)."""
    min_replicas: Replicas | None = None
    """`2` unless said: one pod is no availability."""
    max_replicas: Replicas | None = None
    """`10` unless said."""
    cpu_utilization: Utilization | None = None
    """Target CPU use in percent of the request; `70` unless said (headroom for a spike while new
    pods start)."""
    memory_utilization: Utilization | None = None
    """Target memory use in percent of the request; none unless said."""


class WorkloadDefaults(SpecModel):
    """Defaults for every Deployment meshc writes; a service's own `workload` wins, field by field."""

    resources: PodResources | None = None
    security_context: PodSecurity | None = None
    disruption_budget: DisruptionBudget | None = None
    autoscaling: Autoscaling | None = None


class Workload(WorkloadDefaults):
    """How meshc writes this service's Deployments (versions with an `image`)."""

    probes: Probes | None = None
    """Probes of the application container, on ports of this service."""
