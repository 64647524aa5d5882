"""Guardrails: unify a spec with organisation policies written in CUE (`meshc validate --policy DIR`).

A policy is a set of CUE constraints on the spec *document* (`spec: security: mtls: "STRICT"`,
`spec: egress: [...{hosts: [...!~"\\*"]}]`...). Every error CUE reports when it unifies the spec
with the policies is a violation, reported as `MC016` with

* the position CUE itself gives for the spec's value: the spec is handed to CUE as the user's
  own file (a YAML spec file is read by CUE directly; a CUE spec is evaluated together with the
  policies, in one run), so a conflict names the line in the user's file. When CUE names no
  position in the spec (a value computed by the policy, a YAML flow-sequence element, an
  incomplete value), the violation's data path is mapped to the spec's source instead;
* the policy's message: the `//` comment on or just above the policy line CUE names for the
  error (the constraint that failed), followed by CUE's own words.

Policy files are given as files or directories (their `*.cue` files, not recursive). They may
carry any package clause: meshc evaluates copies without it beside the spec, so that they unify
with a spec of any package (line numbers are unchanged and reported against the originals).

Specs that are not a single file on disk (a YAML directory, a spec read from git) are handed to
CUE as JSON; positions then come from the spec's source map.

CUE v0.4 reports incomplete values ("a field the policy requires is missing") only when nothing
else fails, so write policies as constraints that conflict (`mtls: "STRICT"`) rather than as
required fields where you can.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from meshc.spec.diagnostics import Diagnostic, SpecError
from meshc.spec.loaded import LoadedSpec
from meshc.spec.source import PathItem

from . import positions
from .spec import CODE_EVALUATION, CueSourceMap, cue_tags, describe, toolchain_or_error, unavailable
from .toolchain import CueError, CueMessage, CuePosition, CueUnavailable, export

__all__ = ["CODE_VIOLATION", "check_policies", "policy_files"]

CODE_VIOLATION = "MC016"
"""Policy violation: the spec does not satisfy an organisation policy written in CUE."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PACKAGE = re.compile(r"^\s*package\s+[\w$#]+\s*(//.*)?$")
_COMMENT = re.compile(r"^\s*//\s?(.*)$")
_NOT_VIOLATIONS = ("reference ", "cannot reference", "cycle", "undefined field", "invalid interpolation")


def policy_files(policies: Sequence[Path]) -> list[Path]:
    """The CUE files of the given policy files and directories; SpecError (usage) if none."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for p in policies:
        if p.is_dir():
            found = sorted(f for f in p.glob("*.cue") if f.is_file())
            if not found:
                problems.append(_usage(str(p), "policy directory holds no *.cue files"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(_usage(str(p), "no such policy file or directory"))
    if problems:
        raise SpecError(problems, usage=True)
    return files


def _usage(name: str, message: str) -> Diagnostic:
    return Diagnostic(
        name, 1, 1, "error", "MC001", message, "`--policy` takes CUE files or directories of them"
    )


def check_policies(loaded: LoadedSpec, policies: tuple[Path, ...]) -> list[Diagnostic]:
    """Unify the spec with the policies; one diagnostic per violation (an empty list: all pass)."""
    if not policies:
        return []
    files = policy_files(list(policies))
    display = loaded.source.display_name
    toolchain = toolchain_or_error(display)
    with tempfile.TemporaryDirectory(prefix="meshc-policy-") as tmp:
        workdir = Path(tmp)
        copies: dict[Path, str] = {}  # the package-free copy -> the policy file as the user named it
        for i, original in enumerate(files):
            copy = workdir / f"{i:03d}-{original.name}"
            copy.write_text(_without_package(original.read_text(encoding="utf-8")), encoding="utf-8")
            copies[copy] = str(original)
        spec_args, spec_files, json_copy = _spec_inputs(loaded, workdir)
        try:
            export(
                [*spec_args, *(str(c) for c in copies)],
                toolchain=toolchain,
                prefer=spec_files,
                tags=cue_tags() if json_copy is None else (),
            )
        except CueUnavailable as exc:
            raise SpecError([unavailable(display, exc)], usage=True) from None
        except CueError as exc:
            checker = _Report(loaded, copies, spec_files, json_copy)
            return checker.diagnostics(exc.messages)
    return []


def _without_package(text: str) -> str:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _PACKAGE.match(line):
            lines[i] = ""  # keep the line numbers
            break
    return "\n".join(lines)


def _spec_inputs(loaded: LoadedSpec, workdir: Path) -> tuple[list[str], list[str], Path | None]:
    """What to give CUE for the spec: (arguments, the files positions should prefer, a JSON copy)."""
    source = loaded.source
    if isinstance(source, CueSourceMap) and source.cue_path is not None:
        return [source.display], list(source.file_names), None
    if len(source.files) == 1 and not isinstance(source, CueSourceMap):
        sf = source.files[0]
        name = sf.name
        if name.endswith((".yaml", ".yml")) and sf.text is not None and _same_text(Path(name), sf.text):
            return [name], [name], None
    # Several files, or a spec held in memory: hand CUE the data as JSON, one value per line.
    copy = workdir / "spec.json"
    copy.write_text(json.dumps(loaded.data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [str(copy)], [str(copy)], copy


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff") == text
    except (OSError, UnicodeDecodeError):
        return False


class _Report:
    def __init__(
        self, loaded: LoadedSpec, copies: dict[Path, str], spec_files: list[str], json_copy: Path | None
    ):
        self.loaded = loaded
        self.copies = {os.path.normpath(str(k)): v for k, v in copies.items()}
        self.spec_files = {os.path.normpath(os.path.abspath(f)) for f in spec_files}
        self.json_copy = json_copy
        self._json_lines: dict[int, tuple[PathItem, ...]] | None = None
        self._texts: dict[str, list[str]] = {}

    def diagnostics(self, messages: list[CueMessage]) -> list[Diagnostic]:
        out: dict[Diagnostic, None] = {}
        for m in messages:
            out[self.diagnostic(m)] = None
        return sorted(out, key=lambda d: d.sort_key)

    def diagnostic(self, m: CueMessage) -> Diagnostic:
        policy_spots = [p for p in m.positions if self._policy_name(p) is not None]
        spec_spots = [p for p in m.positions if self._in_spec(p)]
        data_path = _data_path(m.path)
        if not spec_spots and not self._is_violation(m, data_path):
            # A problem in the policy itself (a typo, a bad reference): report it there.
            spot = policy_spots[-1] if policy_spots else None
            message, hint = describe(m)
            if spot is not None:
                name = self._policy_name(spot) or ""
                return Diagnostic(name, spot.line, spot.column, "error", CODE_EVALUATION, message, hint)
            file, line, column = self.loaded.source.position(())
            return Diagnostic(file, line, column, "error", CODE_EVALUATION, message, hint)
        file, line, column = self._where(m, spec_spots, data_path)
        rule, origin = self._rule(policy_spots)
        if spec_spots:
            exact = self._path_at(spec_spots[0])
            if exact is not None and exact[: len(data_path)] == data_path:
                data_path = exact  # past a policy's hidden field: the spec value it checked
        detail = _detail(m, data_path)
        message = f"{rule} ({detail})" if rule else detail
        hint = f"policy {origin}" if origin else None
        return Diagnostic(file, line, column, "error", CODE_VIOLATION, message, hint)

    # -- where in the spec -----------------------------------------------------------------

    def _in_spec(self, p: CuePosition) -> bool:
        return p.file is not None and os.path.normpath(os.path.abspath(p.file)) in self.spec_files

    def _where(
        self, m: CueMessage, spots: list[CuePosition], data_path: tuple[PathItem, ...]
    ) -> tuple[str, int, int]:
        if spots:
            spot = spots[0]
            if self.json_copy is None:
                assert spot.file is not None
                return (spot.file, spot.line, spot.column)
            at = self._json_path(spot.line)
            if at is not None:
                return self.loaded.source.position(at)
        return self.loaded.source.position(data_path)

    def _path_at(self, spot: CuePosition) -> tuple[PathItem, ...] | None:
        """The data path whose value CUE points at in the spec (a YAML, JSON or CUE file)."""
        if spot.file is None:
            return None
        if self.json_copy is not None:
            return self._json_path(spot.line)
        source = self.loaded.source
        if isinstance(source, CueSourceMap):
            return source.path_at(spot.file, spot.line, spot.column)
        if spot.file.endswith((".yaml", ".yml")) and source.files and source.files[0].text is not None:
            return _yaml_path_at(source.files[0].text, spot.line, spot.column)
        return None

    def _json_path(self, line: int) -> tuple[PathItem, ...] | None:
        if self._json_lines is None:
            assert self.json_copy is not None
            text = self.json_copy.read_text(encoding="utf-8")
            starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
            lines: dict[int, tuple[PathItem, ...]] = {}
            for path, offset in positions.declared_paths(text):
                ln = bisect.bisect_right(starts, offset)
                if len(path) >= len(lines.get(ln, ())):
                    lines[ln] = path
            self._json_lines = lines
        return self._json_lines.get(line)

    def _is_violation(self, m: CueMessage, data_path: tuple[PathItem, ...]) -> bool:
        if m.path is None or not data_path:
            return False
        text = m.message[len(m.path) + 2 :] if m.message.startswith(m.path + ": ") else m.message
        return not text.startswith(_NOT_VIOLATIONS)

    # -- which policy ----------------------------------------------------------------------

    def _policy_name(self, p: CuePosition) -> str | None:
        if p.file is None:
            return None
        return self.copies.get(os.path.normpath(os.path.abspath(p.file)))

    def _rule(self, spots: list[CuePosition]) -> tuple[str | None, str | None]:
        """The policy's own words for the failed constraint: the comment on or above its line."""
        origin = None
        for spot in reversed(spots):
            name = self._policy_name(spot)
            if name is None:
                continue
            origin = origin or f"{name}:{spot.line}:{spot.column}"
            comment = self._comment(name, spot.line)
            if comment:
                return comment, f"{name}:{spot.line}:{spot.column}"
        return None, origin

    def _comment(self, name: str, line: int) -> str | None:
        if name not in self._texts:
            try:
                self._texts[name] = Path(name).read_text(encoding="utf-8").split("\n")
            except (OSError, UnicodeDecodeError):
                self._texts[name] = []
        lines = self._texts[name]
        if not 1 <= line <= len(lines):
            return None
        trailing = _trailing_comment(lines[line - 1])
        if trailing:
            return trailing
        block: list[str] = []
        i = line - 2
        while i >= 0:
            cm = _COMMENT.match(lines[i])
            if not cm:
                break
            block.insert(0, cm.group(1).strip())
            i -= 1
        text = " ".join(b for b in block if b)
        return text or None


def _yaml_path_at(text: str, line: int, column: int) -> tuple[PathItem, ...] | None:
    """The path of the YAML value node that starts at (line, column), 1-based."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    stack: list[tuple[yaml.Node, tuple[PathItem, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        mark = node.start_mark
        if (mark.line + 1, mark.column + 1) == (line, column) and path:
            return path
        if isinstance(node, yaml.MappingNode):
            stack.extend((v, (*path, str(k.value))) for k, v in node.value if isinstance(k, yaml.ScalarNode))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, (*path, i)) for i, v in enumerate(node.value))
    return None


def _trailing_comment(line: str) -> str | None:
    """`x: "STRICT" // why` -> "why" (ignoring `//` inside strings)."""
    in_string = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and in_string:
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            text = line[i + 2 :].strip()
            return text if line[:i].strip() else None
        i += 1
    return None


def _data_path(cue_path: str | None) -> tuple[PathItem, ...]:
    """The data part of an error's path: up to the first hidden field, definition or `let`."""
    if cue_path is None:
        return ()
    try:
        items = positions.parse_path(cue_path)
    except ValueError:
        return ()
    out: list[PathItem] = []
    for item in items:
        if isinstance(item, str) and (item.startswith(("_", "#")) or item.startswith("let")):
            break
        out.append(item)
    return tuple(out)


def _detail(m: CueMessage, data_path: tuple[PathItem, ...]) -> str:
    text = m.message
    if m.path is not None and text.startswith(m.path + ": "):
        text = text[len(m.path) + 2 :]
    where = positions.format_path(data_path) if data_path else (m.path or "")
    return f"{where}: {text}" if where else text
