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
from .walk import Path, focused_entries

CODE = "MC142"
NAME = "invalid-revision"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' own injection."""
    for i, svc in focused_entries(ctx):
        yield from _check(("spec", "services", i, "injection"), svc.injection)


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """The defaults' and the namespaces' injection."""
    spec = ctx.mesh.spec
    yield from _check(("spec", "defaults", "injection"), spec.defaults.injection)
    for i, ns in enumerate(spec.namespaces):
        yield from _check(("spec", "namespaces", i, "injection"), ns.injection)


def _check(path: Path, injection: Injection | None) -> Iterator[Finding]:
    if injection is None or injection.revision is None:
        return
    revision = injection.revision
    problem = "is empty" if not revision else label_value_error(revision)
    if problem is not None:
        shown = repr(revision if len(revision) <= 80 else revision[:80] + "…")
        yield Finding(
            (*path, "revision"),
            f"injection revision {shown} is not a valid `istio.io/rev` label value: {problem}",
            "use the istiod revision or tag name, e.g. '1-30-3' or 'canary'",
        )
