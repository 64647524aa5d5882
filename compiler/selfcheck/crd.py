"""Istio kinds: validate against the vendored Istio 1.30.3 CRD schemas, CEL rules included.

Why: the compiler's output must be accepted, unchanged, by an Istio 1.30.3 cluster.
``crd-all.gen.yaml`` holds the exact ``openAPIV3Schema`` the API server uses. It is copied
verbatim from istio/istio tag 1.30.3 (see ``compiler/data/istio-1.30.3/SOURCES.md``).

A Kubernetes structural schema is not plain JSON Schema, so it is converted:

- ``nullable: true`` adds ``"null"`` to the type (and to ``enum`` if there is one).
- ``x-kubernetes-int-or-string`` becomes ``anyOf: [integer, string]``.
- Unknown fields are an error. The API server would silently prune them, but for a compiler
  an unknown field is a bug. So every object schema with neither ``additionalProperties`` nor
  ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``. This is not
  done inside ``oneOf``/``anyOf``/``allOf``/``not``, which only hold ``required`` lists.
- ``format`` is kept only for ``byte`` (base64, checked like the API server does) and
  ``date-time``. ``int32``, ``double`` and the like are type hints that Kubernetes does not
  enforce.
- ``pattern`` uses the linear-time ``regex`` engine (RE2-like, as in Go) instead of
  fancy-regex.

``metadata`` is checked by ``metadata.py``, because CRD schemas do not describe it.
``x-kubernetes-validations`` rules are evaluated by ``cel.py`` on the data subtree where each
rule sits. ``ruletree.py`` finds those subtrees. ``x-kubernetes-list-type`` ``map``/``set``
uniqueness is checked by ``listtype.py``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import yaml

from meshc.spec.source import PathItem

from . import diskcache, listtype
from .paths import format_path
from .ruletree import build_rule_tree, generate_walker, truncate

ISTIO_VERSION = "1.30.3"
CRD_FILE = Path(__file__).resolve().parent.parent / "data" / f"istio-{ISTIO_VERSION}" / "crd-all.gen.yaml"
ISTIO_GROUPS = frozenset(
    {"networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io"}
)
PROMETHEUS_OPERATOR_VERSION = "0.93.0"
PROMETHEUS_OPERATOR_DIR = (
    Path(__file__).resolve().parent.parent / "data" / f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}"
)
PROMETHEUS_OPERATOR_FILES = tuple(
    PROMETHEUS_OPERATOR_DIR / f"monitoring.coreos.com_{plural}.yaml"
    for plural in ("podmonitors", "prometheusrules", "servicemonitors")
)
"""The prometheus-operator CRDs meshc emits (see SOURCES.md beside them), checked like Istio's."""
CRD_GROUPS = ISTIO_GROUPS | {"monitoring.coreos.com"}
"""Groups whose kinds are checked against a vendored CRD."""

_DOC_KEYWORDS = frozenset({"description", "default", "example", "externalDocs", "title", "nullable"})
_KEPT_FORMATS = frozenset({"byte", "date-time"})


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_CACHE_FORMAT = b"crd-json-v3"


@functools.cache
def _cache_names() -> tuple[str, str]:
    """(prefix of the per-kind cache entries, name of the index entry) for the vendored CRDs as
    they are on disk, told apart by path, size and modification time (as Python's bytecode cache
    does: reading and hashing 1 MB of YAML on every start would cost more than the lookup), so an
    entry of other CRDs is never used."""
    digest = hashlib.sha256(_CACHE_FORMAT)
    for path in (CRD_FILE, *PROMETHEUS_OPERATOR_FILES):
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    prefix = f"istio-{ISTIO_VERSION}-crds-{digest.hexdigest()[:32]}"
    return prefix, f"{prefix}-index.json"


@functools.cache
def _all_crds() -> dict[tuple[str, str], Mapping[str, Any]]:
    """(group, kind) -> CRD document, parsed from the vendored YAML (~0.2 s). Each document is then
    cached as JSON on its own (see `_crd`), with an index of the (group, kind) pairs there are."""
    raw = b"\n---\n".join(path.read_bytes() for path in (CRD_FILE, *PROMETHEUS_OPERATOR_FILES))
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for doc in yaml.load_all(raw, Loader=loader):
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            spec = doc["spec"]
            out[(spec["group"], spec["names"]["kind"])] = doc
    prefix, index = _cache_names()
    for (group, kind), doc in sorted(out.items()):
        diskcache.write(f"{prefix}-{group}-{kind}.json", orjson.dumps(doc))
    diskcache.write(index, orjson.dumps(sorted(out)))  # last: the index promises the entries
    diskcache.prune(_FAMILY, prefix.rpartition("-")[2])
    return out


