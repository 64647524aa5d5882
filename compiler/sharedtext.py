"""Subtrees that many manifests share, rendered to YAML once.

Manual injection puts the same sidecar pieces (the init container, the proxy's probes, volumes,
most of its environment) into thousands of Deployments: the very same objects, not copies. The
emitter renders a registered object once per indentation and reuses the text. The registry keeps a
reference to each object, so an id here always names the object it was registered for; dropping
the registry is always safe (it is only a cache).
"""

from __future__ import annotations

from typing import Any

SHARED: dict[int, tuple[Any, dict[str, str]]] = {}
"""id -> (the object, its text per first-line prefix)."""
_LIMIT = 50_000


def share(value: Any) -> Any:
    """Register `value` (a dict or list nobody modifies any more) and return it."""
    if len(SHARED) >= _LIMIT:
        SHARED.clear()
    SHARED.setdefault(id(value), (value, {}))
    return value
