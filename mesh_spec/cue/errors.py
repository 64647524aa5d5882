"""CUE's error output mapped to messages at the user's positions.

`parse_errors` reads what CUE printed on stderr (see NOTES.md) into `CueMessage`s; `cue_error`
then repairs their positions against the files the caller gave (CUE counts columns in bytes and
reports YAML columns one too far right; a message without a position is placed where the source
declares the failing field, see positions.py) and picks each message's primary position.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from . import positions


@dataclass(frozen=True)
class CuePosition:
    file: str | None
    line: int
    column: int


@dataclass(frozen=True)
class CueMessage:
    """One error CUE reported.

    `file`/`line`/`column` is the primary position (the one in the user's data when known);
    `positions` lists every position CUE printed for the error (conflicting values print
    several). `path` is CUE's path of the failing value (`services.reviews.ports.0.port`), None
    for syntax/load errors. `approximate` is True when CUE printed no position and meshc found
    the field by scanning the source (see positions.py).
    """

    file: str | None
    line: int | None
    column: int | None
    message: str
    path: str | None = None
    positions: tuple[CuePosition, ...] = ()
    approximate: bool = False

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class CueError(Exception):
    """CUE rejected the input: conflicts, out-of-bound values, incomplete values, syntax errors..."""

    def __init__(self, messages: Sequence[CueMessage], *, stderr: str = "", exit_code: int | None = None):
        self.messages: list[CueMessage] = list(messages)
        self.stderr = stderr
        self.exit_code = exit_code
        super().__init__("\n".join(str(m) for m in self.messages) or stderr.strip() or "cue failed")


class InputFiles(Protocol):
    """The files a CUE run was given, as the error mapping needs them (see running.Inputs)."""

    def spell(self, reported: str) -> str | None:
        """A file name CUE printed, as the caller spelled it (None: not a file)."""
        ...

    def absolute(self, spelled: str) -> Path:
        """The file behind a name the caller spelled."""
        ...

    def source_files(self) -> list[tuple[str, Path]]:
        """(spelling, file) of every file that may declare values."""
        ...


_POSITION = re.compile(r"^\s+(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$")
_PATH_PREFIX = re.compile(
    r"""^(?P<path>(?:[#_$]*[A-Za-z_$][\w$]*|\d+|"(?:[^"\\]|\\.)*")"""
    r"""(?:\.(?:[#_$]*[A-Za-z_$][\w$]*|\d+|"(?:[^"\\]|\\.)*"))*): (?P<rest>.*)$"""
)
_DISJUNCTION = re.compile(r"^(?P<n>\d+) errors? in empty disjunction:?$")


@dataclass
class _Block:
    header: str
    path: str | None
    text: str
    extra: list[str] = field(default_factory=list)
    positions: list[tuple[str, int, int]] = field(default_factory=list)


def _blocks(stderr: str) -> list[_Block]:
    blocks: list[_Block] = []
    for raw in stderr.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        if line[0] in " \t" and blocks:
            m = _POSITION.match(line)
            if m:
                blocks[-1].positions.append((m.group("file"), int(m.group("line")), int(m.group("col"))))
            else:
                blocks[-1].extra.append(line.strip())
            continue
        pm = _PATH_PREFIX.match(line)
        path, text = (pm.group("path"), pm.group("rest")) if pm else (None, line)
        blocks.append(_Block(line, path, text))
    return blocks


Speller = Callable[[str], "str | None"]


def parse_errors(stderr: str, *, spell: Speller | None = None) -> list[CueMessage]:
    """Parse CUE's error output (see NOTES.md) into messages; `spell` maps CUE's file names.

    The primary position is CUE's last one (CUE lists conjuncts in source order, the constraint
    before the offending value); for an empty disjunction it is the last position shared by all
    alternatives' errors (the value that matched none of them).
    """
    messages: list[CueMessage] = []
    blocks = _blocks(stderr)
    i = 0
    while i < len(blocks):
        b = blocks[i]
        i += 1
        text = b.text.rstrip(":").strip() if b.positions or b.extra or b.text.endswith(":") else b.text
        if b.extra:
            text = text + ":\n" + "\n".join("  " + e for e in b.extra)
        positions = [_position(f, ln, col, spell) for f, ln, col in b.positions]
        primary = positions[-1] if positions else None
        dm = _DISJUNCTION.match(b.text)
        if dm and not b.positions:
            # "P: N errors in empty disjunction:" is followed by its N alternatives' errors.
            wanted = int(dm.group("n"))
            parts: list[str] = []
            children: list[list[CuePosition]] = []
            while wanted > 0 and i < len(blocks) and _under(blocks[i].path, b.path):
                child = blocks[i]
                i += 1
                wanted -= 1
                ctext = child.text.rstrip(":").strip()
                if child.path and b.path and child.path != b.path:
                    ctext = f"{child.path[len(b.path) + 1 :]}: {ctext}"
                parts.append(ctext)
                children.append([_position(f, ln, col, spell) for f, ln, col in child.positions])
            if parts:
                text = f"{b.text.rstrip(':')}: " + "; ".join(parts)
            if children:
                common = [p for p in children[0] if all(p in c for c in children[1:])]
                for p in [*common, *(p for c in children for p in c)]:
                    if p not in positions:
                        positions.append(p)
                primary = common[-1] if common else (children[0][-1] if children[0] else None)
        full = f"{b.path}: {text}" if b.path else text
        messages.append(
            CueMessage(
                primary.file if primary else None,
                primary.line if primary else None,
                primary.column if primary else None,
                full,
                path=b.path,
                positions=tuple(positions),
            )
        )
    return messages


def _under(child: str | None, parent: str | None) -> bool:
    if parent is None:
        return child is None
    return child is not None and (child == parent or child.startswith(parent + "."))


def _position(file: str, line: int, col: int, spell: Speller | None) -> CuePosition:
    if spell is None:
        return CuePosition(None if file.startswith("-") else file, line, col)
    return CuePosition(spell(file), line, col)


def cue_error(
    stderr: str,
    exit_code: int,
    inputs: InputFiles,
    prefer: Sequence[Path | str],
    *,
    yaml_columns_off_by_one: bool,
) -> CueError:
    """The CueError for a failed run: every message CUE printed, at the user's positions; a
    message positioned in one of the `prefer` files gets that position as its primary one."""
    messages = parse_errors(stderr, spell=inputs.spell)
    fixer = PositionFixer(inputs, yaml_columns_off_by_one=yaml_columns_off_by_one)
    preferred = {inputs.absolute(str(p)) for p in prefer}
    out: list[CueMessage] = []
    for m in messages:
        fixed = tuple(fixer.fix(p, m.path) for p in m.positions)
        primary: CuePosition | None = None
        if m.line is not None:
            raw = CuePosition(m.file, m.line, m.column or 0)
            primary = fixed[m.positions.index(raw)] if raw in m.positions else None
        in_preferred = [p for p in fixed if p.file is not None and inputs.absolute(p.file) in preferred]
        on_field = [p for p in fixed if m.path is not None and fixer.declares(p, m.path)]
        if in_preferred:
            primary = in_preferred[0]
        elif on_field and len(fixed) > 1:
            # the position on the line where the failing field itself is written (the user's
            # value), rather than a constraint's
            primary = on_field[-1]
        m = replace(m, positions=fixed)
        if primary is not None:
            m = replace(m, file=primary.file, line=primary.line, column=primary.column)
        elif m.path is not None:
            found = fixer.locate(m.path, preferred)
            if found is not None:
                m = replace(m, file=found.file, line=found.line, column=found.column, approximate=True)
        out.append(m)
    if not out:
        out = [CueMessage(None, None, None, stderr.strip() or f"cue exited with {exit_code}")]
    return CueError(out, stderr=stderr, exit_code=exit_code)


class PositionFixer:
    """Turns CUE's byte columns into character columns and repairs its YAML positions."""

    def __init__(self, inputs: InputFiles, *, yaml_columns_off_by_one: bool) -> None:
        self.inputs = inputs
        self.yaml_columns_off_by_one = yaml_columns_off_by_one
        self._texts: dict[Path, str | None] = {}
        self._label_index: dict[Path, dict[tuple[positions.PathItem, ...], set[int]]] = {}

    def _text(self, path: Path) -> str | None:
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[path] = None
        return self._texts[path]

    def fix(self, pos: CuePosition, error_path: str | None) -> CuePosition:
        if pos.file is None:
            return pos
        absolute = self.inputs.absolute(pos.file)
        text = self._text(absolute)
        if text is None:
            return pos
        if absolute.suffix in (".yaml", ".yml"):
            # CUE's YAML columns are off by one and count bytes from a wrong line start after
            # non-ASCII text; PyYAML knows where the value for the error's path is.
            if error_path is not None:
                path = parse_path(error_path)
                hit = positions.find_in_yaml(text, path, file=pos.file) if path else None
                if hit is not None and hit.line == pos.line:
                    return CuePosition(pos.file, hit.line, hit.column)
            if self.yaml_columns_off_by_one and pos.column > 1:
                return CuePosition(pos.file, pos.line, pos.column - 1)
            return pos
        lines = text.split("\n")
        if 1 <= pos.line <= len(lines):
            raw = lines[pos.line - 1].encode("utf-8")
            if len(raw) != len(lines[pos.line - 1]):  # non-ASCII: bytes -> characters
                prefix = raw[: max(pos.column - 1, 0)].decode("utf-8", errors="ignore")
                return CuePosition(pos.file, pos.line, len(prefix) + 1)
        return pos

    def declares(self, pos: CuePosition, error_path: str) -> bool:
        """Is `pos` on a line where its file explicitly writes the field `error_path`?"""
        if pos.file is None:
            return False
        path = parse_path(error_path)
        if not path:
            return False
        absolute = self.inputs.absolute(pos.file)
        if absolute.suffix in (".yaml", ".yml"):
            text = self._text(absolute)
            hit = positions.find_in_yaml(text, path, file=pos.file) if text is not None else None
            return hit is not None and hit.line == pos.line
        return pos.line in self._labels(absolute).get(path, ())

    def _labels(self, absolute: Path) -> dict[tuple[positions.PathItem, ...], set[int]]:
        if absolute not in self._label_index:
            index: dict[tuple[positions.PathItem, ...], set[int]] = {}
            text = self._text(absolute)
            if text is not None and absolute.suffix in (".cue", ".json"):
                starts = [0]
                starts.extend(i + 1 for i, c in enumerate(text) if c == "\n")
                for declared, offset in positions.declared_paths(text):
                    index.setdefault(declared, set()).add(bisect.bisect_right(starts, offset))
            self._label_index[absolute] = index
        return self._label_index[absolute]

    def locate(self, error_path: str, preferred: set[Path]) -> CuePosition | None:
        """Where the source declares `error_path`, else its deepest declared ancestor."""
        path = parse_path(error_path)
        files = self.inputs.source_files()
        files.sort(key=lambda f: f[1] not in preferred)
        for depth in range(len(path), 0, -1):
            for spelling, absolute in files:
                hit = self.find(absolute, spelling, path[:depth])
                if hit is not None:
                    return hit
        return None

    def find(
        self, absolute: Path, spelling: str, path: tuple[positions.PathItem, ...], *, value: bool = False
    ) -> CuePosition | None:
        """`path` in one file: YAML via PyYAML (value=True: the value node, else the key)."""
        text = self._text(absolute)
        if text is None:
            return None
        if absolute.suffix in (".yaml", ".yml"):
            hit = positions.find_in_yaml(text, path, file=spelling, value=value)
        elif absolute.suffix in (".cue", ".json"):
            hits = positions.find_in_cue(text, path, file=spelling)
            hit = hits[0] if hits else None
        else:
            hit = None
        return CuePosition(hit.file, hit.line, hit.column) if hit else None


def parse_path(text: str) -> tuple[positions.PathItem, ...]:
    try:
        return positions.parse_path(text)
    except ValueError:
        return ()