_FAMILY = re.compile(r"istio-[^-]+-crds-([0-9a-f]{32})-")
"""The entries of any version's CRDs (`_cache_names`), by key."""


@functools.cache
def _crd(group: str, kind: str) -> Mapping[str, Any] | None:
    """One CRD document, read from its own cache entry when there is one: a compile loads only
    the CRDs of the kinds it emits (a few of 20; all of them together are ~0.15 s of JSON), and
    `meshc validate` on a small mesh starts that much sooner. A missing or unreadable entry falls
    back to parsing the YAML."""
    prefix, index = _cache_names()
    listed = diskcache.read(index)
    if listed is not None:
        try:
            known = {(g, k) for g, k in orjson.loads(listed)}
            if (group, kind) not in known:
                return None
            cached = diskcache.read(f"{prefix}-{group}-{kind}.json")
            if cached is not None:
                doc = orjson.loads(cached)
                if isinstance(doc, dict):
                    return doc
        except (orjson.JSONDecodeError, TypeError, ValueError):
            pass
    return _all_crds().get((group, kind))


def crd_version_schema(api_version: str, kind: str) -> Mapping[str, Any] | None:
    """The openAPIV3Schema of a served CRD version, or None."""
    group, _, version = api_version.partition("/")
    if group not in CRD_GROUPS or not version:
        return None
    doc = _crd(group, kind)
    if doc is None:
        return None
    for v in doc["spec"].get("versions", []):
        if v.get("name") == version and v.get("served", False):
            schema = v.get("schema", {}).get("openAPIV3Schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def known_istio_kinds() -> list[tuple[str, str]]:
    """All (apiVersion, kind) pairs served by the vendored CRDs."""
    out = []
    for group, kind in sorted(_all_crds()):
        doc = _crd(group, kind)
        assert doc is not None
        for v in doc["spec"].get("versions", []):
            if v.get("served", False):
                out.append((f"{group}/{v['name']}", kind))
    return out


# ---------------------------------------------------------------------------------------------
# Structural schema -> JSON Schema
# ---------------------------------------------------------------------------------------------


def _without_inline_flags(pattern: str) -> str:
    """Go's `(?i)` flag (prometheus-operator's `^(?i)(abort|warn)?$`) spelled without it: the
    pattern engine here rejects inline flags. Only patterns made of literal letters and
    grouping are rewritten (each letter `a` becomes `[aA]`); anything else is a vendoring bug."""
    if "(?i)" not in pattern:
        return pattern
    rest = pattern.replace("(?i)", "")
    if "[" in rest or "\\" in rest or "(?" in rest:
        raise ValueError(f"cannot rewrite the case-insensitive pattern {pattern!r}")
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in rest)


