"""Self-check of compiled manifests against the schemas a real cluster enforces.

Why: meshc must never emit a manifest that ``kubectl apply`` rejects, or that the API server
silently changes. Every compiled resource is checked offline against:

- Istio kinds: the Istio 1.30.3 CRD ``openAPIV3Schema``s, plus their ``x-kubernetes-validations``
  CEL rules (``crd.py``, ``cel.py``, ``celext.py``) and ``x-kubernetes-list-type`` unique keys
  (``listtype.py``);
- core Kubernetes kinds: kubernetes-validate's strict schemas for ``core.KUBERNETES_VERSION``
  (``core.py``), plus API-server rules the schemas cannot say (``core_rules.py``) and the keys
  its validation keeps unique (``core_unique.py``);
- ``metadata`` of every kind: name, namespace, labels and annotations syntax (``metadata.py``).

Unknown fields are errors: Kubernetes would prune them silently, but for a compiler they are bugs.

Public API::

    from meshc.compiler.selfcheck import SelfCheckError, check_resources, skipped_cel_rules
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cel import SkippedRule
    from .check import UNCHECKED_KINDS, SelfCheckError, check_resources

_LAZY = {
    "SkippedRule": "cel",
    "UNCHECKED_KINDS": "check",
    "SelfCheckError": "check",
    "check_resources": "check",
}
"""Loaded on first use (PEP 562): a module that needs only `diskcache` (the build cache, a
validation whose every object the cache vouches for) does not pay for the checkers' imports."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def skipped_cel_rules() -> list[SkippedRule]:
    """CEL rules of the vendored Istio CRDs that are *not* evaluated, with the reason.

    Compiles every served Istio kind's rules first, so the answer does not depend on which
    kinds have been checked so far.
    """
    from . import cel, crd

    for api_version, kind in crd.known_istio_kinds():
        crd.istio_checker(api_version, kind)
    return cel.skipped_rules()


__all__ = ["UNCHECKED_KINDS", "SelfCheckError", "SkippedRule", "check_resources", "skipped_cel_rules"]
