"""The renderer reproduces every kube-inject golden case of Istio 1.30.3, object for object."""

from __future__ import annotations

import hashlib
import re

import pytest

from meshc.compiler.inject import inject_object

from .golden import CASES, DATA, differences, load_all, settings_for


def test_the_case_list_is_the_vendored_directory() -> None:
    on_disk = sorted(p.name.removesuffix(".yaml") for p in DATA.glob("*.yaml"))
    assert on_disk == sorted(CASES)
    assert all((DATA / f"{case}.yaml.injected").is_file() for case in CASES)


def test_vendored_files_match_their_recorded_sha256() -> None:
    recorded = dict(
        re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", (DATA / "SOURCES.md").read_text(), re.M)
    )
    assert sorted(recorded) == sorted(p.name for p in DATA.iterdir() if p.name != "SOURCES.md")
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("case", CASES)
def test_injects_like_kube_inject(case: str) -> None:
    documents = load_all((DATA / f"{case}.yaml").read_text())
    golden = load_all((DATA / f"{case}.yaml.injected").read_text())
    ours = [inject_object(doc, settings_for(case), go_defaults=True) for doc in documents]
    assert differences(ours, golden) == []


def test_the_comparison_notices_a_changed_value() -> None:
    golden = load_all((DATA / "hello.yaml.injected").read_text())
    ours = [
        inject_object(doc, settings_for("hello"), go_defaults=True)
        for doc in load_all((DATA / "hello.yaml").read_text())
    ]
    ours[0]["spec"]["template"]["spec"]["initContainers"][1]["env"].reverse()
    assert differences(ours, golden)
    assert differences([{"a": "1"}], [{"a": 1}]) == ["[0].a: '1' != golden 1"]


def test_injection_is_deterministic_and_leaves_its_input_alone() -> None:
    text = (DATA / "proxy-override.yaml").read_text()
    doc = load_all(text)[0]
    first = inject_object(doc, settings_for("proxy-override"), go_defaults=True)
    second = inject_object(doc, settings_for("proxy-override"), go_defaults=True)
    assert first == second
    assert doc == load_all(text)[0]