def convert_schema(s: Mapping[str, Any], *, junctor: bool = False) -> dict[str, Any]:
    """Convert a Kubernetes structural schema node to strict JSON Schema (draft 4)."""
    out: dict[str, Any] = {}
    for key, value in s.items():
        if key in _DOC_KEYWORDS or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out["properties"] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = convert_schema(value) if isinstance(value, Mapping) else value
        elif key == "additionalProperties":
            out["additionalProperties"] = convert_schema(value) if isinstance(value, Mapping) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert_schema(sub, junctor=True) for sub in value]
        elif key == "not":
            out["not"] = convert_schema(value, junctor=True)
        elif key == "format":
            if value in _KEPT_FORMATS:
                out["format"] = value
        elif key == "pattern":
            out["pattern"] = _without_inline_flags(value)
        else:
            out[key] = value
    if s.get("x-kubernetes-int-or-string") is True and "anyOf" not in out and "type" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
    if (
        not junctor
        and not preserve
        and "additionalProperties" not in s
        and (s.get("type") == "object" or "properties" in s)
    ):
        out["additionalProperties"] = False
    if s.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def build_validator(schema: Mapping[str, Any], validator_cls: Any) -> Any:
    """A jsonschema_rs validator with Kubernetes-like ``byte`` format and RE2-like patterns.
    ``offline=True``: a ``$ref`` can never trigger a download."""
    return validator_cls(
        schema,
        formats={"byte": _is_base64},
        validate_formats=True,
        pattern_options=jsonschema_rs.RegexOptions(),
        offline=True,
    )


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _schema_at(root: Any, schema_path: Sequence[str | int]) -> Any:
    cur = root
    for step in schema_path:
        try:
            cur = cur[step]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def schema_errors(validator: Any, root_schema: Mapping[str, Any], instance: Any) -> Iterator[tuple[str, str]]:
    """(path, message) for each JSON Schema violation, with readable messages."""
    for err in validator.iter_errors(instance):
        path: list[PathItem] = list(err.instance_path)
        kind = err.kind
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            for name in kind.unexpected:
                yield format_path([*path, name]), f'unknown field "{name}"'
            continue
        if isinstance(
            kind,
            jsonschema_rs.ValidationErrorKind.OneOfMultipleValid
            | jsonschema_rs.ValidationErrorKind.OneOfNotValid,
        ):
            branches = _schema_at(root_schema, list(err.schema_path))
            exclusive = sorted(
                {name for b in branches or [] if isinstance(b, Mapping) for name in b.get("required", [])}
            )
            inst = err.instance if isinstance(err.instance, Mapping) else {}
            present = [n for n in exclusive if n in inst]
            if exclusive:
                yield format_path(path), f"at most one of {exclusive} may be set (found {present})"
                continue
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
            allowed = ", ".join(orjson.dumps(o).decode() for o in kind.options)
            yield format_path(path), truncate(f"unsupported value {_json(err.instance)}; allowed: {allowed}")
            continue
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            yield format_path(path), f'missing required field "{kind.property}"'
            continue
        yield format_path(path), truncate(err.message)


# ---------------------------------------------------------------------------------------------
# Per-kind checker
# ---------------------------------------------------------------------------------------------


class IstioKindChecker:
    """Schema validator, list-type tree and CEL rule tree for one Istio apiVersion/kind.
    Built once, reused."""

    def __init__(self, api_version: str, kind: str, crd_schema: Mapping[str, Any]) -> None:
        self.api_version = api_version
        self.kind = kind
        root = convert_schema(crd_schema)
        props = dict(root.get("properties", {}))
        props["apiVersion"] = {"enum": [api_version]}
        props["kind"] = {"enum": [kind]}
        props["metadata"] = {"type": "object"}  # checked by metadata.py
        root["properties"] = props
        root["required"] = sorted({*root.get("required", []), "apiVersion", "kind"})
        root["additionalProperties"] = False
        self.schema = root
        self.validator = build_validator(root, jsonschema_rs.Draft4Validator)
        self.unique_tree = listtype.build_tree(crd_schema)
        self.unique = listtype.compile_tree(self.unique_tree) if self.unique_tree is not None else None
        tree = build_rule_tree(crd_schema, f"{api_version}/{kind}")
        self.walker = generate_walker(tree, f"{api_version}/{kind}") if tree is not None else None

    def check(self, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(path, message) for every problem found in ``resource``; empty if it is valid."""
        out: list[tuple[str, str]] = []
        if not self.validator.is_valid(resource):
            out.extend(schema_errors(self.validator, self.schema, resource))
        if self.unique is not None:  # the API server's order: schema, list types, CEL rules
            self.unique(resource, (), out)
        if self.walker is not None:
            self.walker(resource, out, ())
        return out


_CHECKERS: dict[tuple[str, str], IstioKindChecker | None] = {}
_CHECKERS_LOCK = threading.Lock()


def istio_checker(api_version: str, kind: str) -> IstioKindChecker | None:
    """The cached checker for an Istio apiVersion/kind; None if the CRDs do not serve it."""
    key = (api_version, kind)
    found = _CHECKERS.get(key, ...)
    if found is not ...:
        return found
    with _CHECKERS_LOCK:
        if key not in _CHECKERS:
            schema = crd_version_schema(api_version, kind)
            _CHECKERS[key] = IstioKindChecker(api_version, kind, schema) if schema is not None else None
        return _CHECKERS[key]
