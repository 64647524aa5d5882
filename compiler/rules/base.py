"""The rule contract: a module with CODE, NAME, SEVERITY, SCOPE, a docstring, and `check(ctx)`.

Codes are append-only: a retired rule keeps its code forever so that suppressions and CI logs
never change meaning.

SCOPE says what a rule's findings depend on, so that an incremental compile can re-run a rule for
the namespaces a change reaches only (docs/rule-scopes.md has the contract and the proofs' shape):

- `"namespace"` (local): `check` yields findings under `("spec", "services", i, ...)` only, and the
  findings of service i depend only on the spec outside `spec.services`, the ordered list of the
  services' identities, and the services of i's namespace and of the namespaces adjacent to it
  (`walk.adjacent_namespaces`). With `ctx.focus` set, `check` yields the findings of the services
  of the focused namespaces only, with work in proportion to them (`walk.focused`). Such a module
  may also define `check_mesh(ctx)`: the part of the rule about everything else (defaults,
  gateways, egress, ...), which always runs over the whole mesh.
- `"mesh"` (global): anything else; `check` ignores `ctx.focus`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from meshc.spec.diagnostics import Severity
from meshc.spec.models import Mesh
from meshc.spec.source import PathItem

from ..index import MeshIndex


@dataclass(frozen=True, slots=True)
class Finding:
    path: tuple[PathItem, ...]
    """Where the problem is in the user's document, with the YAML's camelCase keys."""
    message: str
    hint: str | None = None
    severity: Severity | None = None
    """Overrides the rule's SEVERITY for this finding (e.g. MC113: a bare `*` host is an error)."""


Scope = Literal["namespace", "mesh"]
SCOPES: tuple[Scope, ...] = ("namespace", "mesh")

Check = Callable[["RuleContext"], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class RuleContext:
    mesh: Mesh
    index: MeshIndex
    focus: frozenset[str] | None = None
    """Namespaces whose services the local rules look at (None: the whole mesh). Global rules and
    the `check_mesh` parts ignore it."""

    def unfocused(self) -> RuleContext:
        return self if self.focus is None else RuleContext(self.mesh, self.index)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    doc: str
    scope: Scope
    check_services: Check | None
    """A local rule's `check`: findings of the services in `ctx.focus` (None for a global rule)."""
    check_mesh: Check | None
    """What runs over the whole mesh whatever the focus: a global rule's `check`, a local rule's
    optional `check_mesh`."""

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        """Every finding of the rule: all of them without a focus; with one, the local findings of
        the focused services and all the global ones."""
        if self.check_services is not None:
            yield from self.check_services(ctx)
        if self.check_mesh is not None:
            yield from self.check_mesh(ctx.unfocused())

    @classmethod
    def from_module(cls, module: ModuleType) -> Rule:
        doc = inspect.cleandoc(module.__doc__ or "")
        summary = doc.splitlines()[0] if doc else ""
        if module.SEVERITY not in ("error", "warning"):
            raise ValueError(f"{module.__name__}: SEVERITY must be 'error' or 'warning'")
        scope = getattr(module, "SCOPE", None)
        if scope not in SCOPES:
            raise ValueError(f"{module.__name__}: SCOPE must be 'namespace' or 'mesh'")
        mesh_part = getattr(module, "check_mesh", None)
        if scope == "mesh" and mesh_part is not None:
            raise ValueError(f"{module.__name__}: only a local rule has a separate `check_mesh`")
        if scope == "mesh":
            return cls(module.CODE, module.NAME, module.SEVERITY, summary, doc, scope, None, module.check)
        return cls(module.CODE, module.NAME, module.SEVERITY, summary, doc, scope, module.check, mesh_part)
