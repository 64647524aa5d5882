"""Layer 1, structure: plain data -> typed `Mesh`, every pydantic error turned into a diagnostic.

Unknown fields get a "did you mean" from the JSON Schema of the place they were found in, so the
suggestion always names a field that is valid right there.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import orjson
from pydantic import ValidationError

from .diagnostics import Diagnostic, SpecError
from .loader import LoadedSpec
from .models import Mesh, Service
from .suggest import Suggester, did_you_mean

_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "string": "a string",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def parse_mesh(loaded: LoadedSpec) -> Mesh:
    if loaded.services is not None and loaded.outside_services is not None:
        # The services validated already (the read-ahead's batches): the rest of the spec around
        # them, in Python mode (tests/test_readahead.py holds the models equal to the data's).
        rest = orjson.loads(loaded.outside_services[0])
        spec = rest.get("spec")
        if isinstance(spec, dict):
            spec["services"] = list(loaded.services)
            try:
                return Mesh.model_validate(rest)
            except ValidationError:
                pass  # reported below, from the whole
    if loaded.json is not None:
        # Validated straight from the JSON the read-ahead handed over (tests/test_readahead.py
        # holds the models equal to those of the data); a spec it rejects is validated again from
        # the data, for the diagnostics exactly as they are without it.
        try:
            return Mesh.model_validate_json(loaded.json)
        except ValidationError:
            pass
    try:
        return Mesh.model_validate(loaded.data)
    except ValidationError as exc:
        raise SpecError(structure_diagnostics(exc, loaded)) from None


_BATCH_BEFORE = (
    b'{"apiVersion":"meshc.dev/v1alpha1","kind":"Mesh","metadata":{"name":"m"},"spec":{"services":['
)
_BATCH_AFTER = b"]}}"


def validate_services(json: bytes) -> list[Service] | None:
    """The models of services given as JSON, comma-separated (a batch of the read-ahead's
    hand-over); None when one is rejected (then the whole spec is validated as usual, for the
    usual diagnostics). Validated by `Mesh`'s own validator, in a mesh that holds nothing else:
    exactly as it validates `spec.services` from JSON, and no second validator to build (a
    `TypeAdapter` of the services builds their schema again, 0.04 s)."""
    try:
        return Mesh.model_validate_json(_BATCH_BEFORE + json + _BATCH_AFTER).spec.services
    except ValidationError:
        return None


def structure_diagnostics(exc: ValidationError, loaded: LoadedSpec) -> list[Diagnostic]:
    seen: set[tuple[tuple[Any, ...], str]] = set()
    result: list[Diagnostic] = []
    suggesters: dict[frozenset[str], Suggester] = {}  # one per set of allowed fields: bounded work
    for error in exc.errors(include_url=False, include_input=True):
        loc = _data_path(loaded.data, error["loc"])
        kind = error["type"]
        code, message, hint = _describe(kind, error, loc, suggesters)
        if (loc, code) in seen:
            continue
        seen.add((loc, code))
        file, line, column = loaded.source.position(loc)
        result.append(Diagnostic(file, line, column, "error", code, message, hint))
    return sorted(result, key=lambda d: d.sort_key)


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags from a location, keeping the parts present in the data."""
    path: list[Any] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and _is_field_name(part):
            path.append(part)  # a missing field: keep it so the message can name it
            node = None
        else:
            continue
    return tuple(path)


def _is_field_name(part: str) -> bool:
    return (
        bool(part) and not part.startswith(("function-", "[")) and part[0].islower()
    ) or part == "apiVersion"


def _describe(
    kind: str, error: Any, loc: tuple[Any, ...], suggesters: dict[frozenset[str], Suggester]
) -> tuple[str, str, str | None]:
    where = _dotted(loc)
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _allowed_fields(_shape(loc[:-1]))
        suggester = suggesters.get(allowed)
        if suggester is None:
            suggester = suggesters[allowed] = Suggester(allowed)
        hint = did_you_mean(
            suggester.suggest(name), "allowed here: " + ", ".join(sorted(allowed)) if allowed else None
        )
        return ("MC010", f"unknown field '{name}' in {_dotted(loc[:-1]) or 'the document'}", hint)
    if kind == "missing":
        return (
            "MC011",
            f"missing required field '{loc[-1] if loc else '?'}' in {_dotted(loc[:-1]) or 'the document'}",
            None,
        )
    secret = _secret(loc)
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        shown = "" if secret else f" {_shown(error)}"
        return ("MC013", f"{where}: invalid value{shown}; expected {expected}", None)
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("model_attributes_type", "dict_type"):
        base = kind.split("_")[0]
        expected = _TYPE_WORDS.get(base, base)
        value = error.get("input")
        got = _kind_only(value) if secret else _type_name(value)
        return ("MC009", f"{where}: expected {expected}, got {got}", None)
    message = error["msg"].removeprefix("Value error, ")
    # pydantic's messages start with a capital; lower that one letter only (patterns, values and
    # names inside the message keep their case)
    return ("MC013", f"{where}: {message[:1].lower()}{message[1:]}", None)


def _secret(loc: tuple[Any, ...]) -> bool:
    """Values under a container's `env` are never echoed: they are where credentials live."""
    return "env" in loc[:-1]


def _shown(error: Any) -> str:
    value = error.get("input")
    return repr(value) if isinstance(value, str | int | float | bool) else f"of type {_type_name(value)}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _kind_only(value: Any) -> str:
    """What `_type_name` says without the value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return _type_name(value)


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@cache
def _schema() -> dict[str, Any]:
    from .schema import mesh_schema  # here: only a spec with structural errors needs it

    return mesh_schema()


def _shape(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location with list indexes as 0: the allowed fields are the same for every item."""
    return tuple(0 if isinstance(part, int) else part for part in loc)


@lru_cache(maxsize=1024)
def _allowed_fields(loc: tuple[Any, ...]) -> frozenset[str]:
    schema = _schema()
    defs = schema.get("$defs", {})
    nodes = [schema]
    for part in loc:
        nxt: list[dict[str, Any]] = []
        for node in _expand(nodes, defs):
            if isinstance(part, int) and "items" in node:
                nxt.append(node["items"])
            elif isinstance(part, str) and part in node.get("properties", {}):
                nxt.append(node["properties"][part])
            elif isinstance(part, str) and isinstance(node.get("additionalProperties"), dict):
                nxt.append(node["additionalProperties"])
        nodes = nxt
    return frozenset(name for node in _expand(nodes, defs) for name in node.get("properties", {}))


def _expand(nodes: list[dict[str, Any]], defs: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if "$ref" in node:
            stack.append(defs[node["$ref"].rsplit("/", 1)[-1]])
            continue
        for key in ("anyOf", "oneOf", "allOf"):
            stack.extend(node.get(key, []))
        out.append(node)
    return out
