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


def test_old_installs_sets_do_not_pile_up(fresh_cache: Path) -> None:
    """Each upgrade (or edit of the vendored files) keys a new set of CRD entries and a new CEL
    state: writing one removes all but the diskcache.KEEP_SETS most recently written of its
    family, the one just written always among them; other families are left alone."""
    import os

    from meshc.compiler.selfcheck import diskcache

    def plant(key: str, when: int) -> None:
        for suffix in ("index.json", "networking.istio.io-Gateway.json"):
            path = fresh_cache / f"istio-1.2{when}.0-crds-{key}-{suffix}"
            path.write_text("{}")
            os.utime(path, ns=(when * 10**9, when * 10**9))
        state = fresh_cache / f"cel-state-{key}.pickle"
        state.write_text("x")
        os.utime(state, ns=(when * 10**9, when * 10**9))

    old_keys = [f"{n:032x}" for n in range(1, 8)]
    for when, key in enumerate(old_keys, start=1):
        plant(key, when)
    (fresh_cache / "build-0123.pack").write_text("not a family member")
    assert crd.crd_version_schema("networking.istio.io/v1", "Gateway") is not None  # writes a set
    prefix, _ = crd._cache_names()
    current = prefix.rpartition("-")[2]
    crd_keys = {
        crd._FAMILY.match(p.name).group(1) for p in fresh_cache.iterdir() if crd._FAMILY.match(p.name)
    }
    assert crd_keys == {current, *old_keys[-(diskcache.KEEP_SETS - 1) :]}
    assert len(list(fresh_cache.glob(f"*-crds-{current}-*"))) > 2  # the whole current set stays
    # The CEL states are another family: untouched until one is written.
    assert len(list(fresh_cache.glob("cel-state-*.pickle"))) == len(old_keys)
    diskcache.prune(__import__("re").compile(r"cel-state-([0-9a-f]{32})\.pickle$"), old_keys[0])
    kept = sorted(p.name for p in fresh_cache.glob("cel-state-*.pickle"))
    assert kept == sorted(
        f"cel-state-{k}.pickle" for k in [old_keys[0], *old_keys[-(diskcache.KEEP_SETS - 1) :]]
    )
    assert (fresh_cache / "build-0123.pack").exists()
