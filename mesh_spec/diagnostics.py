"""One diagnostic format for every layer: `file:LINE:COL: severity CODE: message` (+ hint)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from .safetext import escape_controls, redact, safe

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    severity: Severity
    code: str
    message: str
    hint: str | None = None

    def format(self) -> str:
        """One line (two with a hint). Whatever the spec put into the file name, message or hint is
        printed with control characters escaped and credentials masked (see `safetext`): a name
        can neither drive the terminal nor forge a diagnostic line, a secret never reaches a log."""
        where = f"{escape_controls(self.file)}:{self.line}:{self.column}"
        text = f"{where}: {self.severity} {self.code}: {safe(self.message)}"
        if self.hint:
            text += f"\n  hint: {safe(self.hint)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": redact(self.message),
            "hint": redact(self.hint) if self.hint else self.hint,
        }

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.code, self.message)


def has_errors(diagnostics: list[Diagnostic], *, strict: bool = False) -> bool:
    """True when the spec must be rejected: any error, or any warning under `--strict`."""
    return any(d.severity == "error" or strict for d in diagnostics)


class SpecError(Exception):
    """Raised by the loading stages when the input cannot go further; carries its diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic], *, usage: bool = False) -> None:
        super().__init__()
        self.diagnostics = diagnostics
        self.usage = usage

    def __reduce__(self) -> tuple[Any, ...]:  # pickled between processes with its diagnostics
        return (partial(SpecError, usage=self.usage), (self.diagnostics,))

    def __str__(self) -> str:
        # Formatted on demand: the pipeline re-raises a SpecError per stage, and formatting
        # thousands of diagnostics each time cost more than finding them.
        return "\n".join(d.format() for d in self.diagnostics)
