"""``metadata`` checks. CRD schemas say nothing about metadata, but the API server validates it.

Why: a bad name or label makes ``kubectl apply`` fail, just like a bad spec. These are the
checks the API server runs (k8s.io/apimachinery ``ValidateObjectMeta``), written as plain
Python because they sit on the hot path for every resource:

- ``name``: a DNS-1123 subdomain, with per-kind exceptions (Namespace: DNS-1123 label;
  Service: DNS-1035 label).
- ``namespace``: a DNS-1123 label.
- ``labels``: a string->string map. Keys are qualified names (optional DNS-subdomain prefix).
  Values have at most 63 characters, alphanumerics at the ends.
- ``annotations``: a string->string map. Keys are qualified names. Total size is at most 256 KiB.
- Other ObjectMeta fields (``finalizers``, ``ownerReferences``...) are type-checked with the
  Kubernetes ObjectMeta schema. A field that ObjectMeta does not have is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs

from ..k8snames import (
    dns1035_label_error as _dns1035_label,
)
from ..k8snames import (
    dns1123_label_error as _dns1123_label,
)
from ..k8snames import (
    dns1123_subdomain_error as _dns1123_subdomain,
)
from ..k8snames import (
    label_value_error as _label_value,
)
from ..k8snames import (
    qualified_name_error,
)
from .paths import format_path

_ANNOTATIONS_MAX_BYTES = 256 * 1024

OBJECT_META_FIELDS = frozenset(
    {
        "annotations",
        "creationTimestamp",
        "deletionGracePeriodSeconds",
        "deletionTimestamp",
        "finalizers",
        "generateName",
        "generation",
        "labels",
        "managedFields",
        "name",
        "namespace",
        "ownerReferences",
        "resourceVersion",
        "selfLink",
        "uid",
    }
)
_FAST_FIELDS = frozenset({"name", "namespace", "labels", "annotations"})


NameRule = Callable[[str], str | None]

# (API group, kind) -> name validator; everything else uses DNS-1123 subdomain.
NAME_RULES: dict[tuple[str, str], NameRule] = {
    ("", "Namespace"): _dns1123_label,
    ("", "Service"): _dns1035_label,
}


# Values already proven valid. The ~10 resources meshc emits per service share names and
# labels, and a set lookup is much cheaper than a regex. Only valid values are added, so a hit
# is always correct. The sets are cleared if they ever grow very large.
_MAX_REMEMBERED = 1_000_000
_GOOD_NAMES: dict[NameRule, set[str]] = {}
_GOOD_NAMESPACES: set[str] = set()
_GOOD_LABEL_KEYS: set[str] = set()
_GOOD_LABEL_VALUES: set[str] = set()
_GOOD_ANNOTATION_KEYS: set[str] = set()


def _remember(table: set[str], value: str) -> None:
    if len(table) > _MAX_REMEMBERED:
        table.clear()
    table.add(value)


class MetadataChecker:
    """Checks ``metadata`` for one kind (the name rule depends on the kind)."""

    def __init__(self, group: str, kind: str, meta_validator: Any | None) -> None:
        self.name_rule: NameRule = NAME_RULES.get((group, kind), _dns1123_subdomain)
        self.good_names = _GOOD_NAMES.setdefault(self.name_rule, set())
        self.meta_validator = meta_validator

    def check(self, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(path, message) for each metadata problem."""
        meta = resource.get("metadata")
        if isinstance(meta, dict) and meta.keys() <= _FAST_FIELDS:
            ns = meta.get("namespace")
            labels = meta.get("labels")
            annotations = meta.get("annotations")
            try:
                if (
                    meta.get("name") in self.good_names
                    and (ns is None or ns in _GOOD_NAMESPACES)
                    and (
                        labels is None
                        or (
                            isinstance(labels, dict)
                            and labels.keys() <= _GOOD_LABEL_KEYS
                            and _GOOD_LABEL_VALUES.issuperset(labels.values())
                        )
                    )
                    and (
                        annotations is None
                        or (
                            isinstance(annotations, dict)
                            and annotations.keys() <= _GOOD_ANNOTATION_KEYS
                            and all(isinstance(v, str) for v in annotations.values())
                            # 4 bytes per char at most, keys are < 317 chars: surely under the limit
                            and 4 * sum(map(len, annotations.values())) + 317 * len(annotations)
                            <= _ANNOTATIONS_MAX_BYTES
                        )
                    )
                ):
                    return []
            except TypeError:  # an unhashable value: take the slow path, which reports it
                pass
        return self._check_slow(meta)

    def _check_slow(self, meta: Any) -> list[tuple[str, str]]:
        if not isinstance(meta, dict):
            return [("metadata", "metadata must be an object" if meta is not None else "missing metadata")]
        out: list[tuple[str, str]] = []
        name = meta.get("name")
        if name is None:
            if "generateName" not in meta:
                out.append(("metadata.name", "name is required"))
        elif not isinstance(name, str):
            out.append(("metadata.name", "name must be a string"))
        elif name not in self.good_names:
            err = self.name_rule(name)
            if err:
                out.append(("metadata.name", f"invalid name {name!r}: {err}"))
            else:
                _remember(self.good_names, name)
        ns = meta.get("namespace")
        if ns is not None:
            if not isinstance(ns, str):
                out.append(("metadata.namespace", "namespace must be a string"))
            elif ns not in _GOOD_NAMESPACES:
                err = _dns1123_label(ns)
                if err:
                    out.append(("metadata.namespace", f"invalid namespace {ns!r}: {err}"))
                else:
                    _remember(_GOOD_NAMESPACES, ns)
        out.extend(check_labels(meta.get("labels"), ("metadata", "labels")))
        out.extend(check_annotations(meta.get("annotations"), ("metadata", "annotations")))
        if not meta.keys() <= _FAST_FIELDS:
            for key in meta:
                if key not in OBJECT_META_FIELDS:
                    out.append((format_path(("metadata", key)), f'unknown field "{key}"'))
            if self.meta_validator is not None:
                for verr in self.meta_validator.iter_errors(meta):
                    if verr.instance_path and verr.instance_path[0] in _FAST_FIELDS:
                        continue  # reported above, with better messages
                    if isinstance(verr.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
                        continue  # unknown fields reported above
                    out.append((format_path(("metadata", *verr.instance_path)), verr.message))
        return out


def label_key_error(key: str) -> str | None:
    """``qualified_name_error`` with the memo of known-good label keys."""
    if key in _GOOD_LABEL_KEYS:
        return None
    err = qualified_name_error(key)
    if err is None:
        _remember(_GOOD_LABEL_KEYS, key)
    return err


def check_labels(labels: Any, where: tuple[str, ...]) -> list[tuple[str, str]]:
    """Problems in a label map (also used for pod template labels)."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(format_path(where), "labels must be a map of strings")]
    try:
        if labels.keys() <= _GOOD_LABEL_KEYS and _GOOD_LABEL_VALUES.issuperset(labels.values()):
            return []
    except TypeError:  # unhashable value
        pass
    out: list[tuple[str, str]] = []
    for key, value in labels.items():
        if not isinstance(key, str):
            out.append((format_path(where), f"label key {key!r} must be a string"))
            continue
        if key not in _GOOD_LABEL_KEYS:
            err = qualified_name_error(key)
            if err:
                out.append((format_path((*where, key)), f"invalid label key {key!r}: {err}"))
            else:
                _remember(_GOOD_LABEL_KEYS, key)
        if not isinstance(value, str):
            out.append((format_path((*where, key)), "label value must be a string"))
        elif value not in _GOOD_LABEL_VALUES:
            err = _label_value(value)
            if err:
                out.append((format_path((*where, key)), f"invalid label value {value!r}: {err}"))
            else:
                _remember(_GOOD_LABEL_VALUES, value)
    return out


def check_annotations(annotations: Any, where: tuple[str, ...]) -> list[tuple[str, str]]:
    """Problems in an annotation map (also used for pod template annotations)."""
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [(format_path(where), "annotations must be a map of strings")]
    out: list[tuple[str, str]] = []
    total = 0
    for key, value in annotations.items():
        if not isinstance(key, str):
            out.append((format_path(where), f"annotation key {key!r} must be a string"))
            continue
        if key not in _GOOD_ANNOTATION_KEYS:
            err = qualified_name_error(key.lower())
            if err:
                out.append((format_path((*where, key)), f"invalid annotation key {key!r}: {err}"))
            else:
                _remember(_GOOD_ANNOTATION_KEYS, key)
        if not isinstance(value, str):
            out.append((format_path((*where, key)), "annotation value must be a string"))
        else:
            total += len(key.encode()) + len(value.encode())
    if total > _ANNOTATIONS_MAX_BYTES:
        out.append(
            (format_path(where), f"annotations are too long: {total} bytes, limit {_ANNOTATIONS_MAX_BYTES}")
        )
    return out
