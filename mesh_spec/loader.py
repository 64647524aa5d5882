"""Loading: bytes on disk -> plain data + a source map, with a diagnostic for every way input goes wrong.

The YAML is composed by libyaml (C) into a node tree, then turned into plain data by a small walker
that also rejects what PyYAML silently accepts: duplicate keys, alias bombs, and several documents
in one file. Nothing here raises anything but `SpecError`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, SpecError
from .fileset import DiskTree, is_cue_file, is_cue_package, yaml_files
from .loaded import LoadedSpec
from .native import extension
from .source import SourceFile, SourceMap

try:  # a Rust YAML parser, ~15x faster than PyYAML's C loader on large specs
    import yaml_rs
except ImportError:  # pragma: no cover - optional speed-up
    yaml_rs = None  # type: ignore[assignment]

MAX_BYTES = 64 * 1024 * 1024
"""Specs beyond this are refused: a 10,000-service mesh is about 6 MiB."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (the deepest spec field is about 12 levels down);
deeper input is refused with MC017 before anything walks it recursively."""
ALIAS_SLACK = 100_000
"""Extra nodes that aliases may add beyond one node per byte of input before we call it a bomb."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()


def _diag(file: str, line: int, column: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(file, line, column, "error", code, message, hint)


def spec_files(path: Path, display: str) -> list[tuple[Path, str]]:
    """The files that make up a spec: the file itself, or every *.yaml/*.yml below a directory."""
    if not path.exists():
        raise SpecError(
            [_diag(display, 1, 1, "MC001", "no such file or directory", "check the path of the spec")],
            usage=True,
        )
    if path.is_dir():
        found = yaml_files(DiskTree(path).files_below())
        if not found:
            raise SpecError(
                [_diag(display, 1, 1, "MC001", "directory contains no *.yaml or *.yml spec files")],
                usage=True,
            )
        return [(path / rel, os.path.join(display, *rel.split("/"))) for rel in found]
    if not path.is_file():
        raise SpecError([_diag(display, 1, 1, "MC001", "not a regular file")], usage=True)
    return [(path, display)]


def read_text(raw: bytes, display: str) -> str:
    if len(raw) > MAX_BYTES:
        raise SpecError(
            [
                _diag(
                    display,
                    1,
                    1,
                    "MC008",
                    f"file is {len(raw) / 1048576:.1f} MiB; specs are limited to {MAX_BYTES // 1048576} MiB",
                    "split the spec into several files in a directory",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [
                _diag(
                    display,
                    line,
                    column,
                    "MC002",
                    f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                    "save the file as UTF-8",
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


_NEEDS_CAREFUL_PATH = re.compile(r"(?<![^\s\[{,])(?:[&*!][^\s\[\]{},]|<<\s*:|\?(?:\s|$))", re.MULTILINE)
"""Tokens the fast parser treats more leniently than we want (tags, merge keys, complex keys,
anchors and aliases), each at the start of a line or after a space, `[`, `{` or `,`: files holding
them take the careful path, which reports them precisely."""
_SIGIL = re.compile(r"[&*!?<]")
"""The first character of every such token: only where one occurs is the token tried (a spec has
few, and trying the token everywhere costs ~0.5 s for an 8 MB spec)."""


def _needs_careful_path(text: str) -> bool:
    return any(_NEEDS_CAREFUL_PATH.match(text, m.start()) for m in _SIGIL.finditer(text))


def _native_careful() -> Callable[[str], bool] | None:
    loadc = extension("meshc.spec._loadc")
    if loadc is None:
        return None
    careful: Callable[[str], bool] = loadc.needs_careful_path
    return careful


_CAREFUL: Callable[[str], bool] = _native_careful() or _needs_careful_path
"""`_needs_careful_path`, natively where built (mesh_spec/_loadc.c: 0.04 s less for a 10,000-service
spec, whose every `*.example.com` host is a sigil to try)."""


def parse_fast(text: str) -> dict[str, Any] | None:
    """Plain data from the fast parser, or None when the careful path must decide.

    Files that the fast parser rejects, or that hold anything but one mapping, go through
    `parse_yaml`, which reports the problem with its line and column. Positions for later
    diagnostics are composed lazily (see `SourceFile.locate`).
    """
    if yaml_rs is None or _CAREFUL(text):
        return None
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:
        return None
    return data if isinstance(data, dict) and _PLAIN(data) else None


def _native_plain() -> Callable[[Any], bool] | None:
    loadc = extension("meshc.spec._loadc")
    if loadc is None:
        return None
    plain: Callable[[Any, int], bool] = loadc.plain
    return lambda value: plain(value, MAX_DEPTH)


def _plain(value: Any) -> bool:
    """Only JSON-like data with string (or int) keys and finite numbers is accepted from the fast
    path. Exact types only (a subclass takes the careful path); containers alone are stacked."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    values: Iterable[Any]
    while stack:
        item, depth = pop()
        if depth > MAX_DEPTH:
            return False  # the careful path reports where
        if type(item) is dict:
            for key in item:
                if type(key) is not str and type(key) is not int:
                    return False
            values = item.values()
        elif type(item) is list:
            values = item
        else:
            return False
        for sub in values:
            kind = type(sub)
            if kind is dict or kind is list:
                push((sub, depth + 1))
            elif kind is float:
                if not math.isfinite(sub):
                    return False
            elif not (kind is str or kind is int or kind is bool or sub is None):
                return False
    return True


_PLAIN: Callable[[Any], bool] = _native_plain() or _plain
"""`_plain`, natively (mesh_spec/_loadc.c: ~0.1 s less for a 10,000-service spec) where built."""


def parse_yaml(text: str, display: str) -> tuple[Any, yaml.Node]:
    """Compose one YAML document and build plain data from it."""
    if not text.strip() or _only_comments(text):
        raise SpecError([_diag(display, 1, 1, "MC006", "file is empty", "a spec starts with `apiVersion:`")])
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in f"{exc.context} {exc.problem}":
                mark = exc.problem_mark
                raise SpecError(
                    [
                        _diag(
                            display,
                            (mark.line + 1) if mark else 1,
                            (mark.column + 1) if mark else 1,
                            "MC005",
                            "several YAML documents in one file; a spec file holds one document",
                            "split the documents into separate files of a spec directory",
                        )
                    ]
                ) from None
            raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise SpecError(
            [
                _diag(
                    display,
                    (mark.line + 1) if mark else 1,
                    (mark.column + 1) if mark else 1,
                    "MC003",
                    f"invalid YAML: {problem}",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([_diag(display, 1, 1, "MC003", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        raise SpecError([_diag(display, 1, 1, "MC006", "file is empty", "a spec starts with `apiVersion:`")])
    builder = _Builder(display, budget=len(text) + ALIAS_SLACK)
    data = builder.build(node)
    if data is None:  # a document with only `---` or `~`
        raise SpecError([_diag(display, 1, 1, "MC006", "file is empty", "a spec starts with `apiVersion:`")])
    return data, node


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


_SCALARS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": lambda n: None,
    # YAML 1.2 booleans only (as the fast path reads them): `yes`/`on` stay strings, and a field
    # that wants a boolean then says so instead of silently reading `on` as true.
    "tag:yaml.org,2002:bool": lambda n: (
        n.value.lower() == "true" if n.value.lower() in ("true", "false") else n.value
    ),
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    # Dates stay text: the spec has no date fields, and text round-trips byte for byte.
    "tag:yaml.org,2002:timestamp": lambda n: n.value,
}


_COLLECTION_TAGS: dict[type[yaml.Node], str] = {
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _unsupported_tag(tag: str) -> str:
    return f"unsupported YAML tag {shown(_tag_name(tag))}"


def shown(text: str, limit: int = 80) -> str:
    """`text` quoted for a message: control characters escaped, long text shortened."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


class _Builder:
    """Node tree -> plain data, rejecting duplicate keys, non-scalar keys and alias explosions."""

    def __init__(self, display: str, budget: int) -> None:
        self.display = display
        self.budget = budget
        self.visited = 0
        self.depth = 0
        self.active: set[int] = set()

    def fail(self, node: yaml.Node, code: str, message: str, hint: str | None = None) -> SpecError:
        mark = node.start_mark
        return SpecError([_diag(self.display, mark.line + 1, mark.column + 1, code, message, hint)])

    def build(self, node: yaml.Node) -> Any:
        self.visited += 1
        if self.visited > self.budget:
            raise self.fail(
                node,
                "MC007",
                "YAML aliases expand to far more data than the file holds (an alias bomb?)",
                "write the repeated parts out or share them with fewer nested aliases",
            )
        if isinstance(node, yaml.ScalarNode):
            make = _SCALARS.get(node.tag)
            if make is not None:
                try:
                    value = make(node)
                except (ValueError, TypeError, IndexError):  # `!!int null`, `!!int ''`: text and tag disagree
                    raise self.fail(
                        node,
                        "MC003",
                        f"{shown(node.value)} is not a valid {_tag_name(node.tag)}",
                        "remove the explicit tag",
                    ) from None
                if isinstance(value, float) and not math.isfinite(value):
                    raise self.fail(node, "MC003", f"{shown(node.value)} is not a finite number")
                return value
            if node.tag == "tag:yaml.org,2002:str":
                return node.value
            raise self.fail(node, "MC003", _unsupported_tag(node.tag), "remove the explicit tag")
        expected = _COLLECTION_TAGS.get(type(node))
        if node.tag != expected:  # `!!python/object`, `!!set`, `!!omap`, `!custom` on a list or map
            raise self.fail(node, "MC003", _unsupported_tag(node.tag), "remove the explicit tag")
        key = id(node)
        if key in self.active:
            raise self.fail(node, "MC007", "recursive YAML alias: a node contains itself")
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                node,
                "MC017",
                f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                "a spec nests about a dozen levels; look for runaway brackets or indentation",
            )
        self.active.add(key)
        self.depth += 1
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item) for item in node.value]
            assert isinstance(node, yaml.MappingNode)  # the only other tag in _COLLECTION_TAGS
            return self.build_mapping(node)
        finally:
            self.depth -= 1
            self.active.discard(key)

    def build_mapping(self, node: yaml.MappingNode) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(
                    key_node, "MC003", "YAML merge keys (`<<`) are not supported", "write the keys out"
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "MC003", "mapping keys must be plain scalars")
            k = self.build(key_node)
            if k in result:
                raise self.fail(
                    key_node,
                    "MC004",
                    f"duplicate key '{key_node.value}'",
                    "YAML keeps only the last value of a repeated key; remove one of them",
                )
            result[k] = self.build(value_node)
        return result


def is_cue_spec(path: Path) -> bool:
    """A `.cue` file, or a directory holding `.cue` files (a CUE package) and no YAML spec."""
    if path.is_file():
        return is_cue_file(path.name)
    if path.is_dir():
        return is_cue_package(DiskTree(path).top_level_files())
    return False


def load_spec(path: str | Path, overlays: Sequence[str | Path] = ()) -> LoadedSpec:
    """Read a spec file or directory (YAML, or CUE evaluated by the CUE toolchain) into plain data
    and a source map, or raise SpecError. `overlays` (YAML specs only) are merged onto it in order,
    see `meshc.spec.overlay`."""
    if overlays:
        from .overlay import apply_overlays, cue_overlay_refused, load_overlay

        if is_cue_spec(Path(path)):
            raise cue_overlay_refused(str(path), str(overlays[0]))
        return apply_overlays(load_spec(path), [load_overlay(o) for o in overlays])
    if is_cue_spec(Path(path)):
        from .cue.spec import load_cue_spec  # the CUE toolchain is only needed for CUE specs

        return load_cue_spec(Path(path), str(path))
    display = str(path)
    sources: list[tuple[str, bytes]] = []
    for file_path, name in spec_files(Path(path), display):
        try:
            sources.append((name, file_path.read_bytes()))
        except OSError as exc:
            raise SpecError(
                [_diag(name, 1, 1, "MC001", f"cannot read file: {exc.strerror}")], usage=True
            ) from None
    return load_sources(sources)


def load_sources(sources: list[tuple[str, bytes]]) -> LoadedSpec:
    """Load a spec from (display name, bytes) pairs: files on disk, or blobs read from git."""
    if not sources:
        raise SpecError([_diag("<input>", 1, 1, "MC001", "no spec files")], usage=True)
    documents: list[tuple[SourceFile, Any]] = []
    errors: list[Diagnostic] = []
    for name, raw in sources:
        try:
            text = read_text(raw, name)
            data = parse_fast(text)
            if data is not None:
                documents.append((SourceFile(name, text=text), data))
                continue
            data, node = parse_yaml(text, name)
        except SpecError as exc:
            errors.extend(exc.diagnostics)
            continue
        documents.append((SourceFile(name, node, text), data))
    if errors:
        raise SpecError(errors)
    return merge_documents(documents)


def merge_documents(documents: list[tuple[SourceFile, Any]]) -> LoadedSpec:
    """One document, or several merged: lists under `spec` concatenate, other sections appear once."""
    if len(documents) == 1:
        source, data = documents[0]
        if not isinstance(data, dict):
            raise SpecError([_not_a_mapping(source)])
        return LoadedSpec(data, SourceMap([source]))
    errors: list[Diagnostic] = []
    merged: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    source_map = SourceMap([source for source, _ in documents])
    for index, (source, data) in enumerate(documents):
        if not isinstance(data, dict):
            errors.append(_not_a_mapping(source))
            continue
        for key, value in data.items():
            if key == "spec":
                continue
            if key not in merged:
                merged[key] = value
            elif merged[key] != value:
                line, column = source.locate((key,))
                errors.append(
                    _diag(
                        source.name,
                        line,
                        column,
                        "MC012",
                        f"'{key}' differs from the first file of the spec ({documents[0][0].name})",
                        "every file of a spec directory must declare the same apiVersion, kind and metadata",
                    )
                )
        part = data.get("spec")
        if part is None:
            continue
        if not isinstance(part, dict):
            line, column = source.locate(("spec",))
            errors.append(_diag(source.name, line, column, "MC009", "'spec' must be a mapping"))
            continue
        for key, value in part.items():
            if isinstance(value, list):
                if key in spec and not isinstance(spec[key], list):
                    errors.append(_conflict(source, key, documents, source_map.section_owner.get(key, 0)))
                    continue
                spec.setdefault(key, []).extend(value)
                source_map.list_origins.setdefault(key, []).append((index, len(value)))
            elif key in spec:
                errors.append(_conflict(source, key, documents, source_map.section_owner.get(key, 0)))
            else:
                spec[key] = value
                source_map.section_owner[key] = index
    if errors:
        raise SpecError(errors)
    merged["spec"] = spec
    return LoadedSpec(merged, source_map)


def _not_a_mapping(source: SourceFile) -> Diagnostic:
    return _diag(
        source.name, 1, 1, "MC009", "a spec must be a mapping with apiVersion, kind, metadata and spec"
    )


def _conflict(
    source: SourceFile, key: str, documents: list[tuple[SourceFile, Any]], owner: int
) -> Diagnostic:
    line, column = source.locate(("spec", key))
    return _diag(
        source.name,
        line,
        column,
        "MC012",
        f"'spec.{key}' is also defined in {documents[owner][0].name}",
        "a section other than a list may appear in only one file of a spec directory",
    )
