"""Shared subtrees are rendered once and reused: the text is the same as rendering them afresh."""

from __future__ import annotations

import yaml

from meshc.compiler import sharedtext
from meshc.compiler.emit import dump
from meshc.compiler.inject import inject_object

from .golden import DATA, TEST_SETTINGS, load_all


def test_cached_subtrees_render_exactly_like_fresh_ones() -> None:
    docs = [
        inject_object(d, TEST_SETTINGS, go_defaults=True)
        for d in load_all((DATA / "hello-multi.yaml").read_text())
    ]
    # The same shared pieces at another depth and position: a list item and a nested mapping.
    shared_init = docs[0]["spec"]["template"]["spec"]["initContainers"][0]
    volumes = docs[0]["spec"]["template"]["spec"]["volumes"]
    assert id(shared_init) in sharedtext.SHARED and id(volumes) in sharedtext.SHARED
    elsewhere = {"deeper": {"still": [shared_init, {"volumes": volumes}]}, "top": volumes}
    with_cache = [dump(d) for d in (*docs, elsewhere)] + [dump(d) for d in (*docs, elsewhere)]
    saved = dict(sharedtext.SHARED)
    sharedtext.SHARED.clear()
    try:
        fresh = [dump(d) for d in (*docs, elsewhere)] * 2
    finally:
        sharedtext.SHARED.update(saved)
    assert with_cache == fresh
    assert yaml.safe_load(with_cache[-1]) == elsewhere


def test_two_versions_share_the_sidecar_but_not_their_names() -> None:
    first, second = (
        inject_object(d, TEST_SETTINGS, go_defaults=True)
        for d in load_all((DATA / "hello-multi.yaml").read_text())
    )
    a = first["spec"]["template"]["spec"]["initContainers"]
    b = second["spec"]["template"]["spec"]["initContainers"]
    assert a[0] is b[0]  # istio-init: one object
    assert a[1] is not b[1] and a[1]["env"] != b[1]["env"]  # istio-proxy: its own environment
    assert a[1]["readinessProbe"] is b[1]["readinessProbe"]
