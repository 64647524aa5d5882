"""Evaluate CRD ``x-kubernetes-validations`` CEL rules with celpy, memoized.

Why this is built the way it is:

- celpy is a tree-walking interpreter, and one evaluation takes about 0.3-1 ms. A mesh with
  10,000 services has several hundred thousand rule sites. Evaluating each one would take
  minutes, so results are memoized. Validation is a pure function of the subtree the rule sees,
  so reusing a result is safe.
- Keying the memo on the whole subtree is not enough. A rule on ``spec`` sees each resource's
  whole, unique spec. A rule on a label value sees each service's name. So each rule is first
  analysed statically (on celpy's own parse tree) to find *what it can observe* of ``self``:
    * ``has(self.a.b)``: only whether ``b`` is present in ``self.a``;
    * ``self.a.contains("*")``, ``startsWith``/``endsWith`` with a string literal, and
      ``self.a == "lit"``, ``!= "lit"``, ``in ["lit", ...]``: only the boolean outcome
      (when the value is a string);
    * ``self.a.all(k, body)`` (also exists/exists_one) when ``body`` does not mention ``self``:
      only the map's keys;
    * ``size(self.a)`` / ``self.a.size()``, also through ``c ? self.a : {}``: only the size;
    * any other use of ``self.a`` sees the whole value at ``a``, and a bare ``self`` sees
      everything.
  The memo key is the tuple of those observations. Two subtrees with equal observations give
  the same result, because the rule reads ``self`` only through them. On a miss celpy evaluates
  the rule on the real subtree. Nothing is guessed from a stand-in value.
  ``tests/test_selfcheck.py`` compares the memoized results with an unmemoized celpy run.
  On a synthetic 10,000-service mesh (100k resources) this takes ~22 celpy evaluations in all.
- Rules that use ``oldSelf`` are transition rules. The API server evaluates them only on
  update, never on create, so they are skipped (and listed by ``skipped_cel_rules()``). A rule
  that calls a function we do not provide is listed there as well, and it is not evaluated. A
  skipped rule is never counted as passed without notice.
- ``self`` is built from the JSON data the way Kubernetes types it from the schema:
  ``number`` fields become doubles even when written as ``1``, ``format: byte`` strings become
  bytes, and ``date-time`` strings become timestamps.
- A failed rule reports its ``message`` (``messageExpression`` is not evaluated; no Istio rule
  has one) and its ``fieldPath`` if any. An evaluation error is reported as a failure, as the
  API server does.

Known celpy differences (no Istio 1.30.3 rule depends on them): ``has(a.b)`` is false, not an
error, when ``a`` itself is missing. ``exists_one`` counts an element that errors as a match.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import itertools
import os
import pickle
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from . import diskcache

if TYPE_CHECKING:
    import celpy
    import lark
    from celpy import celtypes
    from celpy.evaluation import CELEvalError

    from .celext import K8S_FUNCTIONS

# Macros handled by celpy's parser/evaluator itself (not looked up as functions).
_MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter", "dyn"})
_KNOWN_FUNCTIONS: frozenset[str] = frozenset()

_LAZY = frozenset({"celpy", "lark", "celtypes", "CELEvalError", "K8S_FUNCTIONS"})
"""celpy and lark (~0.1 s to import, more to build the CEL lexer) are imported on first use: a
rule's analysis and its results on the values already seen are kept on disk (`_persisted`), so a
run that meets only known rules and known values (`meshc validate` on every save of a spec)
never loads them."""


def _load_celpy() -> None:
    global celpy, lark, celtypes, CELEvalError, K8S_FUNCTIONS, _KNOWN_FUNCTIONS
    if _KNOWN_FUNCTIONS:
        return
    import celpy as celpy_module
    import lark as lark_module
    from celpy import celtypes as celtypes_module
    from celpy.evaluation import CELEvalError as eval_error
    from celpy.evaluation import base_functions

    from .celext import K8S_FUNCTIONS as k8s_functions

    celpy, lark, celtypes = celpy_module, lark_module, celtypes_module
    CELEvalError = eval_error  # type: ignore[misc]
    K8S_FUNCTIONS = k8s_functions
    _KNOWN_FUNCTIONS = frozenset(base_functions) | frozenset(K8S_FUNCTIONS) | _MACROS


def __getattr__(name: str) -> Any:
    """`cel.lark`, `cel.CELEvalError`, ... for callers outside: loaded on first access."""
    if name in _LAZY:
        _load_celpy()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Parse-tree nodes that just wrap one child.
_PASSTHROUGH = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
        "paren_expr",
    }
)
_STRING_PREDICATES = frozenset({"contains", "startsWith", "endsWith"})
_KEY_MACROS = frozenset({"all", "exists", "exists_one"})

_ENV_LOCK = threading.Lock()
_ENV: celpy.Environment | None = None


def _env() -> celpy.Environment:
    global _ENV
    _load_celpy()
    with _ENV_LOCK:
        if _ENV is None:
            _seed_parser_from_cache()
            _ENV = celpy.Environment()
        return _ENV


def celpy_parser_options() -> dict[str, Any]:
    """The options celpy 0.5's ``CELParser`` builds its lark parser with (InterpretedRunner).
    A test checks that they still match celpy's."""
    _load_celpy()
    from celpy.celparser import CELParser

    return {
        "parser": "lalr",
        "start": "expr",
        "debug": True,
        "g_regex_flags": re.M,
        "lexer_callbacks": {"IDENT": CELParser.ambiguous_literals},
        "propagate_positions": True,
        "maybe_placeholders": False,
        "priority": "invert",
        "tree_class": lark.Tree,
    }


