"""The rule catalogue: one module per rule, listed here once, in code order.

Codes are stable and append-only. `meshc rules` lists them and `docs/rules.md` is generated from
their docstrings.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_spec.diagnostics import Diagnostic
from mesh_spec.source import SourceMap

from . import (
    mc101_unknown_reference,
    mc102_duplicate_name,
)
from .base import Finding, Rule, RuleContext

RULES: tuple[Rule, ...] = tuple(
    Rule.from_module(m)
    for m in (
        mc101_unknown_reference,
        mc102_duplicate_name,
    )
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


def run_rules(ctx: RuleContext, source: SourceMap, rules: tuple[Rule, ...] = RULES) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in rules:
        for finding in rule.check(ctx):
            file, line, column = source.position(finding.path)
            out.append(Diagnostic(file, line, column, rule.severity, rule.code, finding.message, finding.hint))  # type: ignore[arg-type]
    return sorted(set(out), key=lambda d: d.sort_key)


def iter_codes() -> Iterator[str]:
    return (rule.code for rule in RULES)


__all__ = ["RULES", "RULES_BY_CODE", "Finding", "Rule", "RuleContext", "run_rules"]
