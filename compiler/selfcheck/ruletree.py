"""Find where a CRD's CEL rules apply in a resource, quickly.

Why: ``x-kubernetes-validations`` can sit on any schema node: nested properties, array
``items``, map ``additionalProperties``. For each resource we must reach every data subtree
that has rules and evaluate them with ``self`` bound to that subtree. Doing that for ~60,000
Istio resources with a generic recursive walker costs more than the rest of the check put
together. So:

1. ``build_rule_tree`` prunes the schema to the branches that lead to rules.
2. ``generate_walker`` turns that tree into straight-line Python source, one function per
   kind. It does the dict lookups and type guards, and inlines the memo lookup of each rule.
   The source is compiled once per kind.

Rules run only where the data has the schema's type. On a type mismatch the JSON Schema check
already reports the error, and the rule would only fail in a confusing way. ``null`` values are
skipped, like absent ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshc.spec.source import PathItem

from . import cel
from .paths import format_path

MAX_MESSAGE = 400

# walker(resource, out, prefix): appends (path, message) for every failed rule to ``out``.
Walker = Callable[[Any, list[tuple[str, str]], tuple[PathItem, ...]], None]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_MAX_INLINE_INDENT = 40
_MISS = object()


def truncate(msg: str) -> str:
    return msg if len(msg) <= MAX_MESSAGE else msg[: MAX_MESSAGE - 3] + "..."


@dataclass
class RuleNode:
    """A schema node on the way to CEL rules; ``rules`` hold the ones at this node."""

    schema: Mapping[str, Any]
    rules: list[cel.CompiledRule] = field(default_factory=list)
    props: dict[str, RuleNode] = field(default_factory=dict)
    items: RuleNode | None = None
    addl: RuleNode | None = None


def build_rule_tree(s: Mapping[str, Any], scope: str) -> RuleNode | None:
    """The pruned rule tree of a structural schema, or None if it has no rules at all."""
    node = RuleNode(schema=s)
    specs = s.get("x-kubernetes-validations") or []
    if specs:
        memo_scope = scope if cel.schema_is_type_sensitive(s) else ""
        node.rules = [cel.compile_rule(spec, memo_scope) for spec in specs]
    for name, sub in (s.get("properties") or {}).items():
        child = build_rule_tree(sub, f"{scope}.{name}")
        if child is not None:
            node.props[name] = child
    items = s.get("items")
    if isinstance(items, Mapping):
        node.items = build_rule_tree(items, f"{scope}[]")
    addl = s.get("additionalProperties")
    if isinstance(addl, Mapping):
        node.addl = build_rule_tree(addl, f"{scope}{{}}")
    if not node.rules and not node.props and node.items is None and node.addl is None:
        return None
    return node


def _report(rule: cel.CompiledRule) -> Callable[[tuple[PathItem, ...], str, list[tuple[str, str]]], None]:
    field_path = rule.field_path or ""
    if field_path and not field_path.startswith(("[", ".")):
        field_path = "." + field_path

    def report(path: tuple[PathItem, ...], message: str, out: list[tuple[str, str]]) -> None:
        out.append((format_path(path) + field_path, truncate(message)))

    return report


class _Generator:
    def __init__(self) -> None:
        self.env: dict[str, Any] = {"MISS": _MISS, "isinstance": isinstance, "enumerate": enumerate}
        self.functions: list[list[str]] = []
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, obj: Any, prefix: str) -> str:
        name = self.fresh(prefix)
        self.env[name] = obj
        return name

    def function(self, node: RuleNode) -> str:
        name = self.fresh("walk_")
        lines = [f"def {name}(v0, out, prefix):"]
        self.emit(node, "v0", ["*prefix"], 1, lines)
        lines.append("    return None")
        self.functions.append(lines)
        return name

    def key_expr(self, rule: cel.CompiledRule, var: str, types: tuple[type, ...] | None) -> str:
        """Source computing ``rule.key(var)``. Common observations are inlined. The node's type
        guard has already established ``types``, and for those types the inlined expressions
        return exactly what the observers return (see ``cel.make_observer``)."""
        if rule.whole:
            return var if types == (str,) else f"{self.const(rule.key_function(), 'K')}({var})"
        parts = [
            self.observation_expr(obs, fn, var, types)
            for obs, fn in zip(rule.observations, rule.observers, strict=True)
        ]
        if not parts:
            return "()"
        return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"

    def observation_expr(
        self, obs: cel.Observation, fn: Any, var: str, types: tuple[type, ...] | None
    ) -> str:
        kind, path = obs[0], obs[1]
        if kind == "has" and len(path) == 1 and types == (dict,):
            return f"({path[0]!r} in {var})"
        if kind == "keys" and not path and types == (dict,):
            return f"tuple({var})"
        if kind == "size" and not path and types in ((dict,), (list,), (str,)):
            return f"len({var})"
        if kind == "pred" and not path and types == (str,):
            op, lit = obs[2], obs[3]
            return {
                "contains": f"({lit!r} in {var})",
                "startsWith": f"{var}.startswith({lit!r})",
                "endsWith": f"{var}.endswith({lit!r})",
                "eq": f"({var} == {lit!r})",
                "ne": f"({var} != {lit!r})",
            }[op]
        if kind == "in" and not path and types == (str,):
            return f"({var} in {self.const(frozenset(obs[2]), 'L')})"
        return f"{self.const(fn, 'O')}({var})"

    def emit(self, node: RuleNode, var: str, path: list[str], indent: int, lines: list[str]) -> None:
        if indent > _MAX_INLINE_INDENT:  # very deep schema: continue in a separate function
            sub = self.function(node)
            lines.append(f"{'    ' * indent}{sub}({var}, out, ({', '.join(path)},))")
            return
        schema = node.schema
        if schema.get("x-kubernetes-int-or-string"):
            types: tuple[type, ...] | None = (int, str)
        else:
            types = _PY_TYPES.get(str(schema.get("type")))
        if types is not None:
            guard = f"isinstance({var}, {self.const(types, 'T')})"
            if int in types and bool not in types:
                guard += f" and not isinstance({var}, bool)"
            lines.append(f"{'    ' * indent}if {guard}:")
            indent += 1
        ind = "    " * indent
        lines.append(f"{ind}pass")
        schema_name = self.const(schema, "S")
        path_expr = f"({', '.join(path)},)"
        for rule in node.rules:
            if rule.skip_reason is not None:
                continue  # skipped rule (listed by skipped_cel_rules())
            key_expr = self.key_expr(rule, var, types)
            memo = self.const(rule.memo, "M")
            check = self.const(rule.check, "C")
            report = self.const(_report(rule), "R")
            lines += [
                f"{ind}r = {memo}.get({key_expr}, MISS)",
                f"{ind}if r is not None:",
                f"{ind}    if r is MISS:",
                f"{ind}        r = {check}({var}, {schema_name})",
                f"{ind}    if r is not None:",
                f"{ind}        {report}({path_expr}, r, out)",
            ]
        if node.props:
            sub_ind, sub_indent = ind, indent
            if types != (dict,):
                lines.append(f"{ind}if isinstance({var}, dict):")
                sub_ind, sub_indent = ind + "    ", indent + 1
            for name, child in node.props.items():
                cv = self.fresh("v")
                lines.append(f"{sub_ind}{cv} = {var}.get({name!r})")
                lines.append(f"{sub_ind}if {cv} is not None:")
                self.emit(child, cv, [*path, repr(name)], sub_indent + 1, lines)
        if node.items is not None:
            iv, cv = self.fresh("i"), self.fresh("v")
            sub_ind, sub_indent = ind, indent
            if types != (list,):
                lines.append(f"{ind}if isinstance({var}, list):")
                sub_ind, sub_indent = ind + "    ", indent + 1
            lines.append(f"{sub_ind}for {iv}, {cv} in enumerate({var}):")
            lines.append(f"{sub_ind}    if {cv} is not None:")
            self.emit(node.items, cv, [*path, iv], sub_indent + 2, lines)
        if node.addl is not None:
            kv, cv = self.fresh("k"), self.fresh("v")
            sub_ind, sub_indent = ind, indent
            if types != (dict,):
                lines.append(f"{ind}if isinstance({var}, dict):")
                sub_ind, sub_indent = ind + "    ", indent + 1
            lines.append(f"{sub_ind}for {kv}, {cv} in {var}.items():")
            lines.append(f"{sub_ind}    if {cv} is not None:")
            self.emit(node.addl, cv, [*path, kv], sub_indent + 2, lines)


def generate_walker(tree: RuleNode, label: str) -> Walker:
    """Compile the rule tree of one kind into a walker function (see the module docstring)."""
    gen = _Generator()
    top = gen.function(tree)
    source = "\n\n".join("\n".join(f) for f in gen.functions) + "\n"
    code = compile(source, f"<selfcheck walker {label}>", "exec")
    exec(code, gen.env)
    walker: Walker = gen.env[top]
    walker.__doc__ = source  # handy when debugging: print(checker.walker.__doc__)
    return walker