def _seed_parser_from_cache() -> None:
    """Give celpy its parser from lark's on-disk cache (~15 ms) rather than have it build the
    LALR tables (~300 ms) on every run. It is the same grammar with the same options, and lark
    itself checks the cache against the grammar, options and versions. Any problem falls back
    to celpy building the parser as usual."""
    from celpy.celparser import CELParser

    if CELParser.CEL_PARSER is not None:
        return
    directory = diskcache.cache_dir()
    if directory is None:
        return
    try:
        grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
        tag = hashlib.sha256(f"{grammar}|{lark.__version__}|{sys.version_info[:2]}".encode()).hexdigest()[:16]
        final = directory / f"lark-cel-{tag}.pickle"
        if final.exists():
            parser = lark.Lark(grammar, cache=str(final), **celpy_parser_options())
        else:
            tmp = directory / f".lark-cel-{os.getpid()}-{threading.get_ident()}.tmp"
            parser = lark.Lark(grammar, cache=str(tmp), **celpy_parser_options())
            if tmp.exists():
                os.replace(tmp, final)
                diskcache.prune(_PARSER_FAMILY, tag)
    except Exception:  # the cache is only an optimisation
        return
    CELParser.CEL_PARSER = parser


# ---------------------------------------------------------------------------------------------
# Static analysis: what of `self` can a rule observe?
# ---------------------------------------------------------------------------------------------

# An observation is one of:
#   ("val", path)                 whole value at path
#   ("has", path)                 presence of path[-1] in the map at path[:-1]
#   ("pred", path, op, literal)   op in contains/startsWith/endsWith/eq/ne; literal is a str
#   ("in", path, literals)        value in a tuple of str literals
#   ("keys", path)                the keys of the map at path
#   ("size", path)                only the size of the value at path
Observation = tuple[Any, ...]


def _unwrap(node: Any) -> Any:
    while (
        isinstance(node, lark.Tree)
        and node.data in _PASSTHROUGH
        and len(node.children) == 1
        and isinstance(node.children[0], lark.Tree)
    ):
        node = node.children[0]
    return node


