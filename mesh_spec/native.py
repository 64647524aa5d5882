"""meshc's optional C extensions (compiler/_emitc.c, mesh_spec/_loadc.c).

`pip install` builds them where a C compiler is. Everything they do has a Python version that
gives the same results (each pair is held together by tests); `MESHC_PURE_PYTHON=1` makes meshc use
the Python versions, to compare or to debug.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def extension(module: str) -> ModuleType | None:
    """The extension module `module` (its full name), or None where it is not built or
    MESHC_PURE_PYTHON asks for the Python versions."""
    if os.environ.get("MESHC_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - built wherever a C compiler was
        return None


__all__ = ["extension"]
