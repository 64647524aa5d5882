"""Core Kubernetes kinds (Service, Deployment, ...): validate against kubernetes-validate's schemas.

Why: the compiler also emits plain Kubernetes objects, and they must be accepted by a real
cluster too. The ``kubernetes-validate`` package ships JSON Schemas generated from the
Kubernetes OpenAPI spec for many versions. We use its ``-strict`` variant, where unknown fields
are an error. The files are read straight from the installed package, which never needs the
network. They are compiled with jsonschema_rs; the package's own ``validate()`` is a
pure-Python jsonschema run, about 100x slower.

``KUBERNETES_VERSION`` is pinned, so results do not change when the package is upgraded.
1.32 is, to our knowledge, the oldest Kubernetes minor that Istio 1.30 supports. Checking
against the oldest supported API means a field only newer clusters know is reported, not
pruned. Change the constant to target a different minor; it must be one the package ships.

``core_rules.py`` adds a few API-server checks that the schemas cannot express
(Deployment selector vs. template labels, Service port names...), and ``core_unique.py`` the
keys the API server keeps unique (container names, Service ports...).

Only Kubernetes' own API groups are looked up here: core, ``*.k8s.io``, apps, batch,
autoscaling and policy. Another group would otherwise match by its first label
(``apps.example.com`` -> ``apps``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs

from . import core_rules, core_unique, listtype
from .crd import build_validator, schema_errors

KUBERNETES_VERSION = "1.32"

_K8S_UNSUFFIXED_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy"})
_REF_PREFIX = "/api/_definitions.json#/$defs/"
_LOCAL_PREFIX = "#/$defs/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def schema_dir() -> Path:
    """The strict schema directory for KUBERNETES_VERSION inside the installed package."""
    spec = importlib.util.find_spec("kubernetes_validate")  # locate without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed")
    base = Path(next(iter(spec.submodule_search_locations)))
    d = base / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}.0-local-strict"
    if not d.is_dir():
        raise RuntimeError(f"kubernetes-validate has no schemas for Kubernetes {KUBERNETES_VERSION} ({d})")
    return d


@functools.cache
def _definitions() -> dict[str, Any]:
    with open(schema_dir() / "_definitions.json", encoding="utf-8") as f:
        defs: dict[str, Any] = json.load(f)["$defs"]
        return defs


def _localize(node: Any, needed: set[str]) -> Any:
    """Rewrite refs to local ``#/$defs/X`` and collect the definitions they name."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "description":
                continue
            if k == "$ref" and isinstance(v, str):
                name = v.removeprefix(_REF_PREFIX).removeprefix(_LOCAL_PREFIX)
                needed.add(name)
                out[k] = _LOCAL_PREFIX + name
            else:
                out[k] = _localize(v, needed)
        return out
    if isinstance(node, list):
        return [_localize(v, needed) for v in node]
    return node


def _self_contained(root: Mapping[str, Any]) -> dict[str, Any]:
    defs = _definitions()
    needed: set[str] = set()
    schema = _localize(root, needed)
    schema.pop("$id", None)
    out_defs: dict[str, Any] = {}
    todo = list(needed)
    while todo:
        name = todo.pop()
        if name in out_defs:
            continue
        more: set[str] = set()
        out_defs[name] = _localize(defs[name], more)
        todo.extend(more - out_defs.keys())
    schema["$defs"] = out_defs
    return schema


def _schema_file(api_version: str, kind: str) -> Path | None:
    group, slash, version = api_version.rpartition("/")
    if not slash:
        group, version = "", api_version
    if group not in _K8S_UNSUFFIXED_GROUPS and not group.endswith(".k8s.io"):
        return None
    prefix = group.split(".", 1)[0]
    stem = f"{kind.lower()}-{prefix}-{version}" if prefix else f"{kind.lower()}-{version}"
    path = schema_dir() / f"{stem}.json"
    return path if path.is_file() else None


class CoreKindChecker:
    """Compiled strict schema for one core apiVersion/kind."""

    def __init__(self, api_version: str, kind: str, root: Mapping[str, Any]) -> None:
        self.api_version = api_version
        self.kind = kind
        self.schema = _self_contained(root)
        # apiVersion/kind are "type: [string, null]" in these files; require them like the API does.
        self.schema["required"] = sorted({*self.schema.get("required", []), "apiVersion", "kind"})
        # metadata is checked by metadata.py for every kind (better messages, no duplicates).
        self.schema["properties"]["metadata"] = {"type": "object"}
        self.validator = build_validator(self.schema, jsonschema_rs.Draft202012Validator)
        self.rules = core_rules.RULES.get((api_version, kind))
        self.unique_tree = core_unique.build_tree(self.schema)
        self.unique = listtype.compile_tree(self.unique_tree) if self.unique_tree is not None else None

    def check(self, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
        if self.validator.is_valid(resource):
            out = self.rules(resource) if self.rules is not None else []
        else:
            out = list(schema_errors(self.validator, self.schema, resource))
        if self.unique is not None:
            self.unique(resource, (), out)
        return out


_CHECKERS: dict[tuple[str, str], CoreKindChecker | None] = {}
_LOCK = threading.Lock()


def core_checker(api_version: str, kind: str) -> CoreKindChecker | None:
    """Cached checker for a Kubernetes apiVersion/kind, or None if there is no schema."""
    key = (api_version, kind)
    found = _CHECKERS.get(key, ...)
    if found is not ...:
        return found
    with _LOCK:
        if key not in _CHECKERS:
            path = _schema_file(api_version, kind)
            checker = None
            if path is not None:
                with open(path, encoding="utf-8") as f:
                    root = json.load(f)
                gvks = root.get("x-kubernetes-group-version-kind") or []
                group = api_version.rpartition("/")[0]
                version = api_version.rpartition("/")[2]
                if any(
                    g.get("group") == group and g.get("version") == version and g.get("kind") == kind
                    for g in gvks
                ):
                    checker = CoreKindChecker(api_version, kind, root)
            _CHECKERS[key] = checker
        return _CHECKERS[key]


@functools.cache
def object_meta_validator() -> Any:
    """Validator for ObjectMeta's less common fields (used for Istio kinds' metadata)."""
    schema = _self_contained({"$ref": _REF_PREFIX + _OBJECT_META})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return build_validator(schema, jsonschema_rs.Draft202012Validator)
