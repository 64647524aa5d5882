"""The vendored CRDs are cached per kind (issue 17: a small compile loads only the CRDs it uses);
the cache is an optimisation only: a corrupt or missing entry falls back to the vendored YAML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshc.compiler.selfcheck import crd


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path))
    for cached in (crd._cache_names, crd._all_crds, crd._crd):
        cached.cache_clear()
    yield tmp_path
    for cached in (crd._cache_names, crd._all_crds, crd._crd):
        cached.cache_clear()


def test_each_kind_is_read_from_its_own_entry(fresh_cache: Path) -> None:
    expected = crd.crd_version_schema("networking.istio.io/v1", "VirtualService")
    assert expected is not None
    names = sorted(p.name for p in fresh_cache.iterdir())
    assert any(n.endswith("-networking.istio.io-VirtualService.json") for n in names)
    assert any(n.endswith("-index.json") for n in names)
    crd._crd.cache_clear()
    crd._all_crds.cache_clear()
    assert crd.crd_version_schema("networking.istio.io/v1", "VirtualService") == expected
    assert crd._all_crds.cache_info().currsize == 0  # the YAML was not parsed again
    assert crd.crd_version_schema("networking.istio.io/v1", "NoSuchKind") is None


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", None])
def test_a_corrupt_or_missing_entry_falls_back_to_the_yaml(fresh_cache: Path, damage: bytes | None) -> None:
    expected = crd.crd_version_schema("security.istio.io/v1", "AuthorizationPolicy")
    (entry,) = fresh_cache.glob("*-security.istio.io-AuthorizationPolicy.json")
    if damage is None:
        entry.unlink()
    else:
        entry.write_bytes(damage)
    for cached in (crd._all_crds, crd._crd):
        cached.cache_clear()
    assert crd.crd_version_schema("security.istio.io/v1", "AuthorizationPolicy") == expected
