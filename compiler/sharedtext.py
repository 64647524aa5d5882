"""Subtrees that many manifests share, rendered to YAML once.

Manual injection puts the same sidecar pieces (the init container, the proxy's probes, volumes,
most of its environment) into thousands of Deployments: the very same objects, not copies. The
emitter renders a registered object once per indentation and reuses the text. The registry keeps a
reference to each object, so an id here always names the object it was registered for; dropping
the registry is always safe (it is only a cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Renderer = Callable[[Any, str, str], str | None]
"""(value, indent, first-line prefix) -> the value's text, exactly as the emitter would write it,
or None to leave it to the emitter."""

SHARED: dict[int, tuple[Any, dict[str, str], Renderer | None]] = {}
"""id -> (the object, its text per first-line prefix, a faster renderer for it or None)."""
_LIMIT = 50_000


def share(value: Any, render: Renderer | None = None) -> Any:
    """Register `value` (a dict or list nobody modifies any more) and return it. `render`: a
    renderer specialised for the value's shape (big uniform lists), tested against the emitter."""
    if len(SHARED) >= _LIMIT:
        SHARED.clear()
    SHARED.setdefault(id(value), (value, {}, render))
    return value
