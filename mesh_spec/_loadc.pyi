"""The native check of the spec loader's fast path (mesh_spec/_loadc.c); see meshc.spec.loader."""

from typing import Any

def plain(value: Any, max_depth: int, /) -> bool: ...
