"""The native walk of meshc's YAML emitter (compiler/_emitc.c); see meshc.compiler.emit."""

from collections.abc import Callable
from typing import Any

def configure(
    *,
    scalar_cache: dict[str, str],
    string: Callable[[str], str],
    scalar: Callable[[Any], str],
    key_orders: dict[tuple[Any, ...], tuple[tuple[Any, str, bool], ...]],
    key_order: Callable[[dict[Any, Any]], tuple[tuple[Any, str, bool], ...]],
    shared: dict[int, tuple[Any, dict[str, str]]],
) -> None: ...
def dump(value: dict[str, Any], /) -> str: ...
def folder_entries(path: str, racy_ns: int, /) -> tuple[list[bytes], list[str]] | None: ...
def guard_mapping(mapping: Any, message: bytes, code: int, /) -> None: ...
def reused_manifests(
    rows: list[tuple[Any, ...]],
    manifest_type: type,
    setters: tuple[Any, ...],
    body_type: type,
    set_address: Any,
    /,
) -> list[Any]: ...
