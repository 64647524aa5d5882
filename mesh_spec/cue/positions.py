"""Best-effort mapping of a data path (`services.reviews.ports[0].port`) to a line in CUE/JSON/YAML source.

CUE v0.4's CLI never prints the source position of a *value* (`cue eval`, `cue def`, `cue export
--out cue` and `--show-attributes` print values only; positions appear only in error messages), so
when meshc needs "where did the user write this?" for a value CUE accepted, or for a CUE error
that came without a position (`incomplete value`, `incompatible list lengths`), it scans the
source text itself.

For CUE (and JSON, which is CUE syntax) this is a small lexer plus a label tracker; it understands

* nested structs and the label shorthand: `services: reviews: ports: [{port: 9080}]`,
* quoted labels (`"svc-0001": {...}`), aliases (`X=label: ...`), and label chains over newlines,
* lists with explicit or newline-elided commas, index by index,
* comments, strings (incl. `\"\"\"` multi-line, `#"raw"#`, and `\\(interpolations)`).

Limits (it is a label scanner, not an evaluator):

* fields produced by evaluation are not found: pattern constraints (`[Name=string]: {...}`),
  optional fields (`port?: int`), defaults from a schema, list ellipsis (`[...{...}]`),
  comprehensions (`for`, `if`), references (`a: b`), embedded definitions (`#Svc & {...}`),
  dynamic labels (`(k): v`), and interpolated labels (`"\\(k)": v`);
* when a path is declared in several places (CUE unifies them) every place is returned, in
  source order; callers usually take the first;
* a path inside a `let` value or a definition is never matched (data paths do not contain them).

For YAML, PyYAML's node marks are used (exact, character-based columns).

Positions are 1-based; columns count characters (not bytes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from meshc.spec.source import PathItem


@dataclass(frozen=True)
class SourcePosition:
    file: str
    line: int
    column: int


# ---------------------------------------------------------------------------------------------
# Paths


_PATH_TOKEN = re.compile(
    r"""
      (?P<dot>\.)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | \[\s*(?P<index>\d+)\s*\]
    | \[\s*(?P<bracket_quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\]
    | (?P<plain>[^.\[\]"\s]+)
    """,
    re.VERBOSE,
)


def parse_path(text: str) -> tuple[PathItem, ...]:
    """Parse `services.reviews.ports[0].port`, CUE's `services.reviews.ports.0.port`,
    or `services."svc-1".ports.0` into ("services", "reviews", "ports", 0, "port").

    Unquoted all-digit segments are list indices (CUE error paths print them that way); a field
    whose name is digits is written quoted (`"0"`) by CUE.
    """
    items: list[PathItem] = []
    text = text.strip()
    pos = 0
    need_dot = False  # after a name, only `.` or `[` may follow
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"invalid path {text!r} at offset {pos}")
        if m.group("dot") is not None:
            if not need_dot:
                raise ValueError(f"invalid path {text!r}: empty segment at offset {pos}")
            need_dot = False
        elif m.group("index") is not None:
            if not items:
                raise ValueError(f"invalid path {text!r}: starts with an index")
            items.append(int(m.group("index")))
            need_dot = True
        elif m.group("bracket_quoted") is not None:
            items.append(_unquote(m.group("bracket_quoted")))
            need_dot = True
        else:
            if need_dot:
                raise ValueError(f"invalid path {text!r}: missing '.' at offset {pos}")
            if m.group("quoted") is not None:
                items.append(_unquote(m.group("quoted")))
            else:
                plain = m.group("plain")
                items.append(int(plain) if plain.isdigit() else plain)
            need_dot = True
        pos = m.end()
    if text and not need_dot:
        raise ValueError(f"invalid path {text!r}: trailing '.'")
    return tuple(items)


def format_path(path: Sequence[PathItem]) -> str:
    """("services", "svc-1", "ports", 0) -> `services."svc-1".ports[0]`."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            seg = item if re.fullmatch(r"[#_$A-Za-z][\w$]*", item) else json.dumps(item)
            out += ("." if out else "") + seg
    return out


def _unquote(text: str) -> str:
    if text.startswith('"'):
        try:
            value = json.loads(text)
            if isinstance(value, str):
                return value
        except ValueError:
            pass
    return text[1:-1]


# ---------------------------------------------------------------------------------------------
# CUE lexer (just enough for labels)


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "string", "number", "punct", "other"
    text: str
    offset: int
    nl_before: bool


_IDENT = re.compile(r"[#_$]*[\w$]*")
_NUMBER = re.compile(
    r"0[xXoObB][0-9a-fA-F_]+"
    r"|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?(?:[KMGTP]i?)?"
    r"|\.\d[\d_]*(?:[eE][+-]?\d+)?"
)
_RAW_START = re.compile(r"#+[\"']")
_PUNCT3 = ("...",)
_PUNCT2 = ("&&", "||", "==", "!=", "<=", ">=", "=~", "!~", "<-", "_|_")
_PUNCT1 = set("{}[]():,?!=&|<>+-*/.@")
_VALUE_END_PUNCT = {")", "]", "}", "..."}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[_Token] = []

    def run(self) -> list[_Token]:
        text = self.text
        n = len(text)
        nl = False
        while self.pos < n:
            c = text[self.pos]
            if c == "\n":
                nl = True
                self.pos += 1
            elif c in " \t\r\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif c == '"' or c == "'" or (c == "#" and self._raw_string_start()):
                start = self.pos
                self._skip_string()
                self.tokens.append(_Token("string", text[start : self.pos], start, nl))
                nl = False
            elif c.isalpha() or c in "_$#":
                m = _IDENT.match(text, self.pos)
                end = m.end() if m and m.end() > self.pos else self.pos + 1
                self.tokens.append(_Token("ident", text[self.pos : end], self.pos, nl))
                self.pos = end
                nl = False
            elif c.isdigit() or (c == "." and self.pos + 1 < n and text[self.pos + 1].isdigit()):
                m = _NUMBER.match(text, self.pos)
                end = m.end() if m and m.end() > self.pos else self.pos + 1
                self.tokens.append(_Token("number", text[self.pos : end], self.pos, nl))
                self.pos = end
                nl = False
            else:
                for group in (_PUNCT3, _PUNCT2):
                    hit = next((p for p in group if text.startswith(p, self.pos)), None)
                    if hit:
                        break
                else:
                    hit = c if c in _PUNCT1 else None
                kind = "punct" if hit else "other"
                tok = hit or c
                self.tokens.append(_Token(kind, tok, self.pos, nl))
                self.pos += len(tok)
                nl = False
        return self.tokens

    def _raw_string_start(self) -> bool:
        return _RAW_START.match(self.text, self.pos) is not None

    def _skip_string(self) -> None:
        text = self.text
        hashes = 0
        while text[self.pos] == "#":
            hashes += 1
            self.pos += 1
        quote = text[self.pos]
        multi = text.startswith(quote * 3, self.pos)
        closing = (quote * 3 if multi else quote) + "#" * hashes
        self.pos += 3 if multi else 1
        escape = "\\" + "#" * hashes
        n = len(text)
        while self.pos < n:
            if text.startswith(closing, self.pos):
                self.pos += len(closing)
                return
            if text.startswith(escape, self.pos):
                self.pos += len(escape)
                if self.pos < n and text[self.pos] == "(":
                    self._skip_interpolation()
                else:
                    self.pos += 1
                continue
            if text[self.pos] == "\n" and not multi:
                return  # unterminated single-line string: give up on it
            self.pos += 1

    def _skip_interpolation(self) -> None:
        text = self.text
        depth = 0
        n = len(text)
        while self.pos < n:
            c = text[self.pos]
            if c == "(":
                depth += 1
                self.pos += 1
            elif c == ")":
                depth -= 1
                self.pos += 1
                if depth == 0:
                    return
            elif c in "\"'" or (c == "#" and self._raw_string_start()):
                self._skip_string()
            else:
                self.pos += 1


# ---------------------------------------------------------------------------------------------
# Label tracking

_WILD = object()  # a path segment that matches nothing (pattern constraints, optional fields, ...)
_Seg = str | int | object


@dataclass
class _Frame:
    kind: str  # "struct", "list", "paren"
    base: tuple[_Seg, ...]
    chain: list[_Seg] = field(default_factory=list)
    expect_label: bool = True
    index: int = 0
    element_started: bool = False
    element_wild: bool = False


def _is_value_end(tok: _Token) -> bool:
    return tok.kind in ("ident", "string", "number") or tok.text in _VALUE_END_PUNCT


def cue_labels(text: str) -> list[tuple[tuple[_Seg, ...], int]]:
    """Every declared field/list element: (full path, character offset of its label/element)."""
    tokens = _Lexer(text).run()
    out: list[tuple[tuple[_Seg, ...], int]] = []
    stack: list[_Frame] = [_Frame("struct", ())]
    prev: _Token | None = None
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        frame = stack[-1]
        # automatic comma at a newline after a value-ending token
        if tok.nl_before and prev is not None and _is_value_end(prev):
            _separator(frame)
        if frame.kind == "list" and not frame.element_started and tok.text not in (",", "]"):
            frame.element_started = True
            frame.element_wild = tok.text in ("...", "for", "if", "let")
            if not frame.element_wild:
                out.append(((*frame.base, frame.index), tok.offset))
        if frame.kind == "struct":
            label = _match_label(tokens, i)
            if label is not None:
                seg, label_tok_index, colon_index = label
                path = (*frame.base, *frame.chain, seg)
                if seg is not _WILD and _WILD not in path:
                    out.append((path, tokens[label_tok_index].offset))
                frame.chain.append(seg)
                frame.expect_label = True
                prev = tokens[colon_index]
                i = colon_index + 1
                continue
        if tok.text in ("{", "[", "("):
            cur = _current_path(frame)
            if tok.text == "{":
                stack.append(_Frame("struct", cur))
            elif tok.text == "[":
                stack.append(_Frame("list", cur))
            else:
                stack.append(_Frame("paren", cur))
            frame.expect_label = False
        elif tok.text in ("}", "]", ")"):
            if len(stack) > 1:
                stack.pop()
        elif tok.text == ",":
            _separator(frame)
        elif frame.kind == "struct":
            if tok.text == "let" and tok.kind == "ident" and frame.expect_label:
                frame.chain.append(_WILD)  # `let x = {...}`: not data
            frame.expect_label = False
        prev = tok
        i += 1
    return out


def _current_path(frame: _Frame) -> tuple[_Seg, ...]:
    if frame.kind == "list":
        if frame.element_wild:
            return (*frame.base, _WILD)
        return (*frame.base, frame.index)
    return (*frame.base, *frame.chain)


def _separator(frame: _Frame) -> None:
    if frame.kind == "struct":
        frame.chain.clear()
        frame.expect_label = True
    elif frame.kind == "list":
        if frame.element_started:
            frame.index += 1
        frame.element_started = False
        frame.element_wild = False


def _match_label(tokens: list[_Token], i: int) -> tuple[_Seg, int, int] | None:
    """At tokens[i], is there `label:` / `label?:` / `X=label:` / `[pattern]:` / `(expr):`?

    Returns (segment, index of the label token, index of the colon).
    """
    tok = tokens[i]
    n = len(tokens)
    if (
        tok.kind == "ident"
        and i + 2 < n
        and tokens[i + 1].text == "="
        and tokens[i + 2].kind
        in (
            "ident",
            "string",
        )
    ):
        # alias: X=label: value
        inner = _match_label(tokens, i + 2)
        return inner
    if tok.kind in ("ident", "string"):
        j = i + 1
        optional = False
        if j < n and tokens[j].text in ("?", "!"):
            optional = tokens[j].text == "?"
            j += 1
        if j < n and tokens[j].text == ":":
            if tok.kind == "string":
                if tok.text.startswith('"') and not tok.text.startswith('"""'):
                    seg: _Seg = _WILD if "\\(" in tok.text else _unquote(tok.text)
                else:
                    seg = _WILD
            else:
                seg = tok.text
            if optional:
                seg = _WILD
            return seg, i, j
        return None
    if tok.text in ("[", "("):
        # pattern constraint / dynamic label: find the matching bracket, then ':'
        close = "]" if tok.text == "[" else ")"
        depth = 0
        for j in range(i, n):
            t = tokens[j].text
            if t in ("[", "(", "{"):
                depth += 1
            elif t in ("]", ")", "}"):
                depth -= 1
                if depth == 0:
                    if t != close:
                        return None
                    k = j + 1
                    if k < n and tokens[k].text in ("?", "!"):
                        k += 1
                    if k < n and tokens[k].text == ":":
                        return _WILD, i, k
                    return None
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Public lookups


def declared_paths(text: str) -> list[tuple[tuple[PathItem, ...], int]]:
    """Every concrete path CUE/JSON `text` writes, with the character offset of its label/element."""
    out: list[tuple[tuple[PathItem, ...], int]] = []
    for declared, offset in cue_labels(text):
        if all(isinstance(seg, str | int) for seg in declared):
            out.append((tuple(seg for seg in declared if isinstance(seg, str | int)), offset))
    return out


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def _matches(declared: tuple[_Seg, ...], wanted: tuple[PathItem, ...]) -> bool:
    if len(declared) != len(wanted):
        return False
    for d, w in zip(declared, wanted, strict=True):
        if d is _WILD:
            return False
        if isinstance(w, int):
            if not (isinstance(d, int) and d == w):
                return False
        elif d != w:
            return False
    return True


def find_in_cue(text: str, path: Sequence[PathItem], *, file: str = "<input>") -> list[SourcePosition]:
    """All places in CUE (or JSON) source `text` that declare exactly `path` (label positions)."""
    wanted = tuple(path)
    hits: list[SourcePosition] = []
    for declared, offset in cue_labels(text):
        if _matches(declared, wanted):
            line, col = _line_col(text, offset)
            hits.append(SourcePosition(file, line, col))
    return hits


def find_in_yaml(
    text: str, path: Sequence[PathItem], *, file: str = "<input>", value: bool = True
) -> SourcePosition | None:
    """Position of `path` in YAML `text`: its value node (value=True, where CUE points) or its key."""
    try:
        docs = list(yaml.compose_all(text))
    except yaml.YAMLError:
        return None
    for root in docs:
        node: yaml.Node | None = root
        key_node: yaml.Node | None = None
        for item in path:
            if isinstance(node, yaml.MappingNode):
                found = None
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(item):
                        found = (k, v)
                        break
                if found is None:
                    node = None
                    break
                key_node, node = found
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value)
            ):
                key_node = None
                node = node.value[item]
            else:
                node = None
                break
        if node is not None:
            mark = (node if value or key_node is None else key_node).start_mark
            return SourcePosition(file, mark.line + 1, mark.column + 1)
    return None


def locate(
    files: Iterable[str | Path],
    path: Sequence[PathItem] | str,
    *,
    ancestors: bool = False,
) -> SourcePosition | None:
    """First declaration of `path` across `files` (.cue, .json, .yaml/.yml), or None.

    With `ancestors=True`, fall back to the deepest declared ancestor of `path` (e.g. the service's
    block when a field came from a schema default).
    """
    wanted = parse_path(path) if isinstance(path, str) else tuple(path)
    texts: list[tuple[str, str]] = []
    for f in files:
        try:
            texts.append((str(f), Path(f).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    lowest = 1 if ancestors else len(wanted)
    for depth in range(len(wanted), lowest - 1, -1):
        prefix = wanted[:depth]
        for name, text in texts:
            if name.endswith((".yaml", ".yml")):
                hit = find_in_yaml(text, prefix, file=name, value=False)
                if hit is not None:
                    return hit
            else:
                hits = find_in_cue(text, prefix, file=name)
                if hits:
                    return hits[0]
    return None
