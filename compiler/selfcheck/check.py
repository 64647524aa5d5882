"""Dispatch each resource to the right checker and collect ``SelfCheckError``s.

Why a separate module: ``check_resources`` is the hot loop over ~100k resources. It only looks up
cached per-kind checkers and never builds anything twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import cel, core, crd
from .metadata import MetadataChecker

# Kinds accepted without a schema check (their metadata is still checked). None today: the
# prometheus-operator CRDs (PodMonitor, ServiceMonitor, PrometheusRule) are vendored and checked
# like Istio's (crd.py).
UNCHECKED_KINDS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class SelfCheckError:
    """One problem in one resource of the compiled output."""

    index: int  # index of the resource in the input sequence
    kind: str
    namespace: str | None
    name: str
    path: str  # JSON path inside the resource, e.g. "spec.http[0].route[0].weight"
    message: str


class _Checker(Protocol):
    def check(self, resource: Mapping[str, Any]) -> list[tuple[str, str]]: ...


class _MetadataOnly:
    def check(self, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
        return []


@dataclass(frozen=True)
class _Dispatch:
    checker: _Checker | None
    metadata: MetadataChecker


_DISPATCH: dict[tuple[Any, Any], _Dispatch] = {}


def _dispatch(api_version: Any, kind: Any) -> _Dispatch:
    if not (isinstance(api_version, str) and isinstance(kind, str)):
        return _Dispatch(None, MetadataChecker("", "", core.object_meta_validator()))
    key = (api_version, kind)
    found = _DISPATCH.get(key)
    if found is not None:
        return found
    checker: _Checker | None
    group = api_version.rpartition("/")[0]
    if group in crd.CRD_GROUPS:
        checker = crd.istio_checker(api_version, kind)
    elif (api_version, kind) in UNCHECKED_KINDS:
        checker = _MetadataOnly()
    else:
        checker = core.core_checker(api_version, kind)
    found = _Dispatch(checker, MetadataChecker(group, kind, core.object_meta_validator()))
    _DISPATCH[key] = found
    return found


def check_resources(resources: Sequence[Mapping[str, Any]]) -> list[SelfCheckError]:
    """Validate compiled resources; return every problem found (an empty list means all valid).

    ``resources`` are plain JSON-like dicts, as they would be serialized. Errors are in input
    order: first by resource index, then schema errors, CEL rule errors and metadata errors.
    Nothing here touches the network.
    """
    errors: list[SelfCheckError] = []
    for index, res in enumerate(resources):
        if type(res) is not dict and not isinstance(res, Mapping):
            errors.append(SelfCheckError(index, "", None, "", "", "resource is not a mapping"))
            continue
        api_version = res.get("apiVersion")
        kind = res.get("kind")
        d = _dispatch(api_version, kind)
        if d.checker is None:
            problems = [
                (
                    "kind" if isinstance(api_version, str) else "apiVersion",
                    f"no schema for apiVersion {api_version!r} kind {kind!r}",
                )
            ]
        else:
            problems = d.checker.check(res)
        problems.extend(d.metadata.check(res))
        if problems:
            meta = res.get("metadata")
            meta = meta if isinstance(meta, Mapping) else {}
            ns = meta.get("namespace")
            name = meta.get("name")
            for path, message in problems:
                errors.append(
                    SelfCheckError(
                        index,
                        kind if isinstance(kind, str) else "",
                        ns if isinstance(ns, str) else None,
                        name if isinstance(name, str) else "",
                        path,
                        message,
                    )
                )
    cel.save_state()
    return errors