def _self_chain(node: Any) -> tuple[str, ...] | None:
    """``self.f1.f2...`` -> ("f1", "f2", ...); ``self`` -> (); anything else -> None."""
    n = _unwrap(node)
    if not isinstance(n, lark.Tree):
        return None
    if n.data == "ident" and len(n.children) == 1 and str(n.children[0]) == "self":
        return ()
    if n.data == "member_dot" and len(n.children) == 2:
        base = _self_chain(n.children[0])
        if base is not None:
            return (*base, str(n.children[1]))
    return None


def _string_literal(node: Any) -> str | None:
    """A plain single- or double-quoted string literal without escapes, else None."""
    n = _unwrap(node)
    if not (isinstance(n, lark.Tree) and n.data == "literal" and len(n.children) == 1):
        return None
    tok = n.children[0]
    if not isinstance(tok, lark.Token) or tok.type != "STRING_LIT":
        return None
    text = str(tok)
    if len(text) < 2 or text[0] not in "'\"" or text[-1] != text[0] or "\\" in text:
        return None
    return text[1:-1]


def _list_of_string_literals(node: Any) -> tuple[str, ...] | None:
    n = _unwrap(node)
    if not (isinstance(n, lark.Tree) and n.data == "list_lit"):
        return None
    if not n.children or n.children[0] is None:
        return ()
    items = n.children[0].children if isinstance(n.children[0], lark.Tree) else []
    out = []
    for item in items:
        lit = _string_literal(item)
        if lit is None:
            return None
        out.append(lit)
    return tuple(out)


def _mentions_self(node: Any) -> bool:
    if isinstance(node, lark.Token):
        return node.type == "IDENT" and str(node) == "self"
    if isinstance(node, lark.Tree):
        return any(_mentions_self(c) for c in node.children)
    return False


def _args(node: lark.Tree, start: int) -> list[Any]:
    rest = node.children[start:]
    if not rest or rest[0] is None:
        return []
    exprlist = rest[0]
    return list(exprlist.children) if isinstance(exprlist, lark.Tree) else []


class _Analyzer:
    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.whole = False
        self.functions: set[str] = set()
        self.uses_old_self = False

    def visit(self, node: Any, ctx: str | None = None) -> None:
        """Record observations of ``self`` under ``node``.

        ``ctx == "size"`` means that only the size of ``node``'s value is used, as in
        ``(c ? self.a : {}).size()``.
        """
        if isinstance(node, lark.Token):
            if node.type == "IDENT" and str(node) == "oldSelf":
                self.uses_old_self = True
            return
        if not isinstance(node, lark.Tree):
            return
        u = _unwrap(node)
        chain = _self_chain(u)
        if chain is not None:
            self._observe(("size", chain) if ctx == "size" else ("val", chain))
            return
        if ctx == "size" and u.data == "expr" and len(u.children) == 3:
            cond, then, other = u.children
            self.visit(cond)
            self.visit(then, "size")
            self.visit(other, "size")
            return
        if u.data == "ident_arg":
            name = str(u.children[0])
            self.functions.add(name)
            args = _args(u, 1)
            if name == "has" and len(args) == 1:
                c = _self_chain(args[0])
                if c is not None and len(c) >= 1:
                    self._observe(("has", c))
                    return
            if name == "size" and len(args) == 1:
                self.visit(args[0], "size")
                return
        elif u.data == "member_dot_arg":
            recv, meth = u.children[0], str(u.children[1])
            self.functions.add(meth)
            args = _args(u, 2)
            if meth == "size" and not args:
                self.visit(recv, "size")
                return
            c = _self_chain(recv)
            if c is not None:
                if meth in _STRING_PREDICATES and len(args) == 1:
                    lit = _string_literal(args[0])
                    if lit is not None:
                        self._observe(("pred", c, meth, lit))
                        return
                if meth in _KEY_MACROS and len(args) == 2:
                    var_name = _ident_name(args[0])
                    if var_name and var_name != "self" and not _mentions_self(args[1]):
                        self._observe(("keys", c))
                        self.visit(args[1])  # only to collect function names
                        return
            if meth in _KEY_MACROS | {"map", "filter"} and args and _ident_name(args[0]) == "self":
                # A macro re-binding `self` would defeat the analysis: observe everything.
                self.whole = True
        elif u.data == "relation" and len(u.children) == 2:
            op_node, right = u.children
            if isinstance(op_node, lark.Tree) and op_node.data in (
                "relation_eq",
                "relation_ne",
                "relation_in",
            ):
                left = op_node.children[0]
                c = _self_chain(left)
                if c is not None:
                    if op_node.data == "relation_in":
                        lits = _list_of_string_literals(right)
                        if lits is not None:
                            self._observe(("in", c, lits))
                            return
                    else:
                        lit = _string_literal(right)
                        if lit is not None:
                            self._observe(("pred", c, op_node.data[len("relation_") :], lit))
                            return
                c = _self_chain(right)
                if c is not None and op_node.data != "relation_in":
                    lit = _string_literal(left)
                    if lit is not None:
                        self._observe(("pred", c, op_node.data[len("relation_") :], lit))
                        return
        for child in u.children:
            self.visit(child)

    def _observe(self, obs: Observation) -> None:
        if obs[0] == "val" and obs[1] == ():
            self.whole = True
        if obs not in self.observations:
            self.observations.append(obs)


