"""Running CUE on the caller's files: `cue export` (and unification with policies on top of it),
with stdout to a temporary file, never a pipe, and a failure turned into a `CueError` whose
positions name files the way the caller spelled them (`errors`). The toolchain is found by
`discovery`; see NOTES.md beside this file for what was measured.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import positions
from .discovery import CueUnavailable, Toolchain, find_toolchain
from .errors import CueError, CueMessage, CuePosition, PositionFixer, cue_error, parse_errors, parse_path

DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class CueResult:
    exit_code: int
    stdout: bytes
    stderr: str


def run(
    args: Sequence[str],
    *,
    toolchain: Toolchain | None = None,
    cwd: Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> CueResult:
    """Run `cue ARGS...` and return its exit code, stdout bytes (whole) and stderr text."""
    tc = toolchain or find_toolchain()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                [*tc.command, *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            raise CueError([CueMessage(None, None, None, f"{tc.kind} timed out after {timeout:g} s")]) from e
        except OSError as e:
            raise CueUnavailable(f"cannot run {tc.command[0]}: {e}") from e
        out.seek(0)
        err.seek(0)
        return CueResult(proc.returncode, out.read(), err.read().decode("utf-8", errors="replace"))


def export(
    paths: Sequence[Path | str],
    *,
    expression: str | None = None,
    toolchain: Toolchain | None = None,
    cwd: Path | None = None,
    prefer: Sequence[Path | str] = (),
    timeout: float | None = DEFAULT_TIMEOUT,
    tags: Sequence[str] = (),
) -> Any:
    """Evaluate CUE files / package directories (and JSON/YAML data files, which CUE unifies at
    the top level) to concrete data, like `cue export --out json`; returns the parsed JSON.

    Relative `paths` are relative to `cwd` (default: the current directory), and error positions
    name files the way `paths` spelled them. `prefer` lists files whose positions should be
    chosen as each error's primary position (e.g. the user's data rather than a policy).
    `tags` are `key=value` pairs for fields marked `@tag(key)` (`cue export -t key=value`).
    Raises CueError (with every error CUE printed) or CueUnavailable.
    """
    tc = toolchain or find_toolchain()
    inputs = Inputs(paths, Path(cwd) if cwd is not None else Path.cwd())
    args = ["export", "--out", "json", "-E"]
    if expression is not None:
        args += ["-e", expression]
    for tag in tags:
        args += ["-t", tag]
    args += inputs.args
    result = run(args, toolchain=tc, cwd=inputs.run_cwd, timeout=timeout)
    if result.exit_code != 0:
        raise cue_error(
            result.stderr,
            result.exit_code,
            inputs,
            prefer,
            yaml_columns_off_by_one=tc.yaml_columns_off_by_one,
        )
    try:
        return json.loads(result.stdout)
    except ValueError as e:
        raise CueError(
            [CueMessage(None, None, None, f"cue export printed invalid JSON: {e}")],
            stderr=result.stderr,
            exit_code=result.exit_code,
        ) from e


def unify(
    data_files: Path | str | Sequence[Path | str],
    policy_paths: Sequence[Path | str],
    *,
    expression: str | None = None,
    toolchain: Toolchain | None = None,
    cwd: Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Any:
    """Unify data (JSON/YAML/CUE files) with policy CUE files and export the result.

    Every violation is reported (CueError.messages), each positioned in the data file when CUE
    names a position there. This uses `cue export`, not `cue vet`: v0.4's vet (and eval) stop at
    the first error inside a struct, export reports them all. Like `cue vet` on data files, values
    must end up concrete: a policy field the data leaves open is an "incomplete value" error.
    """
    data = [data_files] if isinstance(data_files, str | Path) else list(data_files)
    return export(
        [*policy_paths, *data],
        expression=expression,
        toolchain=toolchain,
        cwd=cwd,
        prefer=data,
        timeout=timeout,
    )


def vet(
    data_file: Path | str | Sequence[Path | str],
    policy_paths: Sequence[Path | str],
    *,
    toolchain: Toolchain | None = None,
    cwd: Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> None:
    """Check data against policy CUE files; raises CueError listing every violation."""
    unify(data_file, policy_paths, toolchain=toolchain, cwd=cwd, timeout=timeout)


_PROBE = "'\\x00meshc-probe'"
_IDENT_LABEL = re.compile(r"[#_]*[A-Za-z_$][\w$]*")


def value_positions(
    paths: Sequence[Path | str],
    fields: Sequence[str | Sequence[positions.PathItem]],
    *,
    toolchain: Toolchain | None = None,
    cwd: Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> dict[tuple[positions.PathItem, ...], list[CuePosition]]:
    """Ask CUE itself where the values of `fields` are written, in one CUE run.

    CUE v0.4 has no command that prints a value's position, but it lists the positions of every
    conjunct in a conflict. So an extra file unifies each field with a bytes value nobody uses
    (`'\\x00meshc-probe'`); the resulting conflicts name the data's positions (for a value that
    comes from a schema default, the default's). Works for scalar leaves, e.g.
    `services.reviews.ports[0].port`; for a struct CUE names the struct's constraints, not where
    its fields are written: use positions.locate() for those. Fields that do not exist get no
    entry. Other errors in the input are ignored here.

    Pass only the files that hold the values (the data), not a policy: where a policy constrains
    the field with a disjunction (`"default" | "prod"`), CUE v0.4 reports the probe against each
    alternative and never names the data's position.
    """
    wanted: list[tuple[positions.PathItem, ...]] = []
    for f in fields:
        path = positions.parse_path(f) if isinstance(f, str) else tuple(f)
        if not path or not isinstance(path[0], str):
            raise ValueError(f"a field path must start with a name: {f!r}")
        wanted.append(path)
    if not wanted:
        return {}
    tc = toolchain or find_toolchain()
    with tempfile.TemporaryDirectory(prefix="meshc-cue-probe-") as tmp:
        probe = Path(tmp) / "probe.cue"
        probe.write_text("".join(_probe_field(p) + "\n" for p in wanted), encoding="utf-8")
        inputs = Inputs([*paths, probe], Path(cwd) if cwd is not None else Path.cwd())
        result = run(
            ["export", "--out", "json", "-E", *inputs.args], toolchain=tc, cwd=inputs.run_cwd, timeout=timeout
        )
        fixer = PositionFixer(inputs, yaml_columns_off_by_one=tc.yaml_columns_off_by_one)
        found: dict[tuple[positions.PathItem, ...], list[CuePosition]] = {}
        for m in parse_errors(result.stderr, spell=inputs.spell):
            if "meshc-probe" not in m.message or m.path is None:
                continue
            key = parse_path(m.path)
            spots = [
                fixer.fix(p, m.path)
                for p in m.positions
                if p.file is not None and inputs.absolute(p.file) != probe
            ]
            if key and spots:
                found[key] = spots
        for path in wanted:
            if path not in found:
                # CUE names no YAML position for list elements in conflicts; data files are
                # read directly then (YAML via PyYAML, JSON via the label scanner).
                for spelling, absolute in inputs.source_files():
                    if absolute != probe and absolute.suffix in (".yaml", ".yml", ".json"):
                        hit = fixer.find(absolute, spelling, path, value=True)
                        if hit is not None:
                            found[path] = [hit]
                            break
    return {p: found[p] for p in wanted if p in found}


def _probe_field(path: Sequence[positions.PathItem]) -> str:
    head, rest = path[0], path[1:]
    assert isinstance(head, str)
    return f"{_label(head)}: {_probe_value(rest)}"


def _probe_value(path: Sequence[positions.PathItem]) -> str:
    if not path:
        return _PROBE
    head = path[0]
    if isinstance(head, int):
        return "[" + "_, " * head + _probe_value(path[1:]) + ", ...]"
    return "{" + _probe_field(path) + "}"


def _label(name: str) -> str:
    return name if _IDENT_LABEL.fullmatch(name) else json.dumps(name, ensure_ascii=False)


class Inputs:
    """The caller's paths; where CUE runs; how CUE's file names map back to the caller's spelling.

    A package directory is evaluated by running CUE inside it with the argument "." (relative
    `../dir` arguments fail with "module root not defined" in v0.4 once they climb above the
    module search, and absolute ones are read as import paths), so module roots (`cue.mod`) are
    found from the package upwards, as `cue export` run in that directory would.
    """

    def __init__(self, paths: Iterable[Path | str], base: Path) -> None:
        self.given: list[tuple[str, Path, bool]] = []  # (spelling, absolute, is_dir)
        problems: list[CueMessage] = []
        for p in paths:
            spelling = str(p)
            absolute = Path(os.path.normpath(base / p))
            if ":" in absolute.name:
                problems.append(CueMessage(spelling, None, None, "cue does not accept ':' in file names"))
            elif absolute.is_dir():
                self.given.append((spelling, absolute, True))
            elif absolute.is_file():
                self.given.append((spelling, absolute, False))
            else:
                problems.append(CueMessage(spelling, None, None, "no such file or directory"))
        dirs = [g for g in self.given if g[2]]
        if len(dirs) > 1:
            problems.append(
                CueMessage(dirs[1][0], None, None, "only one package directory can be evaluated at a time")
            )
        if problems:
            raise CueError(problems)
        self.base = base
        self.run_cwd = dirs[0][1] if dirs else base
        self.args = [
            "." if is_dir else _file_arg(absolute, self.run_cwd) for _, absolute, is_dir in self.given
        ]

    def spell(self, reported: str) -> str | None:
        """Map a file name CUE printed (relative to the run cwd) to the caller's spelling."""
        if reported.startswith("-"):  # "--expression"
            return None
        absolute = Path(os.path.normpath(self.run_cwd / reported))
        for spelling, given, is_dir in self.given:
            if absolute == given:
                return spelling
            if is_dir and absolute.is_relative_to(given):
                return str(Path(spelling) / absolute.relative_to(given))
        if absolute.is_relative_to(self.base):  # e.g. an imported package's file
            return str(absolute.relative_to(self.base))
        return str(absolute)

    def absolute(self, spelled: str) -> Path:
        """The file behind a name the caller spelled (or that spell() produced)."""
        for spelling, given, _ in self.given:
            if spelled == spelling:
                return given
        return Path(os.path.normpath(self.base / spelled))

    def source_files(self) -> list[tuple[str, Path]]:
        """Files that may declare values: the given files and the .cue files of given directories."""
        files: list[tuple[str, Path]] = []
        for spelling, given, is_dir in self.given:
            if is_dir:
                for f in sorted(given.glob("*.cue")):
                    files.append((str(Path(spelling) / f.name), f))
            else:
                files.append((spelling, given))
        return files


def _file_arg(absolute: Path, run_cwd: Path) -> str:
    try:
        return "./" + absolute.relative_to(run_cwd).as_posix()
    except ValueError:
        return str(absolute)
