"""An injection revision is not a valid label value.

Why: `injection.revision` becomes the `istio.io/rev` label of the namespace or of the pods, which
selects the istiod revision that injects the sidecar. The API server refuses a label value that is
empty, longer than 63 characters or holds anything but letters, digits, '-', '_' and '.', so
`kubectl apply` would fail for the whole namespace; and istiod revision names are themselves labels.

Example:
    namespaces:
      - name: shop
        injection: { revision: canary/1-30 }

Fix: use the revision (or revision tag) name that istiod was installed with, e.g. `1-30-3` or `canary`.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import Injection

from ..k8snames import label_value_error
from .base import Finding, RuleContext
from .walk import Path

CODE = "MC142"
NAME = "invalid-revision"
SEVERITY = "error"


def _injections(ctx: RuleContext) -> Iterator[tuple[Path, Injection | None]]:
    spec = ctx.mesh.spec
    yield ("spec", "defaults", "injection"), spec.defaults.injection
    for i, ns in enumerate(spec.namespaces):
        yield ("spec", "namespaces", i, "injection"), ns.injection
    for i, svc in enumerate(spec.services):
        yield ("spec", "services", i, "injection"), svc.injection


def check(ctx: RuleContext) -> Iterator[Finding]:
    for path, injection in _injections(ctx):
        if injection is None or injection.revision is None:
            continue
        revision = injection.revision
        problem = "is empty" if not revision else label_value_error(revision)
        if problem is not None:
            shown = repr(revision if len(revision) <= 80 else revision[:80] + "…")
            yield Finding(
                (*path, "revision"),
                f"injection revision {shown} is not a valid `istio.io/rev` label value: {problem}",
                "use the istiod revision or tag name, e.g. '1-30-3' or 'canary'",
            )