def _ident_name(node: Any) -> str | None:
    n = _unwrap(node)
    if isinstance(n, lark.Tree) and n.data == "ident" and len(n.children) == 1:
        return str(n.children[0])
    return None


# ---------------------------------------------------------------------------------------------
# Runtime: observation keys and evaluation
# ---------------------------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys); distinguishes 1, 1.0 and true."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an int beyond 64 bits
        import json

        return json.dumps(value, sort_keys=True, default=repr).encode()


_NOT_FOUND = object()


def _resolve(value: Any, path: tuple[str, ...]) -> Any:
    cur = value
    for f in path:
        if isinstance(cur, dict) and f in cur:
            cur = cur[f]
        else:
            return _NOT_FOUND
    return cur


def _describe(value: Any, path: tuple[str, ...]) -> tuple[Any, ...]:
    """Why ``path`` does not resolve in ``value``: where it stops, and on what."""
    cur = value
    for i, f in enumerate(path):
        if not isinstance(cur, dict):
            return ("nonmap", i, canonical(cur))
        if f not in cur:
            return ("missing", i)
        cur = cur[f]
    return ("ok",)  # pragma: no cover - only called when the path does not resolve


def _value_token(cur: Any) -> Any:
    return cur if isinstance(cur, str) else canonical(cur)


def _constant_key(value: Any) -> Any:
    return ()


Observer = Callable[[Any], Any]

# What an observer returns. Within one observation, different outcomes never compare equal,
# and the common outcomes are cheap enough for generated code to compute inline
# (``ruletree.inline_key``):
#   has:  bool                            | marker tuple (path does not resolve / not a map)
#   pred, in: bool (value is a string)    | value token | marker tuple
#   keys: tuple of the map's keys (str)   | value token | marker tuple
#   size: int                             | value token | marker tuple
#   val:  value token                     | marker tuple
# value token: the str itself, else canonical JSON bytes. Marker tuples hold an int, so they
# never equal a tuple of keys.


