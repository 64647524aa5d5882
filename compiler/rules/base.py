"""The rule contract: a module with CODE, NAME, SEVERITY, a docstring, and `check(ctx)`.

Codes are append-only: a retired rule keeps its code forever so that suppressions and CI logs
never change meaning.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

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


@dataclass(frozen=True, slots=True)
class RuleContext:
    mesh: Mesh
    index: MeshIndex


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    doc: str
    check: Callable[[RuleContext], Iterable[Finding]]

    @classmethod
    def from_module(cls, module: ModuleType) -> Rule:
        doc = inspect.cleandoc(module.__doc__ or "")
        summary = doc.splitlines()[0] if doc else ""
        if module.SEVERITY not in ("error", "warning"):
            raise ValueError(f"{module.__name__}: SEVERITY must be 'error' or 'warning'")
        return cls(module.CODE, module.NAME, module.SEVERITY, summary, doc, module.check)
