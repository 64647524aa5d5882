"""A container environment variable name is empty or holds characters Kubernetes refuses.

Why: `versions[].env` becomes the `env` of the version's Deployment. The API server refuses a
variable name that is empty, contains '=' or anything but printable ASCII (Kubernetes 1.32's
rule), so `kubectl apply` of the Deployment fails and the version never rolls out.

Example:
    versions:
      - name: v1
        image: shop/cart:1.4
        env: { "DB URL=": postgres://db }

Fix: use a plain name such as `DB_URL` (letters, digits and '_' work everywhere).
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Finding, RuleContext
from .walk import focused_entries

CODE = "MC146"
NAME = "invalid-env-name"
SEVERITY = "error"
SCOPE = "namespace"


def _problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if "=" in name:
        return "contains '='"
    if not all(" " <= c <= "~" for c in name):
        return "contains characters other than printable ASCII"
    return None


def check(ctx: RuleContext) -> Iterator[Finding]:
    for i, svc in focused_entries(ctx):
        for j, version in enumerate(svc.versions):
            for name in sorted(version.env):
                problem = _problem(name)
                if problem is not None:
                    shown = repr(name if len(name) <= 80 else name[:80] + "…")
                    yield Finding(
                        ("spec", "services", i, "versions", j, "env", name),
                        f"environment variable name {shown} of version '{version.name}' of service "
                        f"'{svc.name}' {problem}",
                        "use letters, digits and '_', e.g. DB_URL",
                    )