def make_observer(obs: Observation) -> Observer:
    """A function computing one observation of ``self``; the memo key is the tuple of them."""
    kind, path = obs[0], obs[1]
    if kind == "has":
        parent, last = path[:-1], path[-1]

        def observe_has(v: Any) -> Any:
            cur = _resolve(v, parent) if parent else v
            if cur is _NOT_FOUND:
                return _describe(v, parent)
            if isinstance(cur, dict):
                return last in cur
            return ("nonmap", canonical(cur))

        return observe_has

    def resolved(v: Any) -> Any:
        return _resolve(v, path) if path else v

    if kind == "pred":
        op, lit = obs[2], obs[3]
        test: Callable[[str], bool] = {
            "contains": lambda s: lit in s,
            "startsWith": lambda s: s.startswith(lit),
            "endsWith": lambda s: s.endswith(lit),
            "eq": lambda s: s == lit,
            "ne": lambda s: s != lit,
        }[op]

        def observe_pred(v: Any) -> Any:
            cur = resolved(v)
            if isinstance(cur, str):
                return test(cur)
            return _describe(v, path) if cur is _NOT_FOUND else _value_token(cur)

        return observe_pred
    if kind == "in":
        lits = frozenset(obs[2])

        def observe_in(v: Any) -> Any:
            cur = resolved(v)
            if isinstance(cur, str):
                return cur in lits
            return _describe(v, path) if cur is _NOT_FOUND else _value_token(cur)

        return observe_in
    if kind == "keys":

        def observe_keys(v: Any) -> Any:
            cur = resolved(v)
            if isinstance(cur, dict):
                return tuple(cur)
            return _describe(v, path) if cur is _NOT_FOUND else _value_token(cur)

        return observe_keys
    if kind == "size":

        def observe_size(v: Any) -> Any:
            cur = resolved(v)
            if isinstance(cur, str | list | dict):
                return len(cur)
            return _describe(v, path) if cur is _NOT_FOUND else _value_token(cur)

        return observe_size

    def observe_val(v: Any) -> Any:
        cur = resolved(v)
        return _describe(v, path) if cur is _NOT_FOUND else _value_token(cur)

    return observe_val


# ---------------------------------------------------------------------------------------------
# Schema-typed conversion of JSON data to CEL values (what Kubernetes does)
# ---------------------------------------------------------------------------------------------


def schema_is_type_sensitive(schema: Mapping[str, Any]) -> bool:
    """True if converting data under this schema differs from plain JSON->CEL conversion."""
    if schema.get("type") == "number":
        return True
    if schema.get("type") == "string" and schema.get("format") in ("byte", "date-time", "date", "duration"):
        return True
    props = schema.get("properties")
    if isinstance(props, Mapping) and any(schema_is_type_sensitive(p) for p in props.values()):
        return True
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, Mapping) and schema_is_type_sensitive(sub):
            return True
    return False


