"""Formatting of JSON paths in error reports (``spec.http[0].route[0].weight``).

Map keys that are not plain identifiers are quoted, so that a label key such as
``app.kubernetes.io/name`` cannot be read as nested fields:
``metadata.labels["app.kubernetes.io/name"]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from meshc.spec.source import PathItem

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(items: Iterable[PathItem]) -> str:
    out: list[str] = []
    for item in items:
        if isinstance(item, int):
            out.append(f"[{item}]")
        elif _IDENT.fullmatch(item):
            out.append(f".{item}" if out else item)
        else:
            out.append(f"[{json.dumps(item)}]")
    return "".join(out)
