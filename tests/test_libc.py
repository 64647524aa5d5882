"""meshc.compiler.libc: the C library found without a subprocess where it can be."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

import pytest

from meshc.compiler import libc


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libc, "_cache", [])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's name is a Linux one")
def test_glibc_is_loaded_by_name_without_running_ldconfig(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`find_library` runs `/sbin/ldconfig -p` in a subprocess: every forked worker paid it."""

    def refuse(name: str) -> str:
        raise AssertionError(f"find_library({name!r}) was called")

    monkeypatch.setattr(ctypes.util, "find_library", refuse)
    assert libc.library() is not None
    assert libc.renameat2() is not None


@pytest.mark.skipif(sys.platform != "linux", reason="the fallback is for another Linux C library")
def test_another_c_library_is_found_the_long_way(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    musl = object()

    def cdll(name: str, **_: Any) -> object:
        loaded.append(name)
        if name == "libc.so.6":
            raise OSError("no such library")  # as on Alpine
        return musl

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.musl-x86_64.so.1")
    assert libc.library() is musl
    assert loaded == ["libc.so.6", "libc.musl-x86_64.so.1"]
