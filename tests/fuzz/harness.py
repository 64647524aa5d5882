"""One fuzz case, run in-process through the library pipeline and classified.

The contract checked per case (the same one `meshc compile` promises):
- exit 0: the output is one YAML stream that a YAML reader parses back to exactly the compiled
  data, no two objects share (cluster, kind, namespace, name), and the self-check passed;
- exit 1 or 2: every diagnostic is positioned (`file:LINE:COL`, LINE and COLUMN >= 1, a known
  file), has a code and a message, and its text holds no raw control characters;
- never a traceback (`crash`), never exit 3 (`selfcheck`), never `slow` (over SLOW_SECONDS).
"""

from __future__ import annotations

import re
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from meshc.compiler.emit import dump_stream
from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import CompilerBug, run
from meshc.spec.diagnostics import Diagnostic, SpecError
from meshc.spec.loader import load_sources

CASE_NAME = "fuzz.yaml"
SLOW_SECONDS = 10.0
"""The contract: a spec under 1 MB is answered within this time."""
TIMEOUT_SECONDS = 60.0
"""A case still running after this is stopped and classified `timeout`."""

GOOD = frozenset({"ok", "invalid", "usage"})
"""Outcome kinds that satisfy the contract; every other kind is a finding."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CODE = re.compile(r"MC[0-9]{3}")
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_REPO = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    """ok | invalid | usage (the contract holds) or a finding: crash | selfcheck | unparseable |
    roundtrip | duplicate | unpositioned | control-chars | slow | timeout."""
    detail: str = ""
    """For a finding: what went wrong, stable enough to group cases by (`cls`)."""
    seconds: float = 0.0
    """CPU seconds the case took (the wall clock for a `timeout`)."""

    @property
    def good(self) -> bool:
        return self.kind in GOOD

    @property
    def cls(self) -> str:
        """The outcome class reported by the long run: kind, and for findings a grouping detail."""
        return (
            self.kind if self.good else f"{self.kind}: {self.detail.splitlines()[0] if self.detail else ''}"
        )


class _Timeout(BaseException):
    """Raised by SIGALRM inside a case that runs too long (BaseException: no `except Exception`
    inside meshc may swallow it)."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(text: str | bytes, *, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    """Run one spec text through load -> ... -> self-check -> emit and classify the outcome."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        with _deadline(timeout):
            outcome = _classify(raw)
    except _Timeout:
        return Outcome("timeout", f"over {timeout:.0f} s", time.perf_counter() - start)
    # CPU time decides `slow`: on a shared machine the wall clock also counts other processes.
    seconds = time.process_time() - cpu_start
    if outcome.good and seconds > SLOW_SECONDS and len(raw) < 1 << 20:
        return Outcome("slow", f"{outcome.kind} case", seconds)
    return Outcome(outcome.kind, outcome.detail, seconds)


def _classify(raw: bytes) -> Outcome:
    try:
        loaded = load_sources([(CASE_NAME, raw)])
        compilation = run(CASE_NAME, loaded=loaded)
        stream = dump_stream(compilation.manifests)
    except SpecError as exc:
        problem = _diagnostic_problem(exc.diagnostics)
        if problem is not None:
            return problem
        return Outcome("usage" if exc.usage else "invalid")
    except CompilerBug as bug:
        return Outcome("selfcheck", _first_problem(bug.problems))
    except RecursionError:
        return Outcome("crash", f"RecursionError {_where()}")
    except Exception as exc:  # grouped by type and place; the message on a line of its own
        return Outcome("crash", f"{type(exc).__name__} {_where()}\n{str(exc)[:200]}")
    return _check_output(compilation.manifests, stream)


def _check_output(manifests: list[Manifest], stream: str) -> Outcome:
    try:
        documents = list(yaml.load_all(stream, Loader=_Loader))
    except yaml.YAMLError as exc:
        return Outcome("unparseable", str(exc).splitlines()[0])
    bodies = [m.body for m in manifests]
    if documents != bodies:
        for got, want in zip(documents, bodies, strict=False):
            if got != want:
                return Outcome(
                    "roundtrip", f"{want.get('kind')} reads back different: {_difference(got, want)}"
                )
        return Outcome("roundtrip", f"{len(documents)} documents read back, {len(bodies)} written")
    seen = Counter((m.cluster, m.kind, m.namespace, m.name) for m in manifests)
    twice = sorted(key for key, n in seen.items() if n > 1)
    if twice:
        _, kind, namespace, _ = twice[0]
        return Outcome("duplicate", f"two {kind} objects with one name in {namespace or 'cluster scope'}")
    return Outcome("ok")


def _difference(got: object, want: object, path: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want), key=str):
            if got.get(key) != want.get(key):
                return _difference(got.get(key), want.get(key), f"{path}.{key}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                return _difference(g, w, f"{path}[{i}]")
    return f"{path or '.'}: {want!r:.60} became {got!r:.60}"


def _diagnostic_problem(diagnostics: list[Diagnostic]) -> Outcome | None:
    if not diagnostics:
        return Outcome("unpositioned", "SpecError without diagnostics")
    for d in diagnostics:
        if d.file != CASE_NAME or d.line < 1 or d.column < 1 or not _CODE.fullmatch(d.code) or not d.message:
            return Outcome("unpositioned", f"{d.code}: {d.file}:{d.line}:{d.column}")
        first, _, hint = d.format().partition("\n  hint: ")
        if _RAW_CONTROL.search(first) or _RAW_CONTROL.search(hint):
            return Outcome("control-chars", f"{d.code} echoes a control character")
    return None


def _first_problem(problems: list[str]) -> str:
    """A self-check problem without the object's name, so that cases group by what failed."""
    line = problems[0] if problems else "?"
    ref, _, rest = line.partition(": ")
    return f"{ref.split('/')[0]}: {re.sub(r'[0-9]+', 'N', rest)[:160]}"


def _where() -> str:
    """The innermost frame of the current traceback that is meshc's own code."""
    frames = [
        f
        for f in traceback.extract_tb(sys.exc_info()[2])
        if f.filename.startswith(_REPO) and "/tests/" not in f.filename
    ]
    if not frames:
        return "outside meshc"
    frame = frames[-1]
    return f"at {frame.filename[len(_REPO) + 1 :]}:{frame.lineno} in {frame.name}"


def warm_up() -> None:
    """Run the examples once: the self-check loads its schemas and CEL environment on first use
    (cel-python raises the recursion limit then, which hypothesis warns about if it happens
    inside a test), and the first case should not be charged for it."""
    from .strategies import example_documents

    for text in example_documents():
        run_case(text)
