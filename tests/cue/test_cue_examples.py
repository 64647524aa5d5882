"""Every example is also written in CUE (examples/*/mesh.cue) and compiles to the same bytes."""

from __future__ import annotations

import pytest
from cue_helpers import EXAMPLES, REPO, _pin_wasm, meshc, needs_cue

from meshc.compiler.emit import dump_stream
from meshc.compiler.pipeline import run
from meshc.spec.cue.spec import TAGS_ENV, CueSourceMap
from meshc.spec.loader import load_spec

__all__ = ["_pin_wasm"]


def test_every_example_has_a_cue_twin() -> None:
    yaml_examples = sorted(p.parent.name for p in (REPO / "examples").glob("*/mesh.yaml"))
    assert yaml_examples == EXAMPLES


@needs_cue
@pytest.mark.parametrize("example", EXAMPLES)
def test_cue_twin_compiles_byte_identical(example: str) -> None:
    cue = run(REPO / "examples" / example / "mesh.cue")
    yml = run(REPO / "examples" / example / "mesh.yaml")
    assert cue.loaded is not None and yml.loaded is not None
    assert isinstance(cue.loaded.source, CueSourceMap)
    # the same data, value for value (CUE's field order may differ; the output may not)
    assert cue.loaded.data == yml.loaded.data
    assert cue.diagnostics == [] == yml.diagnostics
    assert dump_stream(cue.manifests) == dump_stream(yml.manifests)


@needs_cue
def test_shop_environment_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    prod = load_spec(REPO / "examples" / "shop" / "mesh.cue").data
    monkeypatch.setenv(TAGS_ENV, "env=staging")
    staging = load_spec(REPO / "examples" / "shop" / "mesh.cue").data

    def replicas(data: dict) -> dict[str, int]:
        return {
            s["name"]: v.get("replicas", 1)
            for s in data["spec"]["services"]
            for v in s.get("versions", [])[:1]
        }

    assert replicas(prod)["storefront"] == 3 and replicas(prod)["catalog"] == 2
    assert set(replicas(staging).values()) == {1}
    assert {k: v for k, v in prod.items() if k != "spec"} == {k: v for k, v in staging.items() if k != "spec"}


@needs_cue
def test_cli_compiles_a_cue_spec(tmp_path) -> None:
    result = meshc("compile", "examples/httpbin/mesh.cue", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == dump_stream(run(REPO / "examples" / "httpbin" / "mesh.yaml").manifests)
    result = meshc("validate", "examples/tcp-echo/mesh.cue")
    assert result.returncode == 0, result.stderr
    assert "examples/tcp-echo/mesh.cue: valid" in result.stderr