def to_cel(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """JSON value -> celpy value, typed by the (original, structural) schema when known."""
    _load_celpy()
    return _to_cel(value, schema)


def _to_cel(value: Any, schema: Mapping[str, Any] | None) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, dict):
        props = schema.get("properties") if schema else None
        addl = schema.get("additionalProperties") if schema else None
        out: dict[Any, Any] = {}
        for k, v in value.items():
            sub: Mapping[str, Any] | None = None
            if isinstance(props, Mapping) and k in props:
                sub = props[k]
            elif isinstance(addl, Mapping):
                sub = addl
            out[celtypes.StringType(k)] = _to_cel(v, sub)
        return celtypes.MapType(out)
    if isinstance(value, list):
        items = schema.get("items") if schema else None
        return celtypes.ListType([_to_cel(v, items if isinstance(items, Mapping) else None) for v in value])
    stype = schema.get("type") if schema else None
    if isinstance(value, int):
        return celtypes.DoubleType(value) if stype == "number" else celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        fmt = schema.get("format") if schema and stype == "string" else None
        if fmt == "byte":
            try:
                return celtypes.BytesType(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                return celtypes.StringType(value)  # schema validation reports the bad base64
        if fmt in ("date-time", "date"):
            try:
                return celtypes.TimestampType(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                return celtypes.StringType(value)
        return celtypes.StringType(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


# ---------------------------------------------------------------------------------------------
# Compiled rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedRule:
    """A CEL rule that is not evaluated, and why."""

    rule: str
    reason: str


_MAX_MEMO = 200_000


@dataclass
class CompiledRule:
    """One ``x-kubernetes-validations`` entry, compiled once and shared by every site."""

    rule: str
    message: str
    field_path: str | None
    program: Any | None  # celpy Runner; None when skipped, or not compiled yet (see `_program`)
    observations: tuple[Observation, ...]
    whole: bool
    skip_reason: str | None = None
    # memo key -> None (passed) or an error message
    memo: dict[Any, str | None] = field(default_factory=dict)
    evaluations: int = 0
    observers: tuple[Observer, ...] = ()

    def __post_init__(self) -> None:
        self.observers = tuple(make_observer(o) for o in self.observations)

    def key(self, value: Any) -> Any:
        """Memo key: equal keys imply equal results (see the module docstring)."""
        if self.whole:
            return _value_token(value)
        obs = self.observers
        if len(obs) == 1:
            return obs[0](value)
        return tuple([f(value) for f in obs])

    def key_function(self) -> Callable[[Any], Any]:
        """``key`` as a plain function, without the dispatch (for generated walkers)."""
        if self.whole:
            return _value_token
        if len(self.observers) == 1:
            return self.observers[0]
        if not self.observers:
            return _constant_key
        observers = self.observers

        def key(value: Any) -> Any:
            return tuple([f(value) for f in observers])

        return key

    def check(self, value: Any, schema: Mapping[str, Any] | None) -> str | None:
        """None if the rule holds for ``value`` (``self``), else an error message."""
        if self.skip_reason is not None:
            return None
        k = self.key(value)
        try:
            return self.memo[k]
        except KeyError:
            pass
        result = self._evaluate(value, schema)
        if len(self.memo) >= _MAX_MEMO:
            self.memo.clear()  # bound memory on pathological input; results stay correct
        self.memo[k] = result
        return result

    def _program(self) -> Any:
        """The celpy program, compiled on the first evaluation of a rule whose analysis came from
        the disk (`_persisted`)."""
        if self.program is None:
            env = _env()
            self.program = env.program(env.compile(self.rule), functions=dict(K8S_FUNCTIONS))
        return self.program

    def _evaluate(self, value: Any, schema: Mapping[str, Any] | None) -> str | None:
        self.evaluations += 1
        _STATE.dirty = True
        try:
            out = self._program().evaluate({"self": to_cel(value, schema)})
        except CELEvalError as ex:
            return f"{self.message}: rule evaluation error: {_eval_error_text(ex)} (rule: {self.rule})"
        except Exception as ex:  # celpy internal failure: report, never pass silently
            return f"{self.message}: celpy could not evaluate the rule: {ex!r} (rule: {self.rule})"
        if isinstance(out, CELEvalError):
            return f"{self.message}: rule evaluation error: {_eval_error_text(out)} (rule: {self.rule})"
        if not isinstance(out, celtypes.BoolType):
            return f"rule did not evaluate to a bool ({out!r}) (rule: {self.rule})"
        if bool(out):
            return None
        return f"{self.message} (rule: {self.rule})"


_INNER_ERROR = re.compile(r"""CELEvalError\(\*\((["'])(.*?)\1""")


def _eval_error_text(ex: BaseException) -> str:
    """celpy's message, or for errors wrapped by ``&&``/``||`` ("no matching overload ...
    applied to (CELEvalError, ...)") the innermost real error."""
    text = str(ex.args[0]) if ex.args else repr(ex)
    if "CELEvalError" in text:
        inner = _INNER_ERROR.findall(repr(ex.args))
        if inner:
            return str(inner[-1][1]).replace("\\'", "'").replace('\\"', '"')
    return text


_RULES: dict[tuple[str, str, str | None, str], CompiledRule] = {}
_SKIPPED: dict[str, SkippedRule] = {}
_RULES_LOCK = threading.Lock()


def compile_rule(spec: Mapping[str, Any], memo_scope: str = "") -> CompiledRule:
    """Compile (once per rule text and memo scope) one x-kubernetes-validations entry.

    ``memo_scope`` separates memo tables for rules whose ``self`` conversion depends on the
    schema site (see ``schema_is_type_sensitive``); it is "" for all other sites so identical
    rules on different kinds share one memo. A rule analysed by an earlier run (`_persisted`) is
    not parsed again, and its memo starts with the results that run found.
    """
    rule = str(spec["rule"])
    message = str(spec.get("message") or f"failed rule: {rule}")
    field_path = spec.get("fieldPath")
    cache_key = (rule, message, field_path, memo_scope)
    with _RULES_LOCK:
        found = _RULES.get(cache_key)
        if found is not None:
            return found
        state = _persisted()
        analysis_key = (rule, bool(spec.get("optionalOldSelf")))
        known = state.analysis.get(analysis_key)
        if known is not None:
            skip_reason, observations, whole = known
            compiled = CompiledRule(rule, message, field_path, None, observations, whole, skip_reason)
        else:
            compiled = _compile(rule, message, field_path, spec)
            state.analysis[analysis_key] = (compiled.skip_reason, compiled.observations, compiled.whole)
            state.dirty = True
        compiled.memo.update(state.memo.get(cache_key, {}))
        _RULES[cache_key] = compiled
        if compiled.skip_reason is not None:
            _SKIPPED[rule] = SkippedRule(rule, compiled.skip_reason)
        return compiled


@dataclass
class _State:
    """What earlier runs learnt: each rule's analysis (skip reason, observations, whole) and its
    memo (observations -> result). Both are pure functions of the rule text and of the code that
    analyses and evaluates it, which the entry's name hashes (`_state_name`): an entry written by
    other code is never read."""

    analysis: dict[tuple[str, bool], tuple[str | None, tuple[Observation, ...], bool]] = field(
        default_factory=dict
    )
    memo: dict[tuple[str, str, str | None, str], dict[Any, str | None]] = field(default_factory=dict)
    dirty: bool = False
    loaded: bool = False
    pid: int = 0


_STATE = _State()
_STATE_FORMAT = b"cel-state-v2"
_PERSISTED_PER_RULE = 300
_PERSISTED_IN_ALL = 10_000
"""At most this many results of one rule, and of all rules, are kept on disk: reading the state
must stay cheaper than what it saves (a big mesh's many names are not worth keeping; the common
outcomes are)."""


def _state_name() -> str | None:
    """The cache entry's name: a hash of the code that analyses and evaluates the rules (this
    module, the Kubernetes functions, celpy and lark) and of the Python version. Files are told
    apart by path, size and modification time, as Python's bytecode cache does (reading and
    hashing them all would cost more than the entry saves)."""
    import importlib.util

    here = Path(__file__).parent
    files = [here / "cel.py", here / "celext.py"]
    for package in ("celpy", "lark"):
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            return None
        root = Path(next(iter(found.submodule_search_locations)))
        # The package's own directory (an install or upgrade rewrites every file in it).
        files += sorted(p for p in root.glob("*") if p.suffix in (".py", ".lark"))
    digest = hashlib.sha256(_STATE_FORMAT + repr(sys.version_info[:2]).encode())
    try:
        for path in files:
            info = path.stat()
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return f"cel-state-{digest.hexdigest()[:32]}.pickle"


def _persisted() -> _State:
    """The state, read from the disk cache on first use (under _RULES_LOCK). An unreadable entry
    is as good as none: every rule is then analysed and evaluated as usual."""
    if not _STATE.loaded:
        _STATE.loaded, _STATE.pid = True, os.getpid()
        name = _state_name()
        data = diskcache.read(name) if name is not None else None
        if data is not None:
            try:
                analysis, memo = pickle.loads(data)
                if _well_formed(analysis, memo):
                    _STATE.analysis, _STATE.memo = analysis, memo
                else:
                    _STATE.dirty = True
            except Exception:  # a damaged entry: ignored, then replaced
                _STATE.dirty = True
    return _STATE


def _well_formed(analysis: Any, memo: Any) -> bool:
    return (
        isinstance(analysis, dict)
        and isinstance(memo, dict)
        and all(
            isinstance(v, tuple)
            and len(v) == 3
            and isinstance(v[0], str | None)
            and isinstance(v[1], tuple)
            and isinstance(v[2], bool)
            for v in analysis.values()
        )
        and all(isinstance(v, dict) for v in memo.values())
        and all(r is None or isinstance(r, str) for v in memo.values() for r in v.values())
    )


def save_state() -> None:
    """Write what this run learnt (new analyses, new results) to the disk cache; called after a
    self-check. Only the process that read the state writes it (not a forked writer)."""
    with _RULES_LOCK:
        if not _STATE.dirty or _STATE.pid != os.getpid():
            return
        name = _state_name()
        if name is None:
            return
        memo: dict[tuple[str, str, str | None, str], dict[Any, str | None]] = {}
        room = _PERSISTED_IN_ALL
        for key, rule in sorted(_RULES.items(), key=lambda item: repr(item[0])):
            if rule.skip_reason is None and rule.memo and room > 0:
                memo[key] = dict(itertools.islice(rule.memo.items(), min(room, _PERSISTED_PER_RULE)))
                room -= len(memo[key])
        try:
            data = pickle.dumps((_STATE.analysis, memo), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a value that does not pickle: keep nothing rather than fail a check
            return
        diskcache.write(name, data)
        diskcache.prune(_STATE_FAMILY, name.removeprefix("cel-state-").removesuffix(".pickle"))
        _STATE.memo, _STATE.dirty = memo, False


_PARSER_FAMILY = re.compile(r"lark-cel-([0-9a-f]{16})\.pickle$")
"""Every lark/celpy/Python version's cached CEL parser (`_seed_parser_from_cache`), by key."""

_STATE_FAMILY = re.compile(r"cel-state-([0-9a-f]{32})\.pickle$")
"""Every install's persisted state (`_state_name`), by key."""


def _compile(rule: str, message: str, field_path: str | None, spec: Mapping[str, Any]) -> CompiledRule:
    env = _env()
    try:
        ast = env.compile(rule)
    except Exception as ex:
        return CompiledRule(rule, message, field_path, None, (), True, f"celpy cannot parse it: {ex}")
    analyzer = _Analyzer()
    analyzer.visit(ast)
    if analyzer.uses_old_self or spec.get("optionalOldSelf"):
        return CompiledRule(
            rule,
            message,
            field_path,
            None,
            (),
            True,
            "transition rule (uses oldSelf): the API server evaluates it only on update, not on create",
        )
    unknown = sorted(analyzer.functions - _KNOWN_FUNCTIONS)
    if unknown:
        return CompiledRule(
            rule, message, field_path, None, (), True, f"uses functions not implemented here: {unknown}"
        )
    try:
        program = env.program(ast, functions=dict(K8S_FUNCTIONS))
    except Exception as ex:
        return CompiledRule(rule, message, field_path, None, (), True, f"celpy cannot compile it: {ex}")
    return CompiledRule(rule, message, field_path, program, tuple(analyzer.observations), analyzer.whole)


def skipped_rules() -> list[SkippedRule]:
    """Rules compiled so far that are not evaluated (call after schemas are loaded)."""
    with _RULES_LOCK:
        return sorted(_SKIPPED.values(), key=lambda s: s.rule)


def evaluation_stats() -> dict[str, int]:
    """Number of celpy evaluations per rule text (for benchmarks and tests)."""
    out: dict[str, int] = {}
    with _RULES_LOCK:
        for r in _RULES.values():
            out[r.rule] = out.get(r.rule, 0) + r.evaluations
    return out


def clear_memo() -> None:
    """Forget memoized results (benchmarks use this to measure cold runs)."""
    with _RULES_LOCK:
        for r in _RULES.values():
            r.memo.clear()
            r.evaluations = 0
