"""The trust domain or cluster domain is not a DNS name.

Why: the trust domain is the first part of every workload identity (`<trustDomain>/ns/<ns>/sa/<sa>`)
that the AuthorizationPolicies name. `*` makes each principal `*/ns/app/sa/web`, which Istio
matches as a suffix: the caller is admitted from any trust domain, including a federated mesh the
operator never meant to trust. An empty trust domain or one holding `/` shifts the path parts, so
the policy names nobody (every declared call is denied) or somebody else. The cluster domain ends
every service host name (`<svc>.<ns>.svc.<clusterDomain>`); a bad one makes every route point nowhere.

Example:
    controlPlane:
      trustDomain: "*"

Fix: write the mesh's real trust domain (`cluster.local` unless istiod was installed with another
`meshConfig.trustDomain`), a lower-case DNS name: letters, digits, '-', '.' and '_'.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Finding, RuleContext

CODE = "MC140"
NAME = "invalid-trust-domain"
SEVERITY = "error"
SCOPE = "mesh"

_DOMAIN = re.compile(r"[a-z0-9]([-a-z0-9_]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9_]*[a-z0-9])?)*")
"""SPIFFE trust domains: lower-case letters, digits, '.', '-' and '_' (no wildcard, no path)."""


def _problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if len(value) > 253:
        return f"is {len(value)} characters long (at most 253)"
    if "*" in value:
        return "holds a wildcard, which would match a caller from any trust domain"
    if "/" in value:
        return "holds '/', which would shift the parts of every workload identity"
    if not _DOMAIN.fullmatch(value):
        return "is not a lower-case DNS name"
    return None


def check(ctx: RuleContext) -> Iterator[Finding]:
    cp = ctx.mesh.spec.control_plane
    for field, value, what in (
        ("trustDomain", cp.trust_domain, "trust domain"),
        ("clusterDomain", cp.cluster_domain, "cluster domain"),
    ):
        problem = _problem(value)
        if problem is not None:
            yield Finding(
                ("spec", "controlPlane", field),
                f"{what} {value!r} {problem}",
                f"write the mesh's {what} as a lower-case DNS name, e.g. 'cluster.local'",
            )
